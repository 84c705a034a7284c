"""``safevlm serve`` under hostile or careless use: auth, limits, errors, cancellation, batching, metrics, logs.

Every case runs over real HTTP (uvicorn on a loopback port). Backends are mocks or
small stand-ins whose timing the test controls; the real HF stopping path is tested
on a tiny random-weight model.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from safevlm import Sample
from safevlm.backends import Backend, Generation, GenerationParams, load_backend
from safevlm.backends.hf import HFBackend
from safevlm.backends.mock import MockBackend
from safevlm.models import build_tiny_vlm
from safevlm.serve import ServeLimits, ServerThread, create_app
from safevlm.serve.limits import APIError

KEY = "s3cret-key"


def _data_url(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


def _png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` and holds no pixels: what a header check must catch."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IEND", b"")


def _body(text: str = "hello", **kw) -> dict:
    return {"messages": [{"role": "user", "content": text}], **kw}


def _image_body(url: str) -> dict:
    return {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                                      {"type": "text", "text": "what is it"}]}]}


class Slow(Backend):
    """Texts starting with "slow" generate until stopped (at most 20 s); others answer at once.

    Records when each slow generation ended and whether ``should_stop`` ended it.
    """

    name = "slow"

    def __init__(self):
        self.ended: list[tuple[float, bool]] = []
        self.started = threading.Event()

    def generate(self, samples, params=None, progress=None):
        return self.generate_interruptible(samples, params, lambda: False)

    def generate_interruptible(self, samples, params, should_stop):
        if any(s.text.startswith("slow") for s in samples):
            self.started.set()
            t0 = time.monotonic()
            while not should_stop() and time.monotonic() - t0 < 20:
                time.sleep(0.005)
            self.ended.append((time.monotonic(), should_stop()))
        return [Generation(text=s.text, prompt_tokens=1, completion_tokens=1) for s in samples]


@pytest.fixture(scope="module")
def locked():
    """An echo server that requires KEY."""
    app = create_app(MockBackend("echo"), model_name="echo", api_keys=[KEY],
                     allowed_hosts=["127.0.0.1", "localhost"],
                     limits=ServeLimits(max_body_bytes=200_000, max_image_pixels=1_000_000, max_tokens=64,
                                        default_max_tokens=16))
    with (ServerThread(app) as srv,
          httpx.Client(base_url=srv.base_url, timeout=10, headers={"Authorization": f"Bearer {KEY}"}) as client):
        yield srv, client


def test_api_key_required_everywhere_but_health(locked):
    srv, client = locked
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        r = httpx.post(srv.base_url + "/chat/completions", json=_body(), headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"]["code"] == "invalid_api_key" and r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(srv.base_url + "/models").status_code == 401
    assert httpx.get(srv.url + "/metrics").status_code == 401
    assert httpx.get(srv.url + "/health").json() == {"status": "ok"}
    assert client.post("/chat/completions", json=_body("hi there")).json()["choices"][0]["message"]["content"] == \
        "hi there"
    # the openai client (what `safevlm eval --model openai:...` uses) sends the key as a bearer token
    g = load_backend(f"openai:{srv.base_url}#echo", api_key=KEY).generate(
        [Sample(id="1", source="t", text="ping", expected="comply")], GenerationParams(max_new_tokens=16))[0]
    assert g.error is None and g.text == "ping"


def test_foreign_host_header_is_refused(locked):
    _, client = locked
    r = client.post("/chat/completions", json=_body(), headers={"Host": "evil.example:8000"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_host"
    assert client.post("/chat/completions", json=_body(), headers={"Host": "localhost:1234"}).status_code == 200


def test_body_over_the_limit_is_413_json(locked):
    _, client = locked
    big = _body("x" * 300_000)
    r = client.post("/chat/completions", json=big)  # Content-Length announced: refused before reading
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

    def chunks():  # no Content-Length: counted while reading
        yield json.dumps(big).encode()

    r = client.post("/chat/completions", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto showpage\n"


@pytest.mark.parametrize("body,match", [
    (_image_body(_data_url(_png((9000, 9000), "L"))), "81,000,000 pixels"),  # ~100 KB body, 81 megapixels
    (_image_body(_data_url(_png_header_only(20000, 20000))), "image is too large"),  # past Pillow's bomb ceiling
    (_image_body(_data_url(EPS)), "not a GIF/JPEG/PNG/WEBP image"),  # EPS bytes under a png label
    (_image_body(_data_url(EPS, "eps")), "image type 'eps' is not accepted"),
    (_body(max_tokens=0), "max_tokens must be in 1..64, got 0"),
    (_body(max_tokens=65), "max_tokens must be in 1..64"),
    (_body(max_tokens=True), "max_tokens: Input should be a valid integer"),
    (_body(temperature=1e6), "temperature must be in 0..2"),
    (_body(seed=2**70), "seed: Input should be less than"),
    (_body(top_p=0), "top_p must be in (0, 1]"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": _data_url(_png((8, 8)))}}]
                    * 9}]}, "at most 8"),
    # what this server cannot honour is refused, never silently ignored
    (_body(tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]), "tools: tool calling is not"),
    (_body(tool_choice="auto"), "tool_choice"),
    (_body(functions=[{"name": "f"}]), "functions: function calling is not"),
    (_body(response_format={"type": "json_object"}), "response_format: only"),
    (_body(logprobs=True), "logprobs are not supported"),
    (_body(stop=["a", "b", "c", "d", "e"]), "at most 4 non-empty stop sequences"),
    (_body(stop=""), "non-empty stop"),
])
def test_limits_are_400s(locked, body, match):
    _, client = locked
    r = client.post("/chat/completions", json=body)
    assert r.status_code == 400, r.text
    assert match in r.json()["error"]["message"]


def test_stop_sequences_are_honoured(locked):
    _, client = locked
    r = client.post("/chat/completions", json=_body("one two three four", stop=[" thr", "zzz"], max_tokens=16))
    choice = r.json()["choices"][0]
    assert choice["message"]["content"] == "one two" and choice["finish_reason"] == "stop"
    r = client.post("/chat/completions", json=_body("one two", stop="zzz", response_format={"type": "text"}))
    assert r.json()["choices"][0]["message"]["content"] == "one two"


def test_nan_is_a_400_not_a_500(locked):
    _, client = locked
    r = client.post("/chat/completions", content=b'{"messages": [{"role": "user", "content": "a"}], '
                                                 b'"temperature": NaN}', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "finite number" in r.json()["error"]["message"]


def test_unknown_path_and_method_are_json(locked):
    _, client = locked
    assert client.get("/nothing").json()["error"]["message"] == "Not Found"
    assert client.get("/chat/completions").status_code == 405
    assert "error" in client.get("/chat/completions").json()


def test_prompt_longer_than_the_context_is_400():
    with ServerThread(create_app(MockBackend("echo", context_length=20), model_name="m")) as srv:
        url = srv.base_url + "/chat/completions"
        r = httpx.post(url, json=_body("w " * 15, max_tokens=10))
        assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
        assert "the prompt takes 15 and max_tokens asks for 10" in r.json()["error"]["message"]
        assert httpx.post(url, json=_body("w " * 15, max_tokens=5)).status_code == 200


def test_a_bug_is_a_json_500():
    class Broken(Backend):
        name = "broken"

        def generate(self, samples, params=None, progress=None):
            raise ZeroDivisionError("oops")

    with ServerThread(create_app(Broken(), model_name="m")) as srv:
        r = httpx.post(srv.base_url + "/chat/completions", json=_body())
    assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
    assert "ZeroDivisionError" in r.json()["error"]["message"]


def test_disconnected_client_frees_the_model_within_a_second():
    backend = Slow()
    with ServerThread(create_app(backend, model_name="m")) as srv:
        url = srv.base_url + "/chat/completions"
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url, json=_body("slow please"), timeout=0.5)  # gives up and closes the connection
        left = time.monotonic()
        r = httpx.post(url, json=_body("quick"), timeout=10)
        answered = time.monotonic()
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "quick"
    (ended, by_stop), = backend.ended
    assert by_stop and ended - left < 1.0
    assert answered - left < 1.0


def test_a_batch_cut_short_by_the_deadline_answers_504_not_its_partial_text():
    """Without the event loop's timeout racing it: the batcher alone must not hand back a cut-short answer."""
    import asyncio

    from safevlm.serve.batching import Batcher

    async def run():
        batcher = Batcher(Slow())
        try:
            job = batcher.submit(Sample(id="1", source="t", text="slow", expected="comply"), GenerationParams(), 0.2)
            with pytest.raises(APIError) as err:
                await job.future  # resolved by the batcher when Slow stops at the deadline
            return err.value
        finally:
            await batcher.close()

    err = asyncio.run(run())
    assert err.status == 504 and err.code == "timeout"


