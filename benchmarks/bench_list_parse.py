"""How often `bench list` parses spec files, and how long it takes, with one large, deeply nested user spec.

A user spec of ``--variants`` variants whose ``options`` hold a nested mapping of
``--depth`` levels and ``--width`` keys per level (a few hundred KB of YAML) is put on
SAFEVLM_BENCH_PATH beside the built-in specs; ``summarise`` (what ``safevlm bench list
NAME`` runs) is timed, and every call of ``load_spec`` counted. Run it from any checkout
(``PYTHONPATH=src``) to compare commits on one machine::

    python benchmarks/bench_list_parse.py --variants 12
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import yaml


def nested(depth: int, width: int) -> dict:
    node: dict = {f"leaf{i}": "x" * 20 for i in range(width)}
    for level in range(depth):
        node = {f"k{level}_{i}": (node if i == 0 else list(range(width))) for i in range(width)}
    return node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", type=int, default=12)
    ap.add_argument("--depth", type=int, default=120)
    ap.add_argument("--width", type=int, default=6)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    (tmp / "items.csv").write_text("id,prompt\n1,hello\n")
    spec = {"name": "nested", "root": str(tmp), "modality": "text",
            "variants": {f"v{i}": {"file": "items.csv", "text": "{prompt}", "expected": "comply",
                                   "options": {"blob": nested(args.depth, args.width)} if i == 0 else {}}
                         for i in range(args.variants)}}
    specs = tmp / "specs"
    specs.mkdir()
    (specs / "nested.yaml").write_text(yaml.safe_dump(spec))
    os.environ["SAFEVLM_BENCH_PATH"] = str(specs)

    from safevlm.bench import registry
    from safevlm.bench.inventory import summarise

    calls = []
    real = registry.load_spec

    def counting(path):
        calls.append(Path(path).name)
        return real(path)

    registry.load_spec = counting
    t0 = time.perf_counter()
    rows = summarise(names=["nested"])
    took = time.perf_counter() - t0
    size = (specs / "nested.yaml").stat().st_size
    print(f"spec {size / 1e3:.0f} KB, {args.variants} variants: {len(rows)} rows in {took:.2f} s; "
          f"load_spec calls: {len(calls)} ({calls.count('nested.yaml')} of nested.yaml)")


if __name__ == "__main__":
    main()
