"""Remote evaluation throughput: ``evaluate()`` against a loopback OpenAI-compatible stub.

The stub (a FastAPI app in a child process) answers every chat completion after a
latency drawn uniformly from [--min-ms, --max-ms], fixed per prompt by --seed, so
every run sends the same requests with the same latencies. For each concurrency c,
one ``evaluate()`` run (judge: refusal) covers --per-slot x c text-only items of a
benchmark written as a YAML spec in a temporary folder. A pool that keeps c requests
in flight finishes in about N x mean latency / c, so the target is

    throughput >= 0.9 x c / mean latency

with the mean latency taken two ways: the stub's (the sleep it was told to take,
over the requests sent) and the client's (``generation.latency_s`` in the run's
samples.jsonl: the sleep plus HTTP, parsing and scheduling delays, which no pool can
remove). Throughput is the whole run's wall time (loading, judging, writing records
and the report included), so it is a lower bound on the backend's own rate.

    python benchmarks/remote_eval_throughput.py [--concurrency 8 32] [--per-slot 40]

The script uses only ``safevlm.eval.evaluate`` with a spec file, so it runs unchanged
against older checkouts (``PYTHONPATH=OLD/src python ...``) for before/after figures.
"""

import argparse
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def latency_s(text: str, seed: int, lo_ms: float, hi_ms: float) -> float:
    """The stub's latency for a prompt: uniform in [lo, hi] ms, fixed by (seed, text)."""
    return random.Random(f"{seed}:{text}").uniform(lo_ms, hi_ms) / 1000.0


def serve(port: int, seed: int, lo_ms: float, hi_ms: float) -> None:
    """The stub server (child process): sleeps the prompt's latency, then answers."""
    import asyncio

    import uvicorn
    from fastapi import FastAPI, Request

    app = FastAPI()

    @app.get("/health")
    async def health():
        return {"ok": True}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        text = body["messages"][-1]["content"][-1]["text"]
        await asyncio.sleep(latency_s(text, seed, lo_ms, hi_ms))
        return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": f"Sure. Here is an answer to: {text}"}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13}}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_stub(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--seed", str(args.seed),
                             "--min-ms", str(args.min_ms), "--max-ms", str(args.max_ms)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("stub server did not start")


def write_bench(folder: Path, n: int) -> tuple[Path, list[str]]:
    texts = [f"Request number {i}: how do I bake bread?" for i in range(n)]
    (folder / "items.jsonl").write_text("".join(json.dumps({"id": str(i), "q": t}) + "\n" for i, t in enumerate(texts)))
    spec = folder / f"stub-{n}.yaml"
    spec.write_text(f"name: stub-{n}\nroot: {folder}\nmodality: text\nvariants:\n  default:\n"
                    "    file: items.jsonl\n    id: \"{id}\"\n    text: \"{q}\"\n    expected: comply\n")
    return spec, texts


def measure(url: str, concurrency: int, args: argparse.Namespace, tmp: Path) -> dict:
    from safevlm.eval import evaluate

    n = args.per_slot * concurrency
    folder = tmp / f"c{concurrency}"
    folder.mkdir()
    spec, texts = write_bench(folder, n)
    mean = sum(latency_s(t, args.seed, args.min_ms, args.max_ms) for t in texts) / n
    t0 = time.perf_counter()
    res = evaluate(model=f"openai:{url}#stub", benches=[f"stub-{n}"], judges=["refusal"], out=folder / "run",
                   batch_size=concurrency, extra_specs=[spec], progress=False)
    wall = time.perf_counter() - t0
    assert res["run"]["n"] == n and res["run"]["generation_errors"] == 0, res["run"]
    lines = (folder / "run" / "samples.jsonl").read_text().splitlines()
    observed = sum(json.loads(x)["generation"]["latency_s"] for x in lines) / len(lines)
    rate = n / wall
    return {"concurrency": concurrency, "n": n, "wall_s": round(wall, 2), "throughput_per_s": round(rate, 1),
            "stub_mean_latency_s": round(mean, 4), "client_mean_latency_s": round(observed, 4),
            "ratio_to_stub_bound": round(rate * mean / concurrency, 3),
            "ratio_to_client_bound": round(rate * observed / concurrency, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--per-slot", type=int, default=40, help="requests per concurrency slot (N = per-slot x c)")
    ap.add_argument("--min-ms", type=float, default=50)
    ap.add_argument("--max-ms", type=float, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.seed, args.min_ms, args.max_ms)
        return
    proc, url = start_stub(args)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows = [measure(url, c, args, Path(tmp)) for c in args.concurrency]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
