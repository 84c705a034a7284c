"""OpenAI-compatible HTTP backend (vLLM, SGLang, hosted APIs, ``safevlm serve``).

Uses the official ``openai`` client (``AsyncOpenAI``) rather than hand-written HTTP:
its retry policy is what we want (exponential backoff with jitter, 0.5 s doubling,
on timeouts, connection errors, 408/409/429 and 5xx; never on other 4xx), and it
honours ``Retry-After``. On top of it this module adds:

- a concurrency limit (``asyncio.Semaphore``) so a benchmark does not open a
  thousand connections;
- images as base64 PNG data URLs, image blocks before the text (same layout as the
  HF backend, :func:`safevlm.backends.base.sample_messages`);
- errors as data: a request that still fails after its retries, a 400, or a
  malformed reply gives a :class:`Generation` with ``error`` set ("HTTP 400: <server
  message>"), never an empty string posing as a response. 401/403/404 mean the
  backend is misconfigured (key, URL, model name), so they raise
  :class:`BackendError` and stop the run instead of failing every sample.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from PIL import Image

from safevlm.backends.base import (
    Backend,
    BackendError,
    Generation,
    GenerationParams,
    ProgressFn,
    sample_messages,
)
from safevlm.data.sample import Sample
from safevlm.errors import DataError

T = TypeVar("T")
FATAL_STATUS = (401, 403, 404)


def image_data_url(image: Image.Image, max_side: int | None = None) -> str:
    """``data:image/png;base64,...`` for a PIL image (optionally downscaled first)."""
    if max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def openai_messages(sample: Sample, max_image_side: int | None = None) -> list[dict[str, Any]]:
    """Chat Completions messages in the shared layout (:func:`~safevlm.backends.base.sample_messages`),
    images as data URLs and a system turn as plain text."""
    messages = []
    for m in sample_messages(sample):
        if m["role"] == "system":
            messages.append({"role": "system", "content": m["content"][0]["text"]})
            continue
        content = [{"type": "image_url", "image_url": {"url": image_data_url(part["image"], max_image_side)}}
                   if part["type"] == "image" else part for part in m["content"]]
        messages.append({"role": m["role"], "content": content})
    return messages


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, also when the caller already runs an event loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else err
        if msg:
            return str(msg)
    response = getattr(exc, "response", None)
    text = getattr(response, "text", "") if response is not None else ""
    return (text or str(exc))[:500]


class OpenAIBackend(Backend):
    """Chat Completions against ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``).

    Args:
        base_url: the server's API root (``.../v1``).
        model: the model name the server expects.
        api_key: default ``$OPENAI_API_KEY``; local servers accept any value.
        concurrency: requests in flight at once.
        timeout_s: per-request timeout (each attempt).
        max_retries: retries after the first attempt (timeouts, 429, 5xx only).
        max_image_side: downscale images before encoding (None: as given).
    """

    thread_safe = True

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, concurrency: int = 8,
                 timeout_s: float = 120.0, max_retries: int = 3, max_image_side: int | None = None,
                 name: str | None = None):
        if not base_url.startswith(("http://", "https://")):
            raise BackendError(f"openai backend: base URL must start with http:// or https://, got {base_url!r}")
        if not model:
            raise BackendError("openai backend: no model name (use openai:URL#MODEL)")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.base_url, self.model = base_url.rstrip("/"), model
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "none"
        self.concurrency, self.timeout_s, self.max_retries = concurrency, timeout_s, max_retries
        self.max_image_side = max_image_side
        self.name = name or f"openai:{self.base_url}#{model}"

    def generate(self, samples: Sequence[Sample], params: GenerationParams | None = None,
                 progress: ProgressFn | None = None) -> list[Generation]:
        return run_sync(self.agenerate(samples, params, progress))

    async def agenerate(self, samples: Sequence[Sample], params: GenerationParams | None = None,
                        progress: ProgressFn | None = None) -> list[Generation]:
        """Async :meth:`generate`: all samples concurrently, at most ``concurrency`` in flight."""
        from openai import AsyncOpenAI

        params = params or GenerationParams()
        limit = asyncio.Semaphore(self.concurrency)
        async with AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, timeout=self.timeout_s,
                               max_retries=self.max_retries) as client:
            async def one(sample: Sample) -> Generation:
                async with limit:
                    gen = await self._request(client, sample, params)
                if progress:
                    progress(1)
                return gen

            return list(await asyncio.gather(*(one(s) for s in samples)))

    async def _request(self, client: Any, sample: Sample, params: GenerationParams) -> Generation:
        import openai

        t0 = time.perf_counter()
        try:
            messages = openai_messages(sample, self.max_image_side)
        except DataError as exc:
            return Generation.failed(str(exc))
        extra: dict[str, Any] = {} if params.seed is None else {"seed": params.seed}
        attempts = f"{1 + self.max_retries} attempt(s)"
        try:
            resp = await client.chat.completions.create(model=self.model, messages=messages,
                                                        max_tokens=params.max_new_tokens,
                                                        temperature=params.temperature, top_p=params.top_p, **extra)
        except openai.APITimeoutError:
            return Generation.failed(f"{self.base_url}: timed out after {self.timeout_s:g} s ({attempts})",
                                     time.perf_counter() - t0)
        except openai.APIConnectionError as exc:
            return Generation.failed(f"{self.base_url}: connection failed after {attempts}: {exc.__cause__ or exc}",
                                     time.perf_counter() - t0)
        except openai.APIStatusError as exc:
            msg = f"{self.base_url}: HTTP {exc.status_code}: {_server_message(exc)}"
            if exc.status_code in FATAL_STATUS:
                raise BackendError(msg + " (check the URL, the model name and OPENAI_API_KEY)") from exc
            if exc.status_code >= 500 or exc.status_code == 429:
                msg += f" (after {attempts})"
            return Generation.failed(msg, time.perf_counter() - t0)
        except (openai.APIResponseValidationError, ValueError) as exc:  # body is not the JSON we expect
            return Generation.failed(f"{self.base_url}: malformed response: {exc}", time.perf_counter() - t0)
        return self._parse(resp, time.perf_counter() - t0)

    def _parse(self, resp: Any, latency: float) -> Generation:
        """Check the parts of the reply we use; anything missing is a malformed response, not a crash."""
        if isinstance(resp, (str, bytes)):  # the client hands back non-JSON bodies as text
            return Generation.failed(f"{self.base_url}: malformed response (not JSON): {resp[:300]!r}", latency)
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list) or not choices or getattr(choices[0], "message", None) is None:
            return Generation.failed(f"{self.base_url}: malformed response (no choices[0].message): "
                                     f"{str(resp)[:300]}", latency)
        text = choices[0].message.content
        if not isinstance(text, str):
            return Generation.failed(f"{self.base_url}: malformed response (message.content is "
                                     f"{type(text).__name__}, not text)", latency)
        usage = getattr(resp, "usage", None)
        return Generation(text=text.strip(), prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                          completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0), latency_s=latency,
                          finish_reason="length" if choices[0].finish_reason == "length" else "stop")
