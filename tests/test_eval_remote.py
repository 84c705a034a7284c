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
