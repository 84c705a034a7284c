"""OpenAI-compatible HTTP backend (vLLM, SGLang, hosted APIs, ``safevlm serve``).

Uses the official ``openai`` client (``AsyncOpenAI``) rather than hand-written HTTP:
its retry policy is what we want (exponential backoff with jitter, 0.5 s doubling,
on timeouts, connection errors, 408/409/429 and 5xx; never on other 4xx), and it
honours ``Retry-After``. On top of it this module adds:

- a pool of exactly ``concurrency`` workers, each taking the next sample as soon as
  its request ends, so ``concurrency`` requests stay in flight until the queue is
  empty (a slow request holds one slot, never a whole wave), and no benchmark opens
  a thousand connections; :meth:`OpenAIBackend.generate_stream` runs the pool in a
  background thread and hands results over as they finish, so the caller can judge
  and store them while the pool keeps going;
- images as base64 PNG data URLs, image blocks before the text (same layout as the
  HF backend, :func:`safevlm.backends.base.sample_messages`);
- errors as data: a request that still fails after its retries, a 400, or a
  malformed reply gives a :class:`Generation` with ``error`` set ("HTTP 400: <server
  message>"), never an empty string posing as a response. 401/403/404 mean the
  backend is misconfigured (key, URL, model name), so they raise
  :class:`BackendError` and stop the run instead of failing every sample;
- a preflight (:meth:`OpenAIBackend.preflight`): one ``GET /models`` before a run, so a
  server that is not there (a wrong port), a rejected key or a model name the server
  does not serve stops the run in a second with one clear line, instead of every
  request failing after its retries.
"""

from __future__ import annotations

