"""The server's front door: Host check, API-key check, metrics and one log line per request.

A plain ASGI middleware (not ``BaseHTTPMiddleware``) so it rejects a request before
its body is read and leaves the disconnect signal the batcher listens for intact.

- **Host**: requests must name an allowed host (default for a loopback bind:
  ``127.0.0.1``, ``localhost``, ``[::1]``, any port), which stops a web page from
  reaching a local server through DNS rebinding. Starlette's ``TrustedHostMiddleware``
  does the same but answers in plain text; every error here is OpenAI-shaped JSON.
- **API key**: with keys set, every path but ``/health`` needs
  ``Authorization: Bearer KEY`` (what the openai client sends), compared in constant
  time (:func:`hmac.compare_digest`); otherwise 401.
- **Body size**: a ``Content-Length`` over the limit is a 413 before any byte is read;
  a body without one is counted as it arrives and stops with a 413 at the limit.
  (FastAPI's own ``max_body_size`` answers the first case in plain text.)
- **Metrics** (Prometheus text on ``/metrics``): requests by path and status, latency,
  queue depth, requests being generated, batch sizes, decoded image bytes in flight, and
  a guard's decisions (rewrite, unchanged, refuse, original).
- **Logs**: one JSON line per request on the ``safevlm.serve.requests`` logger: id,
  path, status, latency, and what the handler adds (tokens, image count and sizes,
  batch size, queue wait, the guard's decision and failure reason, error); never the
  prompt text, the guard's report or image bytes.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_log = logging.getLogger("safevlm.serve.requests")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
OPEN_PATHS = frozenset({"/health"})
PATHS = frozenset({"/v1/chat/completions", "/v1/models", "/health", "/metrics"})  # metric labels; others: "other"


def error_response(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """Errors in the OpenAI shape, so clients (the openai SDK included) show the message."""
    return JSONResponse(status_code=status, headers=headers,
                        content={"error": {"message": message, "type": kind, "param": None, "code": code}})


def too_large(limit: int) -> JSONResponse:
    return error_response(413, f"request body larger than {limit:,} bytes", code="request_too_large")


class Metrics:
    """The server's Prometheus metrics, in a registry of its own (several apps may share a process)."""

    def __init__(self, depth: Callable[[], int], running: Callable[[], int],
                 image_bytes: Callable[[], int] | None = None):
        self.registry = CollectorRegistry()
        self.requests = Counter("safevlm_requests", "HTTP requests by path and status code", ["path", "code"],
                                registry=self.registry)
        self.latency = Histogram("safevlm_request_latency_seconds", "Request latency", ["path"],
                                 buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
                                 registry=self.registry)
        self.batch = Histogram("safevlm_batch_size", "Requests per generate call", buckets=(1, 2, 4, 8, 16, 32, 64),
                               registry=self.registry)
        self.tokens = Counter("safevlm_completion_tokens", "Tokens generated", registry=self.registry)
        Gauge("safevlm_queue_depth", "Requests waiting for a batch", registry=self.registry).set_function(depth)
        Gauge("safevlm_requests_generating", "Requests in the batch being generated",
              registry=self.registry).set_function(running)
        self.guard = Counter("safevlm_guard_decisions", "What a guard in front of the model did with each request: "
                             "rewrite, unchanged, refuse (fail closed) or original (fail open)", ["action"],
                             registry=self.registry)
        if image_bytes is not None:
            Gauge("safevlm_image_bytes_in_flight", "Decoded image bytes reserved by requests in flight",
                  registry=self.registry).set_function(image_bytes)


def _host_allowed(host: str, allowed: Sequence[str]) -> bool:
    if "*" in allowed:
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host  # drop the port; keep "[::1]"
    return name.lower() in allowed or host.lower() in allowed


class Gate:
    """ASGI middleware: see the module docstring. ``api_keys`` empty: no authentication."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, api_keys: Sequence[str] = (),
                 allowed_hosts: Sequence[str] = ("*",), metrics: Metrics | None = None):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.api_keys = [k.encode() for k in api_keys if k]
        self.allowed_hosts = [h.lower() for h in allowed_hosts]
        self.metrics = metrics

    def _authorised(self, headers: Headers) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        given = token.strip().encode() if scheme.lower() == "bearer" else b""
        ok = False
        for key in self.api_keys:  # every key compared, in constant time
            ok |= hmac.compare_digest(given, key)
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        headers = Headers(scope=scope)
        state = scope.setdefault("state", {})
        state["request_id"] = rid = uuid.uuid4().hex[:16]
        status = {"code": 500}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        size = {"read": 0}

        async def receive_counted() -> Message:
            message = await receive()
            size["read"] += len(message.get("body", b""))
            if size["read"] > self.max_body_bytes:
                raise HTTPException(413)  # answered by the app's handler, in the OpenAI shape
            return message

        length = headers.get("content-length", "")
        try:
            if not _host_allowed(headers.get("host", ""), self.allowed_hosts):
                await error_response(400, f"host {headers.get('host', '')!r} is not served here (allowed: "
                                          f"{', '.join(self.allowed_hosts)}; see --allow-host)",
                                     code="invalid_host")(scope, receive, send_status)
            elif self.api_keys and path not in OPEN_PATHS and not self._authorised(headers):
                await error_response(401, "missing or wrong API key: send 'Authorization: Bearer <key>'",
                                     code="invalid_api_key",
                                     headers={"WWW-Authenticate": "Bearer"})(scope, receive, send_status)
            elif length.isdigit() and int(length) > self.max_body_bytes:
                await too_large(self.max_body_bytes)(scope, receive, send_status)
            else:
                await self.app(scope, receive_counted, send_status)
        finally:
            self._record(scope, path, status["code"], time.perf_counter() - started, state)

    def _record(self, scope: Scope, path: str, code: int, latency: float, state: dict[str, Any]) -> None:
        label = path if path in PATHS else "other"
        if self.metrics is not None:
            self.metrics.requests.labels(label, str(code)).inc()
            self.metrics.latency.labels(label).observe(latency)
        if path in OPEN_PATHS or path == "/metrics":
            return
        line = {"event": "request", "id": state["request_id"], "method": scope.get("method"), "path": path,
                "status": code, "latency_s": round(latency, 4), **state.get("log", {})}
        if "error" in state:
            line["error"] = state["error"]
        request_log.info(json.dumps(line, default=str))