def test_deadline_is_a_504_and_frees_the_model():
    backend = Slow()
    with ServerThread(create_app(backend, model_name="m", limits=ServeLimits(timeout_s=0.5))) as srv:
        t0 = time.monotonic()
        r = httpx.post(srv.base_url + "/chat/completions", json=_body("slow"), timeout=10)
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
        assert r.headers["x-should-retry"] == "false"
        while not backend.ended and time.monotonic() - t0 < 5:
            time.sleep(0.01)
        (ended, by_stop), = backend.ended
        assert by_stop and ended - t0 < 1.5
        # the official client retries 5xx twice by default; told not to, it runs a too-slow request once
        g = load_backend(f"openai:{srv.base_url}#m", max_retries=2).generate(
            [Sample(id="1", source="t", text="slow again", expected="comply")])[0]
        while len(backend.ended) < 2 and time.monotonic() - t0 < 10:
            time.sleep(0.01)
        time.sleep(0.3)  # a retry would have started by now
    assert "HTTP 504" in g.error and len(backend.ended) == 2


def test_full_queue_answers_429():
    backend = Slow()
    app = create_app(backend, model_name="m", limits=ServeLimits(max_batch=1, max_queue=1, timeout_s=5))
    with ServerThread(app) as srv, ThreadPoolExecutor(2) as pool:
        url = srv.base_url + "/chat/completions"
        first = pool.submit(httpx.post, url, json=_body("slow 1"), timeout=1.0)  # generating, then gives up
        assert backend.started.wait(5)
        second = pool.submit(httpx.post, url, json=_body("quick 2"), timeout=10)  # waits in the queue
        deadline = time.monotonic() + 5
        while app.state.batcher.depth < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        r = httpx.post(url, json=_body("quick 3"), timeout=10)
        assert r.status_code == 429 and r.json()["error"]["code"] == "queue_full" and r.headers["retry-after"] == "1"
        with pytest.raises(httpx.ReadTimeout):
            first.result()
        assert second.result().status_code == 200


