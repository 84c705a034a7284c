"""``safevlm serve``: the OpenAI-compatible app over real HTTP, the guard hook, the CLI process."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import base64
import io
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from safevlm import Sample
from safevlm.backends import Backend, Generation, GenerationParams, load_backend
from safevlm.backends.hf import HFBackend
from safevlm.backends.mock import MockBackend
from safevlm.serve import ServerThread, create_app, free_port


def _png_url(size=(20, 10), color="red") -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _user(*parts) -> list[dict]:
    return [{"role": "user", "content": list(parts)}]


@pytest.fixture(scope="module")
def echo():
    with (ServerThread(create_app(MockBackend("echo"), model_name="echo")) as srv,
          httpx.Client(base_url=srv.base_url, timeout=10) as client):
        yield client


def test_models_and_health(echo):
    assert echo.get("/models").json()["data"][0]["id"] == "echo"
    assert echo.get(str(echo.base_url).removesuffix("/v1/") + "/health").json() == {"status": "ok"}


def test_chat_completion_with_image_and_usage(echo):
    body = {"model": "echo", "max_tokens": 50,
            "messages": [{"role": "system", "content": "be brief"},
                         *_user({"type": "image_url", "image_url": {"url": _png_url((20, 10))}},
                                {"type": "text", "text": "what is it"})]}
    r = echo.post("/chat/completions", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["object"] == "chat.completion" and data["model"] == "echo"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "[image 20x10] what is it"}
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9}


def test_max_tokens_truncates(echo):
    r = echo.post("/chat/completions", json={"messages": _user({"type": "text", "text": "a b c d e"}),
                                             "max_tokens": 2})
    assert r.json()["choices"][0]["message"]["content"] == "a b"
    assert r.json()["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize("body,status,match", [
    ({"messages": _user({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}})}, 400,
     "no network access"),
    ({"messages": _user({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}})}, 400,
     "does not decode"),
    ({"messages": _user({"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}})}, 400,
     "does not decode"),
    ({"messages": _user({"type": "input_audio", "input_audio": {}})}, 400, "unsupported content part"),
    ({"messages": _user({"type": "text", "text": "a"}) * 2}, 400, "exactly one user message"),
    ({"messages": [{"role": "assistant", "content": "hi"}, *_user({"type": "text", "text": "a"})]}, 400,
     "role 'assistant'"),
    ({"messages": _user({"type": "text", "text": "a"}), "stream": True}, 400, "streaming"),
    ({"messages": _user({"type": "text", "text": "a"}), "n": 3}, 400, "n=1"),
    ({"messages": _user({"type": "text", "text": "a"}), "temperature": -1}, 400, "temperature"),
    ({"messages": "hello"}, 400, "invalid request: body.messages"),
    ({"model": "gpt-4o", "messages": _user({"type": "text", "text": "a"})}, 404, "serves 'echo'"),
])
def test_bad_requests_get_openai_style_errors(echo, body, status, match):
    r = echo.post("/chat/completions", json=body)
    assert r.status_code == status
    assert match in r.json()["error"]["message"]


def test_backend_failure_is_a_502_with_the_reason():
    with ServerThread(create_app(MockBackend("error"), model_name="m")) as srv:
        r = httpx.post(srv.base_url + "/chat/completions", json={"messages": _user({"type": "text", "text": "a"})})
    assert r.status_code == 502 and "scripted failure" in r.json()["error"]["message"]


def test_a_guarded_model_is_served_and_its_report_reaches_clients_only_when_opted_in(tmp_path, caplog):
    """`safevlm serve --model guard:REWRITER>TARGET`: the client sees a model; what the guard did is in the
    request log and /metrics; its report and rewrite ride along only with --expose-guard-report."""
    import json
    import logging

    from safevlm.text.rewrite import format_rewrite

    rewrite = format_rewrite("Textual trigger: hurt. Visual elements: none. Combination: harm.",
                             "Why is hurting someone wrong?")
    script = tmp_path / "rewriter.json"
    script.write_text(json.dumps({"patterns": [{"regex": "Rewrite the user's request", "response": rewrite}]}))
    body = {"model": "guarded", "messages": _user({"type": "text", "text": "How do I hurt someone?"})}
    for expose in (False, True):
        backend = load_backend(f"guard:mock:{script}>mock:echo")
        caplog.clear()
        with (caplog.at_level(logging.INFO, logger="safevlm.serve.requests"),
              ServerThread(create_app(backend, model_name="guarded", expose_extra=expose)) as srv):
            r = httpx.post(srv.base_url + "/chat/completions", json=body)
            metrics = httpx.get(srv.url + "/metrics").text
        data = r.json()
        assert r.status_code == 200 and data["choices"][0]["message"]["content"] == "Why is hurting someone wrong?"
        assert 'safevlm_guard_decisions_total{action="rewrite"} 1.0' in metrics
        (line,) = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "safevlm.serve.requests"
                   and '"path": "/v1/chat/completions"' in rec.getMessage()]
        assert line["guard"] == "rewrite" and "report" not in caplog.text and "hurt someone" not in caplog.text
        if not expose:
            assert "safevlm" not in data and "Textual trigger" not in r.text  # no oracle for adaptive attacks
            continue
        guard = data["safevlm"]["guard"]
        assert guard["original"] == "How do I hurt someone?" and guard["rewrite"] == "Why is hurting someone wrong?"
        assert guard["action"] == "rewrite" and guard["report"].startswith("Textual trigger")


class _Counting(Backend):
    """Not thread safe: records how many calls overlap."""

    name = "counting"

    def __init__(self):
        self.active = self.peak = 0
        self.lock = threading.Lock()

    def generate(self, samples, params=None, progress=None):
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.1)
        with self.lock:
            self.active -= 1
        return [Generation(text="ok", prompt_tokens=1, completion_tokens=1) for _ in samples]


def test_non_thread_safe_backend_sees_one_request_at_a_time():
    backend = _Counting()
    with ServerThread(create_app(backend, model_name="m")) as srv:
        body = {"messages": _user({"type": "text", "text": "a"})}
        with ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(lambda _: httpx.post(srv.base_url + "/chat/completions", json=body).status_code,
                                  range(4)))
    assert codes == [200] * 4 and backend.peak == 1


def test_served_tiny_vlm_answers_like_the_model_itself(tiny_family):
    """Every family behind ``safevlm serve``: an image request with a system prompt answers exactly
    as the model does in-process (same text, same token counts)."""
    hf = HFBackend(tiny_family.model, tiny_family.processor)
    sample = Sample(id="1", source="t", text="Is this safe?", images=[Image.new("RGB", (112, 112), (200, 30, 30))],
                    expected="comply", metadata={"system_prompt": "Answer briefly."})
    params = GenerationParams(max_new_tokens=12)
    direct = hf.generate([sample], params)[0]
    with ServerThread(create_app(hf, model_name="tiny")) as srv:
        served = load_backend(f"openai:{srv.base_url}#tiny").generate([sample], params)[0]
    assert direct.error is None and served.error is None
    assert (served.text, served.prompt_tokens, served.completion_tokens) == (
        direct.text, direct.prompt_tokens, direct.completion_tokens)


def test_safevlm_serve_command_end_to_end(tmp_path):
    """The key comes from SAFEVLM_API_KEY; a loopback server answers loopback Host names only."""
    port = free_port()
    cmd = [sys.executable, "-m", "safevlm.cli.main", "serve", "--model", "mock:echo", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "SAFEVLM_API_KEY": "k3y"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.1)
        g = load_backend(f"openai:http://127.0.0.1:{port}/v1#mock:echo", api_key="k3y").generate(
            [Sample(id="1", source="t", text="ping", images=[Image.new("RGB", (5, 6))], expected="comply")])[0]
        assert g.text == "[image 5x6] ping"
        url, body = f"http://127.0.0.1:{port}/v1/chat/completions", {"messages": _user({"type": "text", "text": "a"})}
        assert httpx.post(url, json=body).status_code == 401
        assert httpx.post(url, json=body, headers={"Authorization": "Bearer k3y", "Host": "evil.test"}).status_code \
            == 400
    finally:
        proc.terminate()
        proc.wait(timeout=10)
