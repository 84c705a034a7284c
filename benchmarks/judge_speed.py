"""Throughput of the refusal judges on the labelled sets (responses per second, one process, one thread).

The detector must read at least 1,000 responses a second on the project's 2-core CPU (docs/benchmarks.md).
Each set is timed on its own (their answers differ in length), through ``RefusalJudge.judge`` in batches of
64, as ``safevlm judge`` and ``safevlm eval`` call it. Both CPU time (what the process used; steadier on a
shared machine) and wall time are reported; run it on an idle machine for the wall figure to mean anything.

    python benchmarks/judge_speed.py [--data-root DIR] [--judges refusal,phrases:gcg] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from refusal_sets import REPO, all_sets

from safevlm.judges import JudgeInput, get_judge


def throughput(judge, items: list[JudgeInput], batch: int = 64) -> tuple[float, float]:
    """(responses per CPU second, responses per wall second) for one pass over ``items``."""
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(items), batch):
        judge.judge(items[start:start + batch])
    return len(items) / (time.process_time() - cpu), len(items) / (time.perf_counter() - wall)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", type=Path, default=Path(os.environ.get("SAFEVLM_DATA_ROOT",
                                                                          REPO.parent / "shared" / "benchdata")))
    ap.add_argument("--judges", default="refusal")
    ap.add_argument("--repeat", type=int, default=3, help="passes per set; the best is reported")
    args = ap.parse_args(argv)
    sets = all_sets(args.data_root)
    print(f"{'set':18s} {'n':>6s} {'chars':>6s}  " + "  ".join(f"{j + ' cpu/s':>20s} {'wall/s':>8s}"
                                                           for j in args.judges.split(",")))
    totals = {j: [0, 0.0, 0.0] for j in args.judges.split(",")}
    for name, rows in sets.items():
        items = [JudgeInput(response=r["response"]) for r in rows]
        chars = sum(len(r["response"]) for r in rows) / len(rows)
        cells = []
        for j, total in totals.items():
            judge = get_judge(j)
            judge.judge(items[:1])  # load weights, compile patterns
            cpu, wall = max(throughput(judge, items) for _ in range(args.repeat))
            total[0] += len(items)
            total[1] += len(items) / cpu
            total[2] += len(items) / wall
            cells.append(f"{cpu:20.0f} {wall:8.0f}")
        print(f"{name:18s} {len(rows):6d} {chars:6.0f}  " + "  ".join(cells))
    print(f"{'all':18s} {sum(len(r) for r in sets.values()):6d} {'':6s}  "
          + "  ".join(f"{n / c:20.0f} {n / w:8.0f}" for n, c, w in totals.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