class Holding(Backend):
    """Holds every request until ``release`` is set; records the image sizes it was sent."""

    name = "holding"
    thread_safe = True

    def __init__(self):
        self.release, self.sizes = threading.Event(), []

    def generate(self, samples, params=None, progress=None):
        self.sizes += [im.size for s in samples for im in s.load_images()]
        self.release.wait(10)
        return [Generation(text="ok") for _ in samples]


def test_decoded_images_in_flight_stay_under_the_budget_and_big_images_are_shrunk():
    backend = Holding()
    mib4 = 4 * 2**20  # a 1024 x 1024 image, decoded
    # decoding reserves 8 bytes a pixel (the image and its RGB copy), holding 16 (the image and its processing):
    # one 1024 x 1024 image kept at full size fills a 16 MiB budget until it is answered
    limits = ServeLimits(max_decoded_bytes=mib4, image_budget_bytes=4 * mib4, image_wait_s=0.3,
                         max_image_side=None, max_body_bytes=2 * 2**20)
    app = create_app(backend, model_name="m", limits=limits)
    big = _image_body(_data_url(_png((1024, 1024))))
    with ServerThread(app) as srv, ThreadPoolExecutor(1) as pool:
        url = srv.base_url + "/chat/completions"
        first = pool.submit(httpx.post, url, json=big, timeout=20)  # holds the whole budget while generating
        deadline = time.monotonic() + 5
        while not backend.sizes and time.monotonic() < deadline:
            time.sleep(0.01)
        r = httpx.post(url, json=big, timeout=10)
        assert r.status_code == 503 and r.json()["error"]["code"] == "image_budget" and r.headers["retry-after"]
        assert 'safevlm_image_bytes_in_flight 1.6777216e+07' in httpx.get(srv.url + "/metrics").text
        backend.release.set()
        assert first.result().status_code == 200
        assert httpx.post(url, json=big, timeout=10).status_code == 200  # released: the next one fits
        assert 'safevlm_image_bytes_in_flight 0.0' in httpx.get(srv.url + "/metrics").text
    # with the side cap, a request holds only its shrunk images: two big ones run together
    backend = Holding()
    app = create_app(backend, model_name="m", limits=ServeLimits(max_decoded_bytes=mib4,
                                                                 image_budget_bytes=4 * mib4, image_wait_s=5,
                                                                 max_image_side=256, max_body_bytes=2 * 2**20))
    with ServerThread(app) as srv, ThreadPoolExecutor(2) as pool:
        url = srv.base_url + "/chat/completions"
        wide = _image_body(_data_url(_png((1024, 512))))
        answers = [pool.submit(httpx.post, url, json=wide, timeout=20) for _ in range(2)]
        deadline = time.monotonic() + 5
        while len(backend.sizes) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        backend.release.set()
        assert [a.result().status_code for a in answers] == [200, 200]
    assert backend.sizes == [(256, 128), (256, 128)]


