"""Do two run trees hold the same figures? Compares every ``results.json`` below two folders.

For a change that must not move any figure (a pure restructuring): run ``make demo`` before
and after it into two folders, then

    python benchmarks/compare_runs.py BEFORE_DIR AFTER_DIR

Each ``results.json`` found below BEFORE_DIR is paired with the file at the same relative
path below AFTER_DIR, and the two are compared as parsed JSON, value by value, leaving out
what measures time rather than results: ``run.wall_s`` and ``run.created`` by default, and
any key ending in ``latency_s`` (the guard's added latency) or ``s_per_step`` (a trainer's speed). ``--ignore DOTTED.KEY`` leaves
out more (repeatable; a key of a list's items is written with ``[]``, e.g. ``rows[].seconds``).
Prints each difference with its path and exits 0 when every pair is equal, 1 when any
figure differs, 2 when a file is missing on one side.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_IGNORE = ("run.wall_s", "run.created")
TIMING_SUFFIXES = ("latency_s", "s_per_step")  # the guard's added latency, a trainer's seconds per step


def differences(a: Any, b: Any, ignore: set[str], path: str = "") -> list[str]:
    """Each place where ``a`` and ``b`` differ, as ``path: a != b``; ``ignore`` holds dotted paths left out."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if sub in ignore or str(key).endswith(TIMING_SUFFIXES):
                continue
            if key not in a or key not in b:
                out.append(f"{sub}: only in {'after' if key not in a else 'before'}")
                continue
            out += differences(a[key], b[key], ignore, sub)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)} items"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += [d.replace(f"{path}[]", f"{path}[{i}]", 1)
                    for d in differences(x, y, ignore, f"{path}[]")]
        return out
    if type(a) is not type(b) or a != b:
        return [f"{path}: {a!r} != {b!r}"]
    return []


def compare_trees(before: Path, after: Path, ignore: set[str]) -> tuple[int, list[str]]:
    """``(exit code, lines to print)`` for the two trees (module docstring)."""
    files = sorted(p.relative_to(before) for p in before.rglob("results.json"))
    theirs = {p.relative_to(after) for p in after.rglob("results.json")}
    lines, code = [], 0
    for rel in sorted(theirs - set(files)):
        lines.append(f"{rel}: only in {after}")
        code = 2
    for rel in files:
        if rel not in theirs:
            lines.append(f"{rel}: only in {before}")
            code = 2
            continue
        diff = differences(json.loads((before / rel).read_text(encoding="utf-8")),
                           json.loads((after / rel).read_text(encoding="utf-8")), ignore)
        lines += [f"{rel}: {d}" for d in diff]
        code = max(code, 1 if diff else 0)
    if not files and not theirs:
        return 2, [f"no results.json below {before} or {after}"]
    lines.append(f"{len(files)} results.json compared (ignoring {', '.join(sorted(ignore))} and *{', *'.join(TIMING_SUFFIXES)}): "
                 + ("identical" if code == 0 else "DIFFERENT"))
    return code, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--ignore", action="append", default=[], help="a dotted key to leave out (repeatable)")
    args = ap.parse_args(argv)
    code, lines = compare_trees(args.before, args.after, set(DEFAULT_IGNORE) | set(args.ignore))
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
