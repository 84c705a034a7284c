"""Assembling ``results.json`` from run records (schema: docs/eval-contract.md).

Per benchmark: the headline metrics by its primary judge (the first judge listed for
it), the same split by risk category, and counts of generation errors and of judge
errors per judge. ``overall`` pools every benchmark's records, each judged by its own
benchmark's primary judge. ``by_judge`` repeats the benchmark metrics for every judge
that judged them, plus that judge's pooled ``overall``.

What is excluded, and counted instead (a failed call never becomes a score):

- a record whose generation failed: out of every metric, in ``generation_errors``;
- a record whose verdict has ``error``: out of that judge's metrics (``mcqa_accuracy``
  still counts it, as it reads only the response), in ``judge_errors[judge]``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from safevlm.data.records import RunRecord
from safevlm.eval import metrics as M
from safevlm.eval.mcqa import mcqa_correct

NO_CATEGORY = "uncategorised"


def category_of(rec: RunRecord) -> str:
    """The normalised risk category (``benign`` for safe items), else the benchmark's own label."""
    return rec.risk_category or rec.category or NO_CATEGORY


def label_of(rec: RunRecord) -> str:
    """The benchmark's own label (MM-SafetyBench scenario, gym family...): finer than the
    normalised category, and the only split of safe items, which are all ``benign``."""
    return str(rec.category or NO_CATEGORY)


def items_for(records: Sequence[RunRecord], judge: str) -> tuple[list[dict[str, Any]], int]:
    """Metric items for one judge (see :func:`safevlm.eval.metrics.compute`) and its error count."""
    items, errors = [], 0
    for rec in records:
        if rec.generation_failed:
            continue
        verdict = rec.verdicts.get(judge)
        failed = verdict is not None and verdict.error is not None
        if failed:
            errors += 1
            verdict = None
        items.append({"expected": rec.expected.value, "verdict": verdict.model_dump() if verdict else None,
                      "mcqa_correct": mcqa_correct(rec.response, rec.choices, rec.answer), "judge_error": failed})
    return items, errors


def metrics_for(records: Sequence[RunRecord], judge: str, opts: dict[str, Any]) -> dict[str, Any]:
    items, _ = items_for(records, judge)
    return M.compute(items, **opts)


def _block(records: Sequence[RunRecord], judge_of: dict[str, str], judges_of: dict[str, list[str]],
           opts: dict[str, Any]) -> dict[str, Any]:
    """n, error counts and metrics of records that may span benchmarks (each by its primary judge)."""
    items: list[dict[str, Any]] = []
    judge_errors: Counter = Counter()
    for rec in records:
        bench = rec.bench
        for j in judges_of[bench]:
            judge_errors[j] += items_for([rec], j)[1]
        items += items_for([rec], judge_of[bench])[0]
    return {"n": len(records), "generation_errors": sum(r.generation_failed for r in records),
            "judge_errors": {j: c for j, c in judge_errors.items() if c}, "metrics": M.compute(items, **opts)}


def _grouped(records: Sequence[RunRecord], key: Callable[[RunRecord], str], judge_of: dict[str, str],
             judges_of: dict[str, list[str]], opts: dict[str, Any]) -> dict[str, Any]:
    """``{group: {"n", "metrics"}}`` for the records grouped by ``key``."""
    groups: dict[str, list[RunRecord]] = {}
    for rec in records:
        groups.setdefault(key(rec), []).append(rec)
    return {g: {k: v for k, v in _block(rs, judge_of, judges_of, opts).items() if k in ("n", "metrics")}
            for g, rs in sorted(groups.items())}


def build_results(records: Sequence[RunRecord], *, model: str, judges_of: dict[str, list[str]],
                  thresholds: dict[str, float] | None = None, seed: int = 0, resamples: int = M.RESAMPLES,
                  extra_run: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results.json dict for ``records``.

    ``judges_of`` maps each benchmark ref (``NAME:VARIANT``) to its judges, primary
    first; a benchmark without records still gets an entry (n = 0, metrics null).
    """
    opts = {"thresholds": thresholds, "seed": seed, "resamples": resamples}
    primary_of = {b: js[0] for b, js in judges_of.items()}
    by_bench: dict[str, list[RunRecord]] = {b: [] for b in judges_of}
    for rec in records:
        by_bench.setdefault(rec.bench, []).append(rec)
    benchmarks: dict[str, Any] = {}
    for bench, recs in by_bench.items():
        block = _block(recs, primary_of, judges_of, opts)
        block["by_category"] = _grouped(recs, category_of, primary_of, judges_of, opts)
        if any(r.category for r in recs):
            block["by_label"] = _grouped(recs, label_of, primary_of, judges_of, opts)
        benchmarks[bench] = {"primary_judge": primary_of[bench], "judges": judges_of[bench], **block}
    all_judges = list(dict.fromkeys(j for js in judges_of.values() for j in js))
    by_judge: dict[str, Any] = {}
    for j in all_judges:
        judged = [b for b, js in judges_of.items() if j in js]
        by_judge[j] = {b: metrics_for(by_bench[b], j, opts) for b in judged}
        by_judge[j]["overall"] = metrics_for([r for b in judged for r in by_bench[b]], j, opts)
    overall = _block(list(records), primary_of, judges_of, opts)
    n_judge_errors = sum(overall["judge_errors"].values())
    run = {"model": model, "judges": all_judges, "primary_judge": all_judges[0] if all_judges else None,
           "created": None, "n": len(records), "generation_errors": overall["generation_errors"],
           "judge_errors": n_judge_errors, "n_errors": overall["generation_errors"] + n_judge_errors,
           "metrics_options": {"thresholds": thresholds if thresholds is not None else M.DEFAULT_THRESHOLDS,
                               "bootstrap_seed": seed, "resamples": resamples, "level": M.LEVEL},
           **(extra_run or {})}
    return {"run": run, "benchmarks": benchmarks, "overall": overall, "by_judge": by_judge}