class Recording(Backend):
    """Answers each text; records the batches (size and parameters) it was called with."""

    name = "recording"

    def __init__(self):
        self.batches: list[tuple[int, GenerationParams]] = []
        self.texts: list[list[str]] = []

    def generate(self, samples, params=None, progress=None):
        self.batches.append((len(samples), params))
        self.texts.append([s.text for s in samples])
        time.sleep(0.2)
        return [Generation(text=s.text.upper(), prompt_tokens=1, completion_tokens=1, extra={"seen": s.text})
                for s in samples]


def test_concurrent_requests_are_batched_by_parameters():
    backend = Recording()
    with ServerThread(create_app(backend, model_name="m", limits=ServeLimits(max_batch=8), expose_extra=True)) as srv:
        url = srv.base_url + "/chat/completions"
        bodies = [_body(f"q{k}", max_tokens=5 if k % 2 else 7) for k in range(12)]
        with ThreadPoolExecutor(12) as pool:
            rs = list(pool.map(lambda b: httpx.post(url, json=b, timeout=20), bodies))
        metrics = httpx.get(srv.url + "/metrics").text
    for k, r in enumerate(rs):  # every answer went back to its own request, with the backend's extra info
        assert r.status_code == 200
        assert r.json()["choices"][0]["message"]["content"] == f"Q{k}"
        assert r.json()["safevlm"] == {"seen": f"q{k}"}
    assert sum(n for n, _ in backend.batches) == 12
    assert len(backend.batches) < 12  # some requests shared a generate call
    assert max(n for n, _ in backend.batches) > 1
    for (_, params), texts in zip(backend.batches, backend.texts):  # each batch ran with its requests' max_tokens
        assert {bodies[int(t[1:])]["max_tokens"] for t in texts} == {params.max_new_tokens}
    assert 'safevlm_requests_total{code="200",path="/v1/chat/completions"} 12.0' in metrics
    assert "safevlm_queue_depth 0.0" in metrics
    assert 'safevlm_request_latency_seconds_count{path="/v1/chat/completions"} 12.0' in metrics
    assert f"safevlm_batch_size_count {len(backend.batches)}.0" in metrics


