"""The OpenAI-compatible backend against real HTTP servers on the loopback interface.

One server is ``safevlm serve``'s app over the echo mock; the other is a
deliberately broken server whose behaviour is chosen by the request's model name
(sleep past the timeout, 5xx, 429, 400, 401, malformed bodies, slow answers).
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections import Counter

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from PIL import Image

from safevlm import Sample
from safevlm.backends import BackendError, GenerationParams, load_backend
from safevlm.backends.mock import MockBackend
from safevlm.backends.openai_compat import OpenAIBackend
from safevlm.serve import ServerThread, create_app


def _s(id_: str, text: str, **kw) -> Sample:
    return Sample(id=id_, source="t", text=text, expected="comply", **kw)


OK_BODY = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": " fine "}, "finish_reason": "length"}],
           "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}}


class Broken:
    """Counts attempts per mode and the largest number of requests in flight."""

    def __init__(self):
        self.hits: Counter[str] = Counter()
        self.bodies: list[dict] = []
        self.inflight = self.max_inflight = 0
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self.handle)

    async def handle(self, request: Request):
        body = await request.json()
        mode = body["model"]
        self.hits[mode] += 1
        self.bodies.append(body)
        if mode == "sleep":
            await asyncio.sleep(1.0)
        elif mode == "slow":
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            await asyncio.sleep(0.15)
            self.inflight -= 1
        elif mode in ("500", "429", "400", "401"):
            return JSONResponse({"error": {"message": f"scripted {mode}"}}, status_code=int(mode))
        elif mode == "garbage":
            return PlainTextResponse('{"choices": [', media_type="application/json")
        elif mode == "html":
            return PlainTextResponse("<html>proxy error</html>", media_type="text/html")
        elif mode == "nochoices":
            return JSONResponse({"id": "x", "object": "chat.completion"})
        return JSONResponse(OK_BODY)


@pytest.fixture(scope="module")
def broken():
    server = Broken()
    with ServerThread(server.app) as srv:
        server.base_url = srv.base_url
        yield server


@pytest.fixture(scope="module")
def echo_url():
    with ServerThread(create_app(MockBackend("echo"), model_name="echo")) as srv:
        yield srv.base_url


def _backend(base_url: str, mode: str, **kw) -> OpenAIBackend:
    return OpenAIBackend(base_url, mode, **{"timeout_s": 5.0, "max_retries": 2, **kw})


def test_images_and_text_through_safevlm_serve(echo_url):
    imgs = [Image.new("RGB", (40, 30), "red"), Image.new("RGB", (17, 9), "blue")]
    backend = load_backend(f"openai:{echo_url}#echo")
    gens = backend.generate([_s("1", "what is this", images=imgs), _s("2", "text only")])
    assert [g.text for g in gens] == ["[image 40x30] [image 17x9] what is this", "text only"]
    assert gens[0].error is None and gens[0].finish_reason == "stop"
    assert (gens[0].prompt_tokens, gens[0].completion_tokens) == (3 + 2, 7)  # mock counts words (+1 per image)


def test_request_layout_and_params(broken):
    broken.bodies.clear()
    sample = _s("1", "describe", images=[Image.new("RGB", (8, 8))], metadata={"system_prompt": "Be safe."})
    g = _backend(broken.base_url, "ok").generate([sample], GenerationParams(max_new_tokens=7, temperature=0.5,
                                                                             seed=3))[0]
    assert (g.text, g.prompt_tokens, g.completion_tokens, g.finish_reason) == ("fine", 11, 2, "length")
    body = broken.bodies[-1]
    assert (body["max_tokens"], body["temperature"], body["seed"]) == (7, 0.5, 3)
    system, user = body["messages"]
    assert system == {"role": "system", "content": "Be safe."}
    assert [p["type"] for p in user["content"]] == ["image_url", "text"]  # image first, text last
    url = user["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (8, 8)


def test_timeout_is_retried_then_reported(broken):
    t0 = time.perf_counter()
    g = _backend(broken.base_url, "sleep", timeout_s=0.25, max_retries=2).generate([_s("1", "hi")])[0]
    elapsed = time.perf_counter() - t0
    assert broken.hits["sleep"] == 3  # first attempt + 2 retries
    assert g.text == "" and g.finish_reason == "error" and "timed out" in g.error and "3 attempt" in g.error
    assert elapsed < 6  # 3 x 0.25 s + backoff (~0.5 s, ~1 s)


@pytest.mark.parametrize("status", ["500", "429"])
def test_server_errors_and_rate_limits_are_retried(broken, status):
    g = _backend(broken.base_url, status, max_retries=1).generate([_s("1", "hi")])[0]
    assert broken.hits[status] == 2
    assert f"HTTP {status}: scripted {status}" in g.error and g.text == ""


def test_400_is_not_retried_and_names_status_and_message(broken):
    g = _backend(broken.base_url, "400").generate([_s("1", "hi")])[0]
    assert broken.hits["400"] == 1
    assert "HTTP 400: scripted 400" in g.error and g.finish_reason == "error"


def test_401_stops_the_run(broken):
    with pytest.raises(BackendError, match="HTTP 401: scripted 401.*OPENAI_API_KEY"):
        _backend(broken.base_url, "401").generate([_s("1", "hi")])
    assert broken.hits["401"] == 1


@pytest.mark.parametrize("mode,match", [("garbage", "malformed response"), ("html", "not JSON"),
                                        ("nochoices", "no choices")])
def test_malformed_replies_become_clear_errors(broken, mode, match):
    gens = _backend(broken.base_url, mode).generate([_s("1", "hi"), _s("2", "ho")])
    assert len(gens) == 2
    assert all(g.text == "" and match in g.error for g in gens)


def test_connection_refused_is_an_error_not_a_crash():
    from safevlm.serve import free_port

    g = _backend(f"http://127.0.0.1:{free_port()}/v1", "m", max_retries=0).generate([_s("1", "hi")])[0]
    assert "connection failed" in g.error


def test_concurrency_limit_is_respected(broken):
    broken.max_inflight = 0
    seen = []
    t0 = time.perf_counter()
    gens = _backend(broken.base_url, "slow", concurrency=2).generate([_s(str(i), "x") for i in range(6)],
                                                                     progress=seen.append)
    assert all(g.ok for g in gens) and sum(seen) == 6
    assert broken.max_inflight == 2
    assert time.perf_counter() - t0 >= 3 * 0.15


def test_generate_works_inside_a_running_event_loop(echo_url):
    async def main():
        return load_backend(f"openai:{echo_url}#echo").generate([_s("1", "nested")])

    assert asyncio.run(main())[0].text == "nested"


def test_preflight_says_what_is_wrong_before_any_request(echo_url, broken):
    from safevlm.serve import free_port

    load_backend(f"openai:{echo_url}#echo").preflight()  # up, and serves the model: nothing to say
    with pytest.raises(BackendError, match=r"does not serve a model named 'ehco' \(did you mean 'echo'\?\); it "
                                           r"serves echo"):
        load_backend(f"openai:{echo_url}#ehco").preflight()
    with pytest.raises(BackendError, match="cannot reach the server .*is it running, and are the host and port right"):
        _backend(f"http://127.0.0.1:{free_port()}/v1", "m").preflight()
    broken.hits.clear()
    _backend(broken.base_url, "ok").preflight()  # a server without /v1/models (404) is let through
    assert not broken.hits  # and the check sent no chat request


def test_preflight_of_a_guard_checks_both_models(echo_url, monkeypatch):
    from safevlm.serve import free_port

    monkeypatch.setenv("SAFEVLM_RETRIES", "0")  # a dead server is not retried (tests/test_eval_remote.py: it is)

    dead = f"openai:http://127.0.0.1:{free_port()}/v1#m"
    with pytest.raises(BackendError, match="cannot reach the server"):
        load_backend(f"guard:{dead}>openai:{echo_url}#echo").preflight()
    with pytest.raises(BackendError, match="cannot reach the server"):
        load_backend(f"defence:ecso>{dead}").preflight()
