"""Remote evaluation keeps exactly ``concurrency`` requests in flight until the work runs out.

The loopback server holds one request ("GATE") until every other request of the run
has arrived. A pool that refills a slot as soon as its request ends gets them all
through the free slots, so the gate opens; a runner that sent requests in waves
would wait for the held request before sending the next wave, and the gate would
time out (its reply says so, and the test fails). No timing is asserted.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from safevlm.backends.openai_compat import OpenAIBackend
from safevlm.data.sample import Sample
from safevlm.eval import evaluate
from safevlm.serve import ServerThread

N, CONCURRENCY = 24, 3


class Gate:
    def __init__(self):
        self.others = self.arrived = 0
        self.inflight = self.max_inflight = 0
        self.opened = asyncio.Event()
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self.handle)

    async def handle(self, request: Request):
        text = (await request.json())["messages"][-1]["content"][-1]["text"]
        self.arrived += 1
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            if "GATE" in text:
                try:
                    await asyncio.wait_for(self.opened.wait(), timeout=20)
                    reply = "gate opened"
                except TimeoutError:
                    reply = "gate timed out"
            else:
                await asyncio.sleep(0.01)
                self.others += 1
                if self.others == N - 1:
                    self.opened.set()
                reply = "fine"
        finally:
            self.inflight -= 1
        return JSONResponse({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": reply}}]})


@pytest.fixture()
def gate():
    server = Gate()
    with ServerThread(server.app) as srv:
        server.base_url = srv.base_url
        yield server


def test_evaluate_keeps_the_pool_full_past_a_slow_request(tmp_path, gate):
    (tmp_path / "items.jsonl").write_text("".join(
        json.dumps({"id": str(i), "q": "GATE" if i == 0 else f"question {i}"}) + "\n" for i in range(N)))
    spec = tmp_path / "gated.yaml"
    spec.write_text(f"name: gated\nroot: {tmp_path}\nmodality: text\nvariants:\n  default:\n"
                    "    file: items.jsonl\n    id: \"{id}\"\n    text: \"{q}\"\n    expected: comply\n")
    res = evaluate(f"openai:{gate.base_url}#m", ["gated"], ["refusal"], out=tmp_path / "run", batch_size=CONCURRENCY,
                   extra_specs=[spec], progress=False)
    recs = {json.loads(x)["id"]: json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()}
    assert recs["0"]["response"] == "gate opened"  # the other 23 went through the free slots meanwhile
    assert res["run"]["n"] == N and res["run"]["generation_errors"] == 0
    assert gate.max_inflight == CONCURRENCY  # exactly the pool's size, never more


def test_closing_the_stream_early_stops_the_pool(gate):
    backend = OpenAIBackend(gate.base_url, "m", concurrency=2, timeout_s=30, max_retries=0)
    samples = [Sample(id=str(i), source="t", text="GATE" if i == 0 else f"q {i}", expected="comply")
               for i in range(N)]
    stream = backend.generate_stream(samples, chunk=2)
    first = next(stream)
    assert len(first) == 2 and all(g.text == "fine" for _, g in first)
    stream.close()  # cancels the held request and starts no new one
    sent = gate.arrived
    time.sleep(0.3)
    assert gate.arrived == sent < N  # nothing was sent after the close


def test_request_timeout_and_retries_reach_remote_models_and_judges_and_survive_a_resume(tmp_path):
    """`safevlm eval --request-timeout S --retries N`: a hung server costs S x (1 + N) per request, not
    120 s x 4; the values are stored with the run and used again when it resumes."""
    from typer.testing import CliRunner

    from safevlm.cli.main import app

    hung = FastAPI()
    calls = {"n": 0}

    @hung.post("/v1/chat/completions")
    async def never(request: Request):
        calls["n"] += 1
        await asyncio.sleep(30)
        return JSONResponse({})

    with ServerThread(hung) as srv:
        run = tmp_path / "run"
        t0 = time.monotonic()
        r = CliRunner().invoke(app, ["eval", "-m", f"openai:{srv.base_url}#m", "-b", "gym:smoke", "--limit", "2",
                                     "-o", str(run), "--request-timeout", "0.3", "--retries", "1",
                                     "--batch-size", "2", "-j", f"rubric:openai:{srv.base_url}#judge"])
        assert r.exit_code == 1, r.output  # every generation failed: the work failed (--max-failed-share)
        assert time.monotonic() - t0 < 20 and calls["n"] == 4  # 2 requests x 2 attempts, none judged
        rec = json.loads((run / "samples.jsonl").read_text().splitlines()[0])
        assert "timed out after 0.3 s (2 attempt(s))" in rec["generation"]["error"]
        cfg = json.loads((run / "config.json").read_text())
        assert cfg["backend_options"] == {"timeout_s": 0.3, "max_retries": 1}
        from safevlm.eval.judging import JudgePool, remote_judge_options

        name = f"rubric:openai:{srv.base_url}#judge"
        judge = JudgePool(options=remote_judge_options(cfg["judges"], cfg["backend_options"])).get(name)
        # the judge's calls get the run's timeout and retries; its own re-asks of an unusable reply stay 2
        assert (judge.backend.timeout_s, judge.backend.max_retries, judge.max_retries) == (0.3, 1, 2)
        calls["n"] = 0
        r = CliRunner().invoke(app, ["eval", "-o", str(run)])  # resumed: failed generations are retried
        assert r.exit_code == 1 and calls["n"] == 4


def _reply(text: str) -> JSONResponse:
    return JSONResponse({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": text}}]})


def test_request_timeout_and_retries_reach_the_preflight_and_the_official_judge_model(tmp_path, benchdata):
    """The model's preflight (GET /v1/models) is retried as a request is: a server that answers 503 once
    passes with --retries 1 and stops the run (exit 2, nothing written) with --retries 0. The official
    --judge-model gets the run's timeout and retries: a hung judge costs 0.3 s x 2 attempts per call."""
    from typer.testing import CliRunner

    from safevlm.cli.main import app

    server = FastAPI()
    hits = {"models": 0, "judge": 0}

    @server.get("/v1/models")
    async def models():
        hits["models"] += 1
        if hits["models"] % 2:  # every other check finds the server still starting
            return JSONResponse({"error": {"message": "loading"}}, status_code=503)
        return JSONResponse({"object": "list", "data": [{"id": "m", "object": "model"}]})

    @server.post("/v1/chat/completions")
    async def chat(request: Request):
        if (await request.json())["model"] == "judge":
            hits["judge"] += 1
            await asyncio.sleep(30)
        return _reply("I'm sorry, I can't help with that.")

    with ServerThread(server) as srv:
        args = ["eval", "-m", f"openai:{srv.base_url}#m", "-b", "xstest", "--limit", "2",
                "--judge-model", f"openai:{srv.base_url}#judge", "--request-timeout", "0.3"]
        r = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "no"), "--retries", "0"])
        assert r.exit_code == 2 and "HTTP 503" in r.output and not (tmp_path / "no").exists()
        hits["models"] = 0
        t0 = time.monotonic()
        r = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "run"), "--retries", "1", "--json"])
        assert r.exit_code == 0, r.output
        assert hits["models"] == 2  # the 503, then the retry that found the model
        assert hits["judge"] == 2 * 2 and time.monotonic() - t0 < 20  # 2 items x (1 + 1 retry), 0.3 s each
        official = json.loads(r.output)["benchmarks"]["xstest:default"]["official"]
        llm = [m for m in official.values() if (m.get("judge") or {}).get("model") == f"openai:{srv.base_url}#judge"]
        assert llm and all(m["judge_errors"] == 1 and m["computed"] is False for m in llm)  # each metric's item


