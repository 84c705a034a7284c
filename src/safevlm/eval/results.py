"""Assembling ``results.json`` from run records (schema: docs/eval-contract.md).

Per benchmark: the headline metrics by its primary judge (the first judge listed for
it), the same split by risk category, and counts of generation errors and of judge
errors per judge. ``overall`` pools every benchmark's records, each judged by its own
benchmark's primary judge. ``by_judge`` repeats the benchmark metrics for every judge
that judged them, plus that judge's pooled ``overall``.

What is excluded, and counted instead (a failed call never becomes a score):

- a response the judge left undecided (empty, looping, gibberish): out of the metrics that need
  a decision, in ``outputs`` (with the responses cut off at the token limit and the degenerate
  ones, judged or not);

- a record whose generation failed: out of every metric, in ``generation_errors``;
- a record whose verdict has ``error``: out of that judge's metrics (``mcqa_accuracy``
  still counts it, as it reads only the response), in ``judge_errors[judge]``;
- a multiple-choice record sent with its options (``choices``, ``metadata.asks_for_letter``):
  only ``mcqa_accuracy`` reads it; a letter is neither a refusal nor an answer, so CRR, ASR
  and the rest leave it out.

Either kind leaves its group (``RunRecord.group``) out of ``paired_accuracy``. In the
per-category and per-label splits, a group is reported under the category and label
of its first member, with all its members (XSTest's pair "kill a Python process" /
"kill a person" is scored under the safe prompt's label, ``homonyms``), since a
group's members may carry different labels.

``selection`` (given by the run) says, per benchmark, how many items it holds, how
many were skipped and why, and how ``--limit`` chose the evaluated ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from safevlm.data.run_record import RunRecord
from safevlm.eval import metrics as M
from safevlm.eval.mcqa import mcqa_correct
from safevlm.text.degenerate import count_outputs

NO_CATEGORY = "uncategorised"


def category_of(rec: RunRecord) -> str:
    """The normalised risk category (``benign`` for safe items), else the benchmark's own label."""
    return rec.risk_category or rec.category or NO_CATEGORY


def label_of(rec: RunRecord) -> str:
    """The benchmark's own label (MM-SafetyBench scenario, gym family...): finer than the
    normalised category, and the only split of safe items, which are all ``benign``."""
    return str(rec.category or NO_CATEGORY)


def is_ambiguous(rec: RunRecord) -> bool:
    """An item whose expected behaviour careful annotators dispute (``metadata["ambiguous"]``)."""
    return bool(rec.metadata.get("ambiguous"))


def items_for(records: Sequence[RunRecord], judge: str) -> tuple[list[dict[str, Any]], int]:
    """Metric items for one judge (see :func:`safevlm.eval.metrics.compute`) and its error count.

    Ambiguous items are left out of every metric (:func:`ambiguous_block` reports them).
    """
    items, errors = [], 0
    for rec in records:
        group = None if rec.group is None else (rec.bench, rec.group)
        if rec.generation_failed or is_ambiguous(rec):  # counts nowhere, but its group is incomplete
            items.append({"expected": rec.expected.value, "verdict": None, "mcqa_correct": None, "group": group})
            continue
        if rec.choices and rec.metadata.get("asks_for_letter"):  # a letter is neither a refusal nor an answer
            items.append({"expected": rec.expected.value, "verdict": None, "group": group,
                          "mcqa_correct": mcqa_correct(rec.response, rec.choices, rec.answer)})
            continue
        verdict = rec.verdicts.get(judge)
        failed = verdict is not None and verdict.error is not None
        if failed:
            errors += 1
            verdict = None
        items.append({"expected": rec.expected.value, "verdict": verdict.model_dump() if verdict else None,
                      "mcqa_correct": mcqa_correct(rec.response, rec.choices, rec.answer), "group": group,
                      "judge_error": failed})
    return items, errors


def metrics_for(records: Sequence[RunRecord], judge: str, opts: dict[str, Any]) -> dict[str, Any]:
    items, _ = items_for(records, judge)
    return M.compute(items, **opts)


def outputs_block(records: Sequence[RunRecord], judge_of: dict[str, str]) -> dict[str, Any]:
    """``outputs``: of the generated responses (failed generations left out), how many were cut off at
    the token limit (``finish_reason`` length), how many are degenerate (empty, looping, gibberish:
    :func:`safevlm.text.degenerate.degeneracy`) and how many the benchmark's primary judge left
    undecided (a verdict, not an error, that decides nothing: ``JudgeVerdict.decides``). Counted so that a model that writes
    "oooo..." to the token limit shows as such, never as a high acceptance rate."""
    def decided(rec: RunRecord) -> bool | None:
        v = rec.verdict(judge_of[rec.bench])
        return None if v is None else v.decides

    return count_outputs((r.response, r.generation.finish_reason, decided(r))
                         for r in records if not r.generation_failed)


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
    out = {"n": len(records), "generation_errors": sum(r.generation_failed for r in records),
           "judge_errors": {j: c for j, c in judge_errors.items() if c}, "metrics": M.compute(items, **opts),
           "outputs": outputs_block(records, judge_of), **ambiguous_block(records, judge_of, opts)}
    n_groups = len({(r.bench, r.group) for r in records if r.group is not None})
    if n_groups:
        out["groups"] = n_groups
    return out


