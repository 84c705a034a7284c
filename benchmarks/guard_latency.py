"""What the guard costs per request: guarded / unguarded latency, same requests, same run.

The target alone and the target behind the guard (``guard:REWRITER>TARGET``) answer the
same gym items, alternating in rounds so a noisy machine hits both alike; reported per
setting: mean seconds per request (wall time of ``generate`` over the items) and the
ratio guarded / unguarded, plus the guard's fallback count (docs/benchmarks.md,
"VLMGuard-R1 on the gym"). Two settings: one request at a time (an interactive user)
and batches of 32 (an evaluation).

    python benchmarks/guard_latency.py [--rewriter runs/demo/guard/rewriter] [--target gym]
                                       [--items 64] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def per_request(backend, samples, params, batch: int) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(samples), batch):
        backend.generate(samples[start:start + batch], params)
    return (time.perf_counter() - t0) / len(samples)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rewriter", default=str(REPO / "runs/demo/guard/rewriter"))
    ap.add_argument("--target", default="gym")
    ap.add_argument("--split", default="test")
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from safevlm.backends import GenerationParams, load_backend
    from safevlm.backends.defences import GuardedBackend
    from safevlm.gym.generate import generate_samples

    samples = [s for s in generate_samples(args.split, args.items * 2) if not s.history][:args.items]
    target = load_backend(args.target, batch_size=32)
    guarded = GuardedBackend(load_backend(f"hf:{args.rewriter}", batch_size=32), target)
    params = GenerationParams(max_new_tokens=args.max_new_tokens)
    out = {"target": args.target, "rewriter": args.rewriter, "items": len(samples), "rounds": args.rounds,
           "threads": args.threads, "settings": {}}
    per_request(target, samples[:4], params, 4)  # warm both up
    per_request(guarded, samples[:4], params, 4)
    for batch in (1, 32):
        base, guard = [], []
        for _ in range(args.rounds):
            base.append(per_request(target, samples, params, batch))
            guard.append(per_request(guarded, samples, params, batch))
        ratios = [g / b for g, b in zip(guard, base)]
        out["settings"][f"batch {batch}"] = {"unguarded_s": statistics.median(base),
                                             "guarded_s": statistics.median(guard),
                                             "ratio_median": statistics.median(ratios),
                                             "ratio_min": min(ratios), "ratio_max": max(ratios)}
    fallbacks = sum(g.extra["guard"]["fallback"] for g in guarded.generate(samples, params))
    out["fallbacks"] = f"{fallbacks}/{len(samples)}"
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