def test_remote_timeouts_default_from_the_environment_or_config_everywhere(monkeypatch):
    """Teachers, rewards and judges build their remote backends without a command-line flag: the user's
    SAFEVLM_REQUEST_TIMEOUT / SAFEVLM_RETRIES (or request_timeout / retries in the config file) apply."""
    from safevlm.errors import ConfigError

    assert (OpenAIBackend("http://h/v1", "m").timeout_s, OpenAIBackend("http://h/v1", "m").max_retries) == (120.0, 3)
    monkeypatch.setenv("SAFEVLM_REQUEST_TIMEOUT", "7.5")
    monkeypatch.setenv("SAFEVLM_RETRIES", "0")
    b = OpenAIBackend("http://h/v1", "m")
    assert (b.timeout_s, b.max_retries) == (7.5, 0)
    assert OpenAIBackend("http://h/v1", "m", timeout_s=2, max_retries=1).timeout_s == 2.0  # a flag wins
    from safevlm.eval.judging import JudgePool, remote_judge_options
    from safevlm.judges import get_judge

    guard = "wildguard:openai:http://h/v1#wg"  # a served guard model: its own client, the same defaults
    client = get_judge(guard).runner.client
    assert (client.timeout, client.max_retries) == (7.5, 0)
    opts = remote_judge_options([guard, "wildguard:hf:some/path", "refusal"], {"timeout_s": 2.0, "max_retries": 1,
                                                                               "device": "cpu"})
    assert opts == {guard: {"timeout_s": 2.0, "max_retries": 1}}  # --request-timeout/--retries win
    client = JudgePool(options=opts).get(guard).runner.client
    assert (client.timeout, client.max_retries) == (2.0, 1)
    monkeypatch.setenv("SAFEVLM_RETRIES", "many")
    with pytest.raises(ConfigError, match="request_timeout / retries"):
        OpenAIBackend("http://h/v1", "m")
