"""Load on ``safevlm serve`` over loopback: req/s and latency by client count, and memory under abuse.

Starts ``safevlm serve --model gym`` as a subprocess (from ``--src``) and, with
``--baseline-src``, a second one from another checkout (e.g. the code before
dynamic batching); then for each client count sends ``--requests`` chat completions
(gym:test images and questions, greedy, ``--max-tokens``) from that many concurrent
clients, each waiting for its answer before sending the next. The two servers take
turns at each client count (and in alternating order), so on a shared machine both
see the same background load. Reports req/s, p50/p95 latency,
every non-200 answer or transport error (a "drop") and, where the server has
``/metrics``, the mean batch size.

``--memory N`` then sends N more requests, one in ten an abuse (an 81-megapixel PNG
in a ~100 KB body, a 400-megapixel one, a body over the size limit, an EPS payload),
and reports the server's resident memory before and after (psutil).

``--large N`` sends N requests carrying four 16-megapixel images each (a few KB of PNG
per image) from ``--large-clients`` concurrent clients, samples the server's resident
memory every 20 ms, and reports its peak against ``--rss-budget-mb`` (the process exits
1 when the peak is over it), with the answers by status (200, or 503 when the server's
image budget is full and the client is told to retry).

    python benchmarks/serve_load.py [--src src] [--server-args "--max-batch 32"] [--baseline-src OLD/src] \
        [--clients 1,8,32,64] [--requests 192] [--max-tokens 32] [--memory 1000] \
        [--large 32 --large-clients 8 --rss-budget-mb 2560]

Bounded: at most ``--requests`` per client count, every request with a timeout, the
server on 127.0.0.1 and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
from PIL import Image

from safevlm.bench import load_benchmark


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data_url(im: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    im.save(buf, format=fmt, optimize=True)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def bodies(n: int, max_tokens: int) -> list[dict]:
    out = []
    for s in load_benchmark("gym:test", limit=n).samples:
        content = [{"type": "image_url", "image_url": {"url": data_url(im)}} for im in s.load_images()]
        content.append({"type": "text", "text": s.text})
        out.append({"model": "gym", "max_tokens": max_tokens, "temperature": 0,
                    "messages": [{"role": "user", "content": content}]})
    return out


def abuse_bodies() -> list[dict | bytes]:
    """What a careless or hostile client sends (each must get a 4xx and cost no lasting memory)."""
    def image(url: str) -> dict:
        return {"model": "gym", "max_tokens": 8,
                "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                                          {"type": "text", "text": "what is this?"}]}]}

    eps = "data:image/png;base64," + base64.b64encode(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\n").decode()
    return [image(data_url(Image.new("L", (9000, 9000)))), image(data_url(Image.new("L", (20000, 20000)))),
            image(eps), json.dumps(image("data:image/png;base64," + "A" * (30 * 2**20))).encode()]


async def run_level(url: str, clients: int, work: list[dict], timeout: float) -> dict:
    latencies: list[float] = []
    codes: dict[str, int] = {}
    queue = list(work)

    async def client(http: httpx.AsyncClient) -> None:
        while queue:
            body = queue.pop()
            t0 = time.perf_counter()
            try:
                r = await http.post(url, json=body)
                key = str(r.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            latencies.append(time.perf_counter() - t0)
            codes[key] = codes.get(key, 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=20)
    return {"clients": clients, "requests": len(latencies), "req_per_s": round(len(latencies) / wall, 1),
            "p50_s": round(statistics.median(latencies), 3), "p95_s": round(q[18], 3),
            "dropped_or_5xx": sum(n for k, n in codes.items() if k != "200"), "codes": codes}


async def run_memory(url: str, proc: psutil.Process, work: list[dict], n: int, timeout: float) -> dict:
    abuse = abuse_bodies()
    codes: dict[str, int] = {}
    before = proc.memory_info().rss
    async with httpx.AsyncClient(timeout=timeout) as http:
        for k in range(n):
            item = abuse[(k // 10) % len(abuse)] if k % 10 == 9 else work[k % len(work)]
            try:
                if isinstance(item, bytes):
                    r = await http.post(url, content=item, headers={"Content-Type": "application/json"})
                else:
                    r = await http.post(url, json=item)
                key = str(r.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            codes[key] = codes.get(key, 0) + 1
    after = proc.memory_info().rss
    return {"requests": n, "rss_start_mb": round(before / 2**20), "rss_end_mb": round(after / 2**20),
            "change": round(after / before - 1, 3), "codes": codes}


def large_bodies(n: int) -> list[dict]:
    """Requests with four 4000 x 4000 images each: small on the wire, 64 MiB each once decoded."""
    from PIL import ImageDraw

    out = []
    for k in range(n):
        content = []
        for j in range(4):
            im = Image.new("RGB", (4000, 4000), ((40 * k) % 256, (70 * j) % 256, 128))
            ImageDraw.Draw(im).rectangle((500 + 50 * j, 500, 3000, 3000 - 50 * k % 1000), fill=(200, 30, 30))
            content.append({"type": "image_url", "image_url": {"url": data_url(im)}})
        content.append({"type": "text", "text": "What is in these pictures?"})
        out.append({"model": "gym", "max_tokens": 8, "temperature": 0,
                    "messages": [{"role": "user", "content": content}]})
    return out


async def run_large(url: str, proc: psutil.Process, work: list[dict], clients: int, timeout: float) -> dict:
    """The large-image phase (module docstring): peak RSS while ``clients`` clients send ``work``."""
    import threading

    peak = {"rss": proc.memory_info().rss}
    start_rss = peak["rss"]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["rss"] = max(peak["rss"], proc.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        out = await run_level(url, clients, work, timeout)
    finally:
        done.set()
        sampler.join()
    return {"requests": len(work), "clients": clients, "images_per_request": 4, "megapixels_per_image": 16,
            "body_kb_mean": round(statistics.mean(len(json.dumps(b)) for b in work) / 1024, 1),
            "rss_start_mb": round(start_rss / 2**20), "rss_peak_mb": round(peak["rss"] / 2**20),
            "wall_s": round(time.perf_counter() - t0, 1), "p50_s": out["p50_s"], "p95_s": out["p95_s"],
            "codes": out["codes"]}


def batch_totals(base: str) -> tuple[float, float] | None:
    """(requests batched, batches) so far from /metrics; None for a server without it."""
    r = httpx.get(base + "/metrics", timeout=10)
    if r.status_code != 200:
        return None
    values = dict(line.rsplit(" ", 1) for line in r.text.splitlines() if line.startswith("safevlm_batch_size_"))
    return float(values["safevlm_batch_size_sum"]), float(values["safevlm_batch_size_count"])


@contextlib.contextmanager
def running_server(src: str, server_args: str) -> Iterator[tuple[str, int]]:
    """``safevlm serve --model gym`` from ``src`` on a free loopback port: ``(base URL, pid)``."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": src, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "safevlm.cli.main", "serve", "--model", "gym", "--port", str(port),
           *shlex.split(server_args)]
    with tempfile.TemporaryFile() as log:  # the server's output, shown if it fails to start
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise SystemExit(f"server did not start: {' '.join(cmd)}\n{log.read().decode()[-2000:]}")
                time.sleep(0.2)
            yield base, server.pid
        finally:
            server.terminate()
            server.wait(timeout=30)