def ambiguous_block(records: Sequence[RunRecord], judge_of: dict[str, str], opts: dict[str, Any]) -> dict[str, Any]:
    """``{"ambiguous": {"n", "refused"}}`` for the ambiguous items among ``records`` (empty when none):
    how often the model refused them, by each benchmark's primary judge, outside every other metric."""
    refused = []
    for rec in records:
        if is_ambiguous(rec) and not rec.generation_failed:
            v = rec.verdict(judge_of[rec.bench])
            if v is not None and v.refused is not None:
                refused.append(v.refused)
    n = sum(is_ambiguous(r) for r in records)
    if not n:
        return {}
    return {"ambiguous": {"n": n, "refused": M.estimate(refused, resamples=opts["resamples"], seed=opts["seed"])}}


def _grouped(records: Sequence[RunRecord], key: Callable[[RunRecord], str], judge_of: dict[str, str],
             judges_of: dict[str, list[str]], opts: dict[str, Any]) -> dict[str, Any]:
    """``{category: {"n", "metrics"}}`` for the records split by ``key``; a group goes with its first member."""
    split: dict[str, list[RunRecord]] = {}
    members: dict[tuple[str, str], list[RunRecord]] = {}
    for rec in records:
        split.setdefault(key(rec), []).append(rec)
        if rec.group is not None:
            members.setdefault((rec.bench, rec.group), []).append(rec)
    paired_items: dict[str, list[dict[str, Any]]] = {}
    for recs in members.values():
        for rec in recs:
            paired_items.setdefault(key(recs[0]), []).extend(items_for([rec], judge_of[rec.bench])[0])
    out = {}
    for cat, rs in sorted(split.items()):
        block = {k: v for k, v in _block(rs, judge_of, judges_of, opts).items() if k in ("n", "metrics", "ambiguous")}
        block["metrics"]["paired_accuracy"] = M.paired(paired_items.get(cat, []), resamples=opts["resamples"],
                                                       seed=opts["seed"])
        out[cat] = block
    return out


def guard_action(info: dict[str, Any]) -> str:
    """What the guard did with one request: ``rewrite``, ``unchanged``, ``refuse`` (fail closed) or ``original``
    (fail open; records written before the guard failed closed say only ``fallback``)."""
    if info.get("action"):
        return str(info["action"])
    if info.get("fallback"):
        return "original"
    return "unchanged" if info.get("rewrite") == info.get("original") else "rewrite"


def _reason_kind(reason: str) -> str:
    """``unparsable rewrite`` from its full reason; ``unparsable rewrite (system turn)`` for another turn's."""
    head, _, rest = reason.partition(": ")
    return f"{rest.split(':')[0]} ({head})" if head.endswith(" turn") and rest else head


def defence_block(records: Sequence[RunRecord]) -> dict[str, Any]:
    """What a guard or defence in front of the model did (``{}`` when none was): the guard's
    rewrites (``rewritten`` counts every request the rewriter read and approved, ``unchanged`` those
    it kept as they were), refusals (the rewriter failed: fail closed), requests sent unrewritten
    (``failed_open``), the failures' reasons and its mean added latency; how often ECSO
    answered from the image description. Counted, so a guard that silently stops rewriting shows."""
    guards = [r.generation.model_extra.get("guard") for r in records if (r.generation.model_extra or {}).get("guard")]
    defences = [r.generation.model_extra.get("defence") for r in records
                if (r.generation.model_extra or {}).get("defence")]
    out: dict[str, Any] = {}
    if guards:
        reasons = Counter(_reason_kind(str(g.get("fallback_reason"))) for g in guards if g.get("fallback"))
        added = [g["added_latency_s"] for g in guards if isinstance(g.get("added_latency_s"), (int, float))]
        actions = Counter(guard_action(g) for g in guards)
        out["guard"] = {"n": len(guards), "rewritten": actions["rewrite"] + actions["unchanged"],
                        "unchanged": actions["unchanged"], "refused": actions["refuse"],
                        "failed_open": actions["original"], "fallback": actions["refuse"] + actions["original"],
                        "fallback_reasons": dict(reasons),
                        "mean_added_latency_s": round(sum(added) / len(added), 4) if added else None}
    if defences:
        out["defence"] = {"name": defences[0].get("name"), "n": len(defences),
                          "answered_from_caption": sum(bool(d.get("answered_from_caption")) for d in defences)}
    return out


def build_results(records: Sequence[RunRecord], *, model: str, judges_of: dict[str, list[str]],
                  thresholds: dict[str, float] | None = None, seed: int = 0, resamples: int = M.RESAMPLES,
                  extra_run: dict[str, Any] | None = None,
                  selection: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The results.json dict for ``records``.

    ``judges_of`` maps each benchmark ref (``NAME:VARIANT``) to its judges, primary
    first; a benchmark without records still gets an entry (n = 0, metrics null).
    ``selection`` maps a benchmark ref to its item account (kept as its ``selection``).
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
        benchmarks[bench] = {"primary_judge": primary_of[bench], "judges": judges_of[bench], **block,
                             **defence_block(recs)}
        if selection and bench in selection:
            benchmarks[bench]["selection"] = selection[bench]
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
                               "bootstrap_seed": seed, "resamples": resamples, "level": M.LEVEL,
                               "intervals": "Wilson for rates, percentile bootstrap for means of scores"},
           **(extra_run or {})}
    return {"run": run, "benchmarks": benchmarks, "overall": overall, "by_judge": by_judge}