import asyncio
import base64
import difflib
import io
import os
import queue
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
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
        timeout_s: per-request timeout (each attempt); None: :func:`safevlm.config.remote_defaults`.
        max_retries: retries after the first attempt (timeouts, 429, 5xx only); None: the same.
        max_image_side: downscale images before encoding (None: as given).
    """

    thread_safe = True

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, concurrency: int = 8,
                 timeout_s: float | None = None, max_retries: int | None = None, max_image_side: int | None = None,
                 name: str | None = None):
        from safevlm.config import remote_defaults

        default_timeout, default_retries = remote_defaults()
        timeout_s = default_timeout if timeout_s is None else float(timeout_s)
        max_retries = default_retries if max_retries is None else int(max_retries)
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

    def preflight(self, timeout_s: float = 10.0) -> None:
        """``GET {base_url}/models``: the server answers, accepts the key and serves :attr:`model`, or
        :class:`BackendError` says which of these failed.

        Each attempt waits at most ``timeout_s`` (or the backend's shorter request timeout,
        ``--request-timeout``) and a timeout, a refused connection, 429 or 5xx is retried as a
        request is (``--retries``), so a server still starting gets the same patience as the run.
        A server without the endpoint (404/405: some proxies) is let through; the first
        request then tells.
        """
        import openai

        where = f"{self.base_url}/models"
        wait = min(timeout_s, self.timeout_s)
        attempts = f" ({self.max_retries + 1} attempts)" if self.max_retries else ""
        try:
            with openai.OpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=self.max_retries,
                               timeout=wait) as client:
                served = [m.id for m in client.models.list().data]
        except openai.APITimeoutError:
            raise BackendError(f"{where}: no answer within {wait:g} s{attempts}; is the server up (and not still "
                               "loading the model)?") from None
        except openai.APIConnectionError as exc:
            raise BackendError(f"{where}: cannot reach the server{attempts} ({exc.__cause__ or exc}); is it running, "
                               "and are the host and port right?") from None
        except openai.APIStatusError as exc:
            if exc.status_code in (404, 405):
                return
            hint = " (check OPENAI_API_KEY)" if exc.status_code in (401, 403) else ""
            raise BackendError(f"{where}: HTTP {exc.status_code}: {_server_message(exc)}{hint}") from None
        except (openai.APIResponseValidationError, ValueError, TypeError, AttributeError) as exc:
            raise BackendError(f"{where}: not an OpenAI-compatible model list ({exc}); is the base URL right "
                               "(it usually ends in /v1)?") from None
        if served and self.model not in served:
            close = difflib.get_close_matches(self.model, served, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            shown = ", ".join(served[:10]) + (f" and {len(served) - 10} more" if len(served) > 10 else "")
            raise BackendError(f"{self.base_url} does not serve a model named {self.model!r}{hint}; it serves "
                               f"{shown}. Use openai:{self.base_url}#NAME")

    async def agenerate(self, samples: Sequence[Sample], params: GenerationParams | None = None,
                        progress: ProgressFn | None = None) -> list[Generation]:
        """Async :meth:`generate`: every sample through the pool, ``concurrency`` in flight."""
        out: list[Generation | None] = [None] * len(samples)

        def done(i: int, gen: Generation) -> None:
            out[i] = gen
            if progress:
                progress(1)

        await self._pool(samples, params or GenerationParams(), done)
        return out  # type: ignore[return-value]  # the pool fills every slot or raises

    async def _pool(self, samples: Sequence[Sample], params: GenerationParams,
                    done: Callable[[int, Generation], None], stop: threading.Event | None = None) -> None:
        """``concurrency`` workers share one queue of indices: each takes the next as its request ends.

        A :class:`BackendError` (401/403/404) in one worker cancels the others and is raised.
        """
        from openai import AsyncOpenAI

        todo = iter(range(len(samples)))  # shared: one event loop, so each index is taken exactly once
        async with AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, timeout=self.timeout_s,
                               max_retries=self.max_retries) as client:
            async def worker() -> None:
                for i in todo:
                    if stop is not None and stop.is_set():
                        return
                    done(i, await self._request(client, samples[i], params))

            try:
                async with asyncio.TaskGroup() as tasks:
                    for _ in range(min(self.concurrency, len(samples))):
                        tasks.create_task(worker())
            except BaseExceptionGroup as group:  # re-raise the first cause, not the group
                raise group.exceptions[0] from None

    def generate_stream(self, samples: Sequence[Sample], params: GenerationParams | None = None, *,
                        chunk: int = 8, progress: ProgressFn | None = None
                        ) -> Iterator[list[tuple[int, Generation]]]:
        """Results as they finish, ``chunk`` at a time, from one pool over every sample.

        The pool runs in a background thread, so it stays full while the caller judges
        and stores a chunk. Closing the iterator early (an error in the caller, Ctrl-C)
        stops the pool: no new request starts and those in flight are cancelled.
        """
        params = params or GenerationParams()
        results: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()
        running: dict[str, Any] = {}
        end = object()

        async def main() -> None:
            running["loop"], running["task"] = asyncio.get_running_loop(), asyncio.current_task()
            await self._pool(samples, params, lambda i, g: results.put((i, g)), stop)

        def run() -> None:
            try:
                asyncio.run(main())
                results.put(end)
            except asyncio.CancelledError:
                results.put(end)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                results.put(exc)

        thread = threading.Thread(target=run, name="openai-pool", daemon=True)
        thread.start()
        try:
            buffer: list[tuple[int, Generation]] = []
            while (got := results.get()) is not end:
                if isinstance(got, BaseException):
                    raise got
                buffer.append(got)
                if progress:
                    progress(1)
                if len(buffer) >= chunk:
                    yield buffer
                    buffer = []
            if buffer:
                yield buffer
        finally:
            stop.set()
            if thread.is_alive() and "loop" in running:
                try:
                    running["loop"].call_soon_threadsafe(running["task"].cancel)
                except RuntimeError:  # the loop closed meanwhile: nothing left to cancel
                    pass
            thread.join()

    async def _request(self, client: Any, sample: Sample, params: GenerationParams) -> Generation:
        import openai

        t0 = time.perf_counter()
        try:  # decoding and PNG-encoding images is CPU work: off the event loop, so other requests go on
            messages = (await asyncio.to_thread(openai_messages, sample, self.max_image_side) if sample.images
                        else openai_messages(sample, self.max_image_side))
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
