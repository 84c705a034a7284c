"""benchmarks/compare_runs.py: two demo trees are the same when every figure but the timings is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_runs.py"
RESULTS = {"run": {"wall_s": 12.5, "created": "2026-12-07T23:00:00", "model": "gym"},
           "benchmarks": {"gym:test": {"n": 400, "metrics": {"crr": {"value": 0.5, "low": 0.4, "high": 0.6}}}},
           "guards": [{"name": "g", "added_latency_s": 0.1, "fallbacks": 2}],
           "training": {"plain": {"s_per_step": 2.9, "steps": 40}}}


def _tree(root: Path, results: dict) -> Path:
    for rel in ("eval-base", "safecot/eval-v1"):
        (root / rel).mkdir(parents=True)
        (root / rel / "results.json").write_text(json.dumps(results))
    return root


def _run(a: Path, b: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(a), str(b), *extra], capture_output=True, text=True)


def test_timings_differ_only_so_the_trees_are_identical(tmp_path):
    later = json.loads(json.dumps(RESULTS))
    later["run"].update(wall_s=99.0, created="2026-12-08T01:00:00")
    later["guards"][0]["added_latency_s"] = 0.7
    later["training"]["plain"]["s_per_step"] = 2.35  # the demo's SaFeR stage summary records GRPO speed
    r = _run(_tree(tmp_path / "a", RESULTS), _tree(tmp_path / "b", later))
    assert r.returncode == 0, r.stdout
    assert "2 results.json compared" in r.stdout and "identical" in r.stdout


def test_a_changed_figure_is_named_with_its_path(tmp_path):
    later = json.loads(json.dumps(RESULTS))
    later["benchmarks"]["gym:test"]["metrics"]["crr"]["low"] = 0.41
    later["guards"][0]["fallbacks"] = 3
    r = _run(_tree(tmp_path / "a", RESULTS), _tree(tmp_path / "b", later))
    assert r.returncode == 1
    assert "eval-base/results.json: benchmarks.gym:test.metrics.crr.low: 0.4 != 0.41" in r.stdout
    assert "guards[0].fallbacks: 2 != 3" in r.stdout
    assert _run(tmp_path / "a", tmp_path / "b", "--ignore", "benchmarks.gym:test.metrics.crr.low",
                "--ignore", "guards[].fallbacks").returncode == 0


def test_a_missing_run_fails(tmp_path):
    a, b = _tree(tmp_path / "a", RESULTS), _tree(tmp_path / "b", RESULTS)
    (b / "eval-base" / "results.json").unlink()
    r = _run(a, b)
    assert r.returncode == 2 and "eval-base/results.json: only in" in r.stdout
