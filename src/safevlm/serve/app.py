"""An OpenAI-compatible Chat Completions endpoint in front of any backend.

``POST /v1/chat/completions`` turns the request into one :class:`Sample` (checked
against :class:`~safevlm.serve.limits.ServeLimits`), queues it for the
:class:`~safevlm.serve.batching.Batcher`, which runs it through the backend together
with other waiting requests, and answers in the OpenAI
format with token usage. ``GET /v1/models`` lists the one served model, ``GET
/health`` says the process is up (no key needed), ``GET /metrics`` gives Prometheus
text. The front door (Host and API-key checks, metrics, request logs) is
:mod:`safevlm.serve.gate`.

A guarded model (VLMGuard-R1) is just a backend, ``guard:REWRITER>TARGET``
(:mod:`safevlm.backends.defences`), so a client sees it as a model. What the guard did
(rewrite, unchanged, refuse, fail-open) goes into the request log and ``/metrics``; a
backend's ``Generation.extra`` (the guard's report and rewrite) comes back to the client
in the response's ``safevlm`` field only when the server opts in (``expose_extra``,
``--expose-guard-report``): the report tells an attacker how the guard read their
request, an oracle for adaptive attacks.

Images in flight across all requests are held under ``ServeLimits.image_budget_bytes``
(:class:`~safevlm.serve.limits.ImageBudget`): a request waits its turn for decoding,
and gets a 503 with ``Retry-After`` when it cannot start within ``image_wait_s``.

Every error is JSON in the OpenAI shape, never a plain-text 500: 400 (bad request,
limits, fields this server cannot honour), 401 (key), 404, 413 (body), 429 (queue full,
with ``Retry-After``), 502 (the model failed), 503 (image budget, with ``Retry-After``),
504 (deadline), 500 (a bug, logged with its traceback). A 504 carries
``x-should-retry: false``: the official OpenAI client retries 5xx answers twice by
default (a slow request would run three times) and obeys that header.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from safevlm.backends.base import Backend, Generation
from safevlm.serve.batching import Batcher, Job, QueueFull, timeout_error
from safevlm.serve.gate import Gate, Metrics, error_response, too_large
from safevlm.serve.limits import (
    APIError,
    ChatRequest,
    ImageBudget,
    ServeLimits,
    apply_stop,
    prepare_request,
    request_params,
    stop_sequences,
)

log = logging.getLogger(__name__)

#: seconds a client is told to wait (``Retry-After``) when the queue or the image budget is full
RETRY_AFTER_S = "1"


async def _client_gone(request: Request) -> None:
    """Returns when the client disconnects (the body has been read, so the next message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _outcome(job: Job, request: Request) -> Generation | None:
    """The job's generation; None when the client left; 504 when the deadline passed first."""
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({job.future, gone}, timeout=max(job.deadline - time.monotonic(), 0),
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if job.future.done():
        return job.future.result()  # raises what the batch raised (an APIError: the context check)
    job.gone = True
    if gone.done() and not gone.cancelled():
        return None
    raise timeout_error()


def create_app(backend: Backend, *, model_name: str = "safevlm",
               limits: ServeLimits | None = None, api_keys: Sequence[str] = (),
               allowed_hosts: Sequence[str] = ("*",), default_max_tokens: int | None = None,
               expose_extra: bool = False) -> FastAPI:
    """The ASGI app serving ``backend`` as model ``model_name``.

    Args:
        limits: request limits and batching settings (default :class:`ServeLimits`).
        api_keys: accepted ``Authorization: Bearer`` keys; empty: no authentication.
        allowed_hosts: accepted ``Host`` header names (``"*"``: any).
        default_max_tokens: shorthand for ``limits.default_max_tokens``.
        expose_extra: return what a composite backend adds (the guard's report and rewrite) in
            the response's ``safevlm`` field; off by default (module docstring).
    """
    limits = limits or ServeLimits()
    if default_max_tokens is not None:
        limits = replace(limits, default_max_tokens=default_max_tokens,
                         max_tokens=max(limits.max_tokens, default_max_tokens))
    batcher = Batcher(backend, max_batch=limits.max_batch, batch_wait_s=limits.batch_wait_s,
                      max_queue=limits.max_queue, on_batch=lambda n: metrics.batch.observe(n))
    budget = ImageBudget(limits.image_budget_bytes)
    metrics = Metrics(depth=lambda: batcher.depth, running=lambda: batcher.running, image_bytes=lambda: budget.used)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        await batcher.close()

    app = FastAPI(title="safevlm", description=f"OpenAI-compatible endpoint serving {backend.name}",
                  lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.batcher, app.state.limits = batcher, limits
    created = int(time.time())

    def answer(request: Request, status: int, message: str, kind: str = "invalid_request_error",
               code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
        request.state.error = message[:200]  # for the request's log line
        return error_response(status, message, kind, code, headers)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return answer(request, exc.status, exc.message, exc.kind, exc.code, exc.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 413:
            request.state.error = "body too large"
            return too_large(limits.max_body_bytes)
        return answer(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        return answer(request, 400, f"invalid request: {problems}")

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("request %s failed", getattr(request.state, "request_id", "?"), exc_info=exc)
        return answer(request, 500, f"internal server error ({type(exc).__name__}); see the server log",
                      "server_error")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": created,
                                            "owned_by": "safevlm"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(req: ChatRequest, request: Request) -> Any:
        info: dict[str, Any] = {}
        request.state.log = info
        if req.model and req.model != model_name:
            raise APIError(404, f"model {req.model!r} is not served here; this server serves {model_name!r}",
                           code="model_not_found")
        params = request_params(req, limits)
        stops = stop_sequences(req)
        held = 0
        try:
            with batcher.arrival():
                prepared = await run_in_threadpool(prepare_request, req, limits)
                kept = prepared.held_bytes(limits.max_image_side)
                need = max(prepared.decoding_bytes, kept)  # decoding, then holding what the model processes
                if not await budget.acquire(need, min(limits.image_wait_s, limits.timeout_s)):
                    prepared.close()
                    raise APIError(503, f"the server is busy decoding images ({budget.used / 2**20:.0f} MiB of "
                                        f"{budget.capacity / 2**20:.0f} MiB in flight); retry shortly",
                                   kind="server_busy", code="image_budget", headers={"Retry-After": RETRY_AFTER_S})
                held = need
                info.update(images=len(prepared.opened), max_tokens=params.max_new_tokens,
                            image_sizes=[f"{im.width}x{im.height}" for im in prepared.opened])
                sample = await run_in_threadpool(prepared.decode, limits)
                held = await budget.shrink(need, kept)
                try:
                    job = batcher.submit(sample, params, limits.timeout_s)
                except QueueFull:
                    raise APIError(429, f"the server is busy ({limits.max_queue} requests waiting); retry shortly",
                                   kind="rate_limit_error", code="queue_full",
                                   headers={"Retry-After": RETRY_AFTER_S}) from None
            try:
                gen = await _outcome(job, request)
            finally:
                if job.started is not None:
                    info.update(queue_s=round(job.started - job.enqueued, 4), batch=job.batch_size)
        finally:
            await budget.release(held)
        if gen is None:
            return answer(request, 499, "client disconnected", code="client_closed")
        info.update(prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens)
        guard = gen.extra.get("guard")
        if isinstance(guard, dict):  # what the guard did, for the operator (never the report or the text)
            info["guard"] = guard.get("action")
            if guard.get("fallback_reason"):
                info["guard_reason"] = str(guard["fallback_reason"])[:200]
            metrics.guard.labels(str(guard.get("action"))).inc()
        if gen.error is not None:
            return answer(request, 502, f"the model failed: {gen.error}", "backend_error")
        metrics.tokens.inc(gen.completion_tokens)
        text, stopped = apply_stop(gen.text, stops)
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop" if stopped else gen.finish_reason}],
            "usage": {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
                      "total_tokens": gen.prompt_tokens + gen.completion_tokens},
        }
        if gen.extra and expose_extra:
            body["safevlm"] = gen.extra
        return body

    app.add_middleware(Gate, max_body_bytes=limits.max_body_bytes, api_keys=list(api_keys), allowed_hosts=list(allowed_hosts), metrics=metrics)
    return app
