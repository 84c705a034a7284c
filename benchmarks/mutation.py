"""Mutation testing of the critical modules: do the tests fail when the code is wrong?

mutmut 3 changes one thing at a time in a module (an operator, a constant, a condition, a
keyword argument...) and runs the tests that reach the changed function; a mutant the tests
do not notice *survives*. The modules and the tests that guard each are one table,
``[tool.safevlm.mutation]`` in pyproject.toml (a module that moves is a one-line change
there). Each module runs in its own scratch copy of ``src/`` and ``tests/`` under ``--work``
(default ``.mutation/``, git-ignored), so the working tree is never touched, and writes
``NAME/survivors.md`` there: each surviving mutant's diff, to kill with a test or explain in
docs/testing.md. Not part of ``make test``: it takes minutes per module.

    nice -n 19 python benchmarks/mutation.py                  # every module
    nice -n 19 python benchmarks/mutation.py --module metrics --module guard
    nice -n 19 python benchmarks/mutation.py --module metrics --rerun-survivors   # after adding tests
    python benchmarks/mutation.py --list                      # the table

Needs mutmut (``pip install -e ".[mutation]"``). Prints one row per module: mutants,
killed, survived, no tests (the module's function is reached by none of its tests), timeouts,
and the score = (killed + timeouts) / (mutants - skipped). A module whose tests train a model can name the
functions to mutate (``functions``: mutant-name globs); the rest of its file is then not run and not scored.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KILLED = ("killed", "timeout", "caught by type check", "segfault")  # the tests (or the run) noticed the change


@dataclass
class Module:
    name: str
    paths: list[str]  # files to mutate, relative to the repository
    tests: list[str]  # pytest arguments: test files, ``-k`` expressions, ``--deselect``s
    functions: list[str]  # mutant-name globs to run (empty: all); the others are "not checked", out of the score


def modules(pyproject: Path = REPO / "pyproject.toml") -> list[Module]:
    """The critical modules and their tests, from ``[tool.safevlm.mutation]``."""
    table = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["safevlm"]["mutation"]
    out = []
    for name, entry in table.items():
        missing = [p for p in entry["paths"] + [t for t in entry["tests"] if t.startswith("tests/")]
                   if not (REPO / p.split("::")[0]).exists()]
        if missing:
            raise SystemExit(f"pyproject.toml [tool.safevlm.mutation.{name}]: no such file {', '.join(missing)}")
        out.append(Module(name, list(entry["paths"]), list(entry["tests"]), list(entry.get("functions", []))))
    return out


IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def copy_tests(ws: Path) -> None:
    """The repository's tests (and the benchmark helpers some of them import) into ``ws`` and its mutants/."""
    for where in (ws, ws / "mutants"):
        if where.is_dir():
            for folder in ("tests", "benchmarks"):
                shutil.rmtree(where / folder, ignore_errors=True)
                shutil.copytree(REPO / folder, where / folder, ignore=IGNORE)


def workspace(module: Module, work: Path, *, fresh: bool = True) -> Path:
    """A copy of src/ and tests/ with a pyproject that tells mutmut what to mutate and run (``fresh``: a new
    one; else the last run's mutants and results with the current tests)."""
    ws = work / module.name
    if fresh:
        if ws.exists():
            shutil.rmtree(ws)
        ws.mkdir(parents=True)
        shutil.copytree(REPO / "src", ws / "src", ignore=IGNORE)
    elif not (ws / "mutants").is_dir():
        raise SystemExit(f"{module.name}: no earlier run in {ws} to re-test (run it without --rerun-survivors)")
    copy_tests(ws)
    pytest_opts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    markers = ", ".join(f'"{m}"' for m in pytest_opts.get("markers", []))
    quoted = ", ".join(f'"{t}"' for t in module.tests)
    paths = ", ".join(f'"{p}"' for p in module.paths)
    (ws / "pyproject.toml").write_text(f"""[tool.mutmut]
source_paths = ["src"]
only_mutate = [{paths}]
also_copy = ["benchmarks"]
pytest_add_cli_args_test_selection = [{quoted}]
pytest_add_cli_args = ["-p", "no:cacheprovider"]

[tool.pytest.ini_options]
testpaths = ["tests"]
markers = [{markers}]
""", encoding="utf-8")
    return ws


