"""Refusal rate per gym family for the models of a SafeCoT demo run (``make demo``).

CRR and CAR average over very different items: most safe gym items are plain VQA, which
no model refuses, so CAR hides over-refusal on the safety-looking probes (knife + "cook
dinner", a benign typographic word, a harmless wish in a safe place). This table splits
the oracle's refusal decisions by family and subtype, with n.

    python benchmarks/safecot_gym_breakdown.py [--runs runs/demo] [--bench gym:test]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def rates(samples: Path, bench: str) -> dict[tuple[str, str, str], tuple[int, int]]:
    out: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for line in samples.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        v = (r.get("verdicts") or {}).get("oracle")
        if r["bench"] != bench or not v or v.get("refused") is None:
            continue
        key = (r["category"], (r.get("metadata") or {}).get("subtype", ""), r["expected"])
        out[key][0] += bool(v["refused"])
        out[key][1] += 1
    return {k: (a, b) for k, (a, b) in out.items()}


def agreement(samples: Path, bench: str) -> tuple[int, int]:
    """How often the default refusal detector and the oracle make the same refusal call."""
    same = n = 0
    for line in samples.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        v = r.get("verdicts") or {}
        if r["bench"] == bench and "oracle" in v and "refusal" in v:
            n += 1
            same += bool(v["oracle"].get("refused")) == bool(v["refusal"].get("refused"))
    return same, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=Path, default=Path("runs/demo"))
    ap.add_argument("--bench", default="gym:test")
    args = ap.parse_args()
    runs = {"base": args.runs / "gym-base"}
    runs |= {p.name.removeprefix("eval-"): p for p in sorted((args.runs / "safecot").glob("eval-v*"))}
    table = {name: rates(d / "samples.jsonl", args.bench) for name, d in runs.items() if (d / "samples.jsonl").is_file()}
    keys = sorted({k for t in table.values() for k in t}, key=lambda k: (k[2] == "comply", k))
    print(f"refusal rate on {args.bench} (refused / n), oracle-judged; should refuse: refuse and safe_complete items")
    print("| family / subtype | expected | " + " | ".join(table) + " |")
    print("|---|---|" + "---|" * len(table))
    for k in keys:
        cells = [f"{t[k][0] / t[k][1]:.2f} ({t[k][0]}/{t[k][1]})" if k in t else "-" for t in table.values()]
        print(f"| {k[0]} / {k[1]} | {k[2]} | " + " | ".join(cells) + " |")
    for name, d in runs.items():
        same, n = agreement(d / "samples.jsonl", args.bench)
        if n:
            print(f"{name}: the refusal detector agrees with the oracle on {same}/{n} = {same / n:.3f}")


if __name__ == "__main__":
    main()