def level(base: str, clients: int, work: list[dict], n: int, timeout: float) -> dict:
    before = batch_totals(base)
    out = asyncio.run(run_level(base + "/v1/chat/completions", clients, [work[k % len(work)] for k in range(n)],
                                timeout))
    after = batch_totals(base)
    if before and after and after[1] > before[1]:
        out["mean_batch"] = round((after[0] - before[0]) / (after[1] - before[1]), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "src"),
                    help="the safevlm source tree the server runs from")
    ap.add_argument("--server-args", default="", help="extra `safevlm serve` arguments")
    ap.add_argument("--baseline-src", help="also serve from this source tree (e.g. a checkout before a change), "
                                           "alternating client counts between the two servers")
    ap.add_argument("--clients", default="1,8,32,64")
    ap.add_argument("--requests", type=int, default=192, help="requests per client count")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--memory", type=int, default=0, help="requests of the memory phase (0: skip)")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--large", type=int, default=0, help="requests of the large-image phase (0: skip)")
    ap.add_argument("--large-clients", type=int, default=8)
    ap.add_argument("--rss-budget-mb", type=float, default=2560.0,
                    help="the large-image phase fails (exit 1) when the server's peak RSS exceeds this")
    args = ap.parse_args()

    work = bodies(64, args.max_tokens)
    clients = [int(x) for x in args.clients.split(",") if x.strip() and int(x) > 0]
    with contextlib.ExitStack() as stack:
        servers = {"current": stack.enter_context(running_server(args.src, args.server_args))}
        if args.baseline_src:
            servers["baseline"] = stack.enter_context(running_server(args.baseline_src, ""))
        for base, _ in servers.values():
            asyncio.run(run_level(base + "/v1/chat/completions", 8, work[:16], args.timeout))  # warm-up
        levels: dict[str, list[dict]] = {name: [] for name in servers}
        for k, c in enumerate(clients):
            order = list(servers) if k % 2 == 0 else list(reversed(servers))  # neither always goes first
            for name in order:
                levels[name].append(level(servers[name][0], c, work, args.requests, args.timeout))
                print(json.dumps({"server": name, **levels[name][-1]}), file=sys.stderr, flush=True)
        result = {"src": args.src, "server_args": args.server_args, "baseline_src": args.baseline_src,
                  "max_tokens": args.max_tokens, "cpus": os.cpu_count(), "levels": levels}
        if args.memory:
            base, pid = servers["current"]
            result["memory"] = asyncio.run(run_memory(base + "/v1/chat/completions", psutil.Process(pid), work,
                                                      args.memory, args.timeout))
        if args.large:
            base, pid = servers["current"]
            large = asyncio.run(run_large(base + "/v1/chat/completions", psutil.Process(pid),
                                          large_bodies(args.large), args.large_clients, args.timeout))
            result["large_images"] = {**large, "rss_budget_mb": args.rss_budget_mb,
                                      "within_budget": large["rss_peak_mb"] <= args.rss_budget_mb}
        print(json.dumps(result, indent=2))
        if args.large and not result["large_images"]["within_budget"]:
            raise SystemExit(1)

if __name__ == "__main__":
    main()