def results(ws: Path, mutmut: str) -> dict[str, str]:
    """mutant name -> status, as ``mutmut results --all true`` prints them."""
    out = subprocess.run([mutmut, "results", "--all", "true"], cwd=ws, capture_output=True, text=True, check=True)
    found = {}
    for line in out.stdout.splitlines():
        m = re.match(r"\s*(\S+): (.+)$", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


def score(status: dict[str, str]) -> dict[str, float | int]:
    counts: dict[str, int] = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    total = len(status) - counts.get("skipped", 0) - counts.get("not checked", 0)
    killed = sum(counts.get(k, 0) for k in KILLED)
    return {"mutants": total, "killed": killed, "survived": counts.get("survived", 0),
            "no tests": counts.get("no tests", 0), "timeout": counts.get("timeout", 0),
            "score": round(killed / total, 3) if total else 0.0}


def run(module: Module, work: Path, mutmut: str, children: int, rerun: bool = False) -> dict[str, float | int]:
    """Mutate ``module`` and run its tests; ``rerun``: only the last run's survivors, against today's tests
    (a mutant killed before stays killed: tests are only ever added)."""
    ws = workspace(module, work, fresh=not rerun)
    names = [n for n, s in results(ws, mutmut).items() if s in ("survived", "no tests")] if rerun else module.functions
    t0 = time.perf_counter()
    if not rerun or names:
        mutate(module, ws, mutmut, children, names)
    return report(module, ws, mutmut, time.perf_counter() - t0)


def mutate(module: Module, ws: Path, mutmut: str, children: int, names: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1", "SAFEVLM_TEST_BENCHDATA": os.environ.get(
               "SAFEVLM_TEST_BENCHDATA", str(REPO.parent / "shared" / "benchdata"))}
    with open(ws / "mutmut.log", "a", encoding="utf-8") as log:
        proc = subprocess.run([mutmut, "run", "--max-children", str(children), *names], cwd=ws, env=env,
                              stdout=log, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{module.name}: mutmut failed (exit {proc.returncode}); see {ws / 'mutmut.log'}")


def report(module: Module, ws: Path, mutmut: str, wall: float) -> dict[str, float | int]:
    """The module's row, and ``survivors.md`` with each surviving mutant's diff."""
    status = results(ws, mutmut)
    row = {**score(status), "wall_s": round(wall)}
    survivors = [name for name, s in status.items() if s in ("survived", "no tests")]
    lines = [f"# {module.name}: {len(survivors)} surviving mutants", "",
             f"paths: {', '.join(module.paths)}; tests: {' '.join(module.tests)}", ""]
    for name in survivors:
        diff = subprocess.run([mutmut, "show", name], cwd=ws, capture_output=True, text=True, check=False).stdout
        lines += [f"## {name} ({status[name]})", "", "```diff", diff.strip(), "```", ""]
    (ws / "survivors.md").write_text("\n".join(lines), encoding="utf-8")
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--module", action="append", help="a name from [tool.safevlm.mutation] (repeatable; default all)")
    ap.add_argument("--list", action="store_true", help="print the modules and their tests, run nothing")
    ap.add_argument("--work", type=Path, default=REPO / ".mutation", help="scratch folder (default .mutation/)")
    ap.add_argument("--max-children", type=int, default=1, help="mutants tested at once (default 1: a shared CPU)")
    ap.add_argument("--report-only", action="store_true", help="print the rows of the runs in --work, run nothing")
    ap.add_argument("--rerun-survivors", action="store_true",
                    help="re-test only the last run's surviving mutants (in --work) against the current tests")
    args = ap.parse_args(argv)
    table = modules()
    if args.list:
        for m in table:
            print(f"{m.name:12s} {' '.join(m.paths)}\n{'':12s} tests: {' '.join(m.tests)}")
        return 0
    names = {m.name for m in table}
    unknown = sorted(set(args.module or []) - names)
    if unknown:
        raise SystemExit(f"unknown module {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which("mutmut")
    if mutmut is None:
        raise SystemExit('mutmut is not installed: pip install -e ".[mutation]"')
    chosen = [m for m in table if not args.module or m.name in args.module]
    print(f"{'module':12s} {'mutants':>7s} {'killed':>6s} {'survived':>8s} {'no tests':>8s} {'timeout':>7s} "
          f"{'score':>6s} {'wall':>6s}", flush=True)
    for m in chosen:
        if args.report_only:
            r = report(m, args.work / m.name, mutmut, 0.0)
        else:
            r = run(m, args.work, mutmut, args.max_children, args.rerun_survivors)
        print(f"{m.name:12s} {r['mutants']:7d} {r['killed']:6d} {r['survived']:8d} {r['no tests']:8d} "
              f"{r['timeout']:7d} {r['score']:6.3f} {r['wall_s']:5d}s   ({args.work / m.name / 'survivors.md'})",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