def test_a_batch_holds_only_requests_with_the_same_generation_parameters():
    """Requests that wait together but ask for different max_tokens or temperatures never share a generate
    call: each batch runs with exactly the parameters each of its requests asked for."""
    import asyncio

    from safevlm.serve.batching import Batcher

    class Gated(Backend):
        name, thread_safe = "gated", False

        def __init__(self):
            self.calls: list[tuple[list[str], GenerationParams]] = []
            self.busy, self.release = threading.Event(), threading.Event()

        def generate(self, samples, params=None, progress=None):
            self.calls.append(([s.text for s in samples], params))
            self.busy.set()
            self.release.wait(10)
            return [Generation(text=s.text) for s in samples]

    asks = {"q0": GenerationParams(max_new_tokens=5)}
    for k in range(1, 7):  # wait together behind q0: three parameter sets, interleaved
        asks[f"q{k}"] = GenerationParams(max_new_tokens=(5, 9, 5)[k % 3], temperature=(0.0, 0.0, 0.7)[k % 3])
    backend = Gated()

    async def run():
        batcher = Batcher(backend, max_batch=8, batch_wait_s=0.0)
        try:
            def submit(uid):
                return batcher.submit(Sample(id=uid, source="t", text=uid, expected="comply"), asks[uid], 10)

            first = [submit("q0")]
            while not backend.busy.is_set():
                await asyncio.sleep(0.005)
            rest = [submit(f"q{k}") for k in range(1, 7)]
            backend.release.set()
            return [(await j.future).text for j in first + rest]
        finally:
            await batcher.close()

    assert asyncio.run(run()) == list(asks)
    assert [texts for texts, _ in backend.calls] == [["q0"], ["q1", "q4"], ["q2", "q5"], ["q3", "q6"]]
    for texts, params in backend.calls:
        assert all(asks[t] == params for t in texts)


def test_request_log_is_one_json_line_without_image_bytes(caplog):
    # the log level outlives the server: a request's line is written after its response, until the server stops
    with (caplog.at_level(logging.INFO, logger="safevlm.serve.requests"),
          ServerThread(create_app(MockBackend("echo"), model_name="m")) as srv):
        r = httpx.post(srv.base_url + "/chat/completions",
                       json=_image_body(_data_url(_png((30, 20)))), timeout=10)
        bad = httpx.post(srv.base_url + "/chat/completions", json=_body(max_tokens=0), timeout=10)
    assert r.status_code == 200 and bad.status_code == 400
    lines = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "safevlm.serve.requests"]
    ok, err = lines
    assert ok["status"] == 200 and ok["images"] == 1 and ok["image_sizes"] == ["30x20"]
    assert ok["completion_tokens"] > 0 and ok["batch"] == 1 and ok["id"] == r.headers["x-request-id"]
    assert err["status"] == 400 and err["error"] == "max_tokens must be in 1..2048, got 0"
    assert all("base64" not in rec.getMessage() and len(rec.getMessage()) < 500 for rec in caplog.records)


def test_hf_backend_stops_when_told():
    model, processor = build_tiny_vlm("qwen2_5_vl", image_size=112)
    hf = HFBackend(model, processor)
    sample = Sample(id="1", source="t", text="Tell me a long story.", expected="comply")
    params = GenerationParams(max_new_tokens=40, temperature=1.0, seed=0)
    calls = {"n": 0}

    def after_three() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    cut = hf.generate_interruptible([sample], params, after_three)[0]
    full = hf.generate([sample], params)[0]
    assert cut.completion_tokens <= 4 < full.completion_tokens
    assert hf.context_length == model.config.text_config.max_position_embeddings
    assert hf.count_prompt_tokens([sample]) == [full.prompt_tokens]
