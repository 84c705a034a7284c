"""Generation throughput of the gym model: batched vs one sample at a time.

Both passes run in one process on the same gym:test samples with greedy decoding
(48 new tokens max), after a warm-up batch, so the ratio compares like with like.

    python benchmarks/gym_eval_throughput.py [--n 192] [--batch-size 64] [--threads 2]

On a machine other jobs share, ``--threads 1`` (torch's idle threads spin-wait against the others).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from safevlm.backends.base import GenerationParams
from safevlm.backends.registry import load_backend
from safevlm.bench import load_benchmark


def throughput(backend, samples, batch_size: int) -> float:
    backend.batch_size = batch_size
    t0 = time.perf_counter()
    backend.generate(samples, GenerationParams(max_new_tokens=48))
    return len(samples) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=192)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2: the machine's cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    samples = load_benchmark("gym:test", limit=args.n).samples
    backend = load_backend("gym")
    throughput(backend, samples[:16], 16)  # warm-up
    batched = throughput(backend, samples, args.batch_size)
    single = throughput(backend, samples, 1)
    print(json.dumps({"n": len(samples), "batch_size": args.batch_size, "batched_samples_per_s": round(batched, 1),
                      "single_samples_per_s": round(single, 1), "ratio": round(batched / single, 1),
                      "threads": torch.get_num_threads()}, indent=2))


if __name__ == "__main__":
    main()
