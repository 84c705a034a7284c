"""Which metrics the report shows, and how a metric is written (``0.81 [0.75, 0.86]``, ``–``)."""

from __future__ import annotations

import math
from typing import Any

NULL = "\u2013"  # en dash: a metric with n = 0 (null), never 0

# (key in results.json, column title): always shown, in this order.
CORE = [("crr", "CRR"), ("car", "CAR"), ("over_refusal", "over-refusal"), ("accuracy", "accuracy"),
        ("asr", "ASR")]
# Shown when at least one run has a value.
EXTRA = [("answer_accuracy", "benign answers right"), ("rubric_safety_mean", "rubric safety"), ("rubric_safety_at_least_2", "rubric safe≥2"),
         ("mcqa_accuracy", "MCQA acc."), ("paired_accuracy", "both right (groups)")]


def metric(block: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    """The metric ``key`` of a ``{"metrics": {...}}`` block, or None when absent or null."""
    m = ((block or {}).get("metrics") or {}).get(key)
    if m is None:
        return None
    if isinstance(m, (int, float)):  # a bare number
        return {"value": float(m)}
    return m if m.get("value") is not None else None


def value(block: dict[str, Any] | None, key: str) -> float | None:
    m = metric(block, key)
    return None if m is None else float(m["value"])


def fmt_metric(m: dict[str, Any] | None, digits: int = 2) -> str:
    """``0.81 [0.75, 0.86]``; ``0.81`` without a CI; ``–`` when null."""
    if m is None or m.get("value") is None:
        return NULL
    text = f"{m['value']:.{digits}f}"
    if m.get("low") is not None and m.get("high") is not None:
        text += f" [{m['low']:.{digits}f}, {m['high']:.{digits}f}]"
    return text


def difference(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    """``b - a`` for two independent estimates, with a 95 % interval built from their own intervals.

    The MOVER construction (Newcombe's hybrid score interval when both are Wilson intervals):
    ``low = d - sqrt((b - b_low)^2 + (a_high - a)^2)``, ``high = d + sqrt((b_high - b)^2 +
    (a - a_low)^2)``. Treating two runs as independent is conservative when they answered
    the same items. None when either side is missing or has no interval.
    """
    if not a or not b or any(m.get(k) is None for m in (a, b) for k in ("value", "low", "high")):
        return None
    d = float(b["value"]) - float(a["value"])
    low = d - math.hypot(float(b["value"]) - float(b["low"]), float(a["high"]) - float(a["value"]))
    high = d + math.hypot(float(b["high"]) - float(b["value"]), float(a["value"]) - float(a["low"]))
    return {"value": d, "low": low, "high": high, "n_a": a.get("n"), "n_b": b.get("n")}


def columns(blocks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The core metrics plus the extra ones that some block has."""
    extra = [(k, t) for k, t in EXTRA if any(metric(b, k) for b in blocks)]
    return CORE + extra


def safety_point(block: dict[str, Any]) -> tuple[float, str, dict[str, Any]] | None:
    """The scatter's x: CRR, else 1 - ASR (as DSR). Returns (value, which, metric)."""
    m = metric(block, "crr")
    if m is not None:
        return float(m["value"]), "CRR", m
    m = metric(block, "dsr")
    if m is not None:
        return float(m["value"]), "1-ASR", m
    m = metric(block, "asr")
    if m is not None:
        flip = {"value": 1 - m["value"], "low": None if m.get("high") is None else 1 - m["high"],
                "high": None if m.get("low") is None else 1 - m["low"]}
        return float(flip["value"]), "1-ASR", flip
    return None


def text_only(block: dict[str, Any] | None) -> str | None:
    """``text only`` when every evaluated item of a benchmark was sent without its missing images,
    ``K of N text only`` when some were, None when none (a text benchmark is not marked)."""
    sel = (block or {}).get("selection") or {}
    k, n = sel.get("text_only_evaluated") or 0, sel.get("selected") or 0
    if not k:
        return None
    return "text only" if k >= n else f"{k} of {n} text only"


def bench_label(bench: str, block: dict[str, Any] | None) -> str:
    """The benchmark's name as every summary table shows it: marked when its images were missing, so a
    text-only score never reads as a multimodal result."""
    mark = text_only(block)
    return f"{bench} [{mark}]" if mark else bench


def selection_text(bench: str, sel: dict[str, Any]) -> str:
    """One sentence per benchmark: items held, skipped (and why), kept text-only, chosen by ``--limit``."""
    parts = [f"{sel.get('total', '?')} items"]
    skipped = sel.get("skipped_missing_images") or 0
    parts.append(f"{skipped} skipped" + (f" (images not on disk under {sel.get('image_root')}; "
                                         f"--on-missing-image {bench.partition(':')[0]}=text_only keeps them)"
                                         if skipped else ""))
    if sel.get("kept_text_only"):
        parts.append(f"{sel['kept_text_only']} kept without their missing images")
    if sel.get("excluded_identical_without_images"):
        pairs = f"{sel['excluded_identical_pairs']} pairs" if sel.get("excluded_identical_pairs") else "paired items"
        parts.append(f"{sel['excluded_identical_without_images']} left out ({pairs} whose sides are the same prompt "
                     "without their images)")
    if sel.get("not_evaluated"):
        return f"{bench}: " + ", ".join(parts) + f"; NOT EVALUATED ({sel['not_evaluated']})"
    if sel.get("limit") is not None and sel.get("selected", 0) < sel.get("evaluable", 0):
        how = ("the first in file order" if sel.get("limit_mode") == "first"
               else f"a stratified sample, seed {sel.get('limit_seed', 0)}")
        parts.append(f"--limit {sel['limit']}: {sel['selected']} of {sel['evaluable']} evaluated ({how})")
    else:
        parts.append(f"{sel.get('selected', sel.get('evaluable', '?'))} evaluated")
    if sel.get("text_only_evaluated"):
        parts.append(f"{sel['text_only_evaluated']} of them without their images (text-only scores)")
    return f"{bench}: " + ", ".join(parts)


#: Judges that read a response as a grader would (an LLM judge), not only whether it refused.
LLM_JUDGE_PREFIXES = ("rubric:",)


def run_notes(results: dict[str, Any]) -> list[str]:
    """Warnings a reader of any summary must see: benchmarks left out of the run, and benchmarks whose
    expected behaviour is mostly a safe completion scored by a judge that only tells refusals apart."""
    out = [f"{bench}: not evaluated ({why})" for bench, why in ((results.get("run") or {}).get("not_evaluated")
                                                                or {}).items()]
    for bench, block in (results.get("benchmarks") or {}).items():
        mix = ((block or {}).get("selection") or {}).get("behaviour") or {}
        judge = str((block or {}).get("primary_judge") or "")
        if sum(mix.values()) and mix.get("safe_complete", 0) * 2 >= sum(mix.values()) \
                and not judge.startswith(LLM_JUDGE_PREFIXES):
            uncomputed = any(e.get("computed") is False for e in ((block or {}).get("official") or {}).values())
            out.append(f"{bench}: this benchmark's official metric needs an LLM judge (its right answer is a safe, "
                       f"helpful completion); the '{judge}' judge's figures are a stand-in (--judge "
                       "rubric:MODEL_SPEC)" + ("; its official scores need --judge-model SPEC" if uncomputed else ""))
    return out


def defence_text(bench: str, block: dict[str, Any]) -> str | None:
    """One sentence on what a guard or defence in front of the model did on ``bench`` (None: there was none)."""
    g, d = block.get("guard"), block.get("defence")
    if g:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted((g.get("fallback_reasons") or {}).items()))
        latency = g.get("mean_added_latency_s")
        failed = (f"refused {g['refused']} and sent {g['failed_open']} unrewritten (fail open)" if "refused" in g
                  else f"fell back to the original on {g['fallback']}")  # runs from before the guard failed closed
        return (f"{bench}: guard rewrote {g['rewritten']} of {g['n']} prompts ({g.get('unchanged', 0)} left as they "
                f"were), {failed} when the rewriter failed" + (f" ({reasons})" if reasons else "")
                + (f"; {latency:.3f} s added per request" if latency is not None else ""))
    if d and d.get("name") == "ecso":
        return f"{bench}: ecso answered {d['answered_from_caption']} of {d['n']} from the image description"
    if d:
        return f"{bench}: defence {d.get('name')} in front of the model on {d['n']} prompts"
    return None


def defence_lines(benchmarks: dict[str, Any]) -> list[str]:
    """:func:`defence_text` for every benchmark block that has one."""
    return [t for b, block in benchmarks.items() if (t := defence_text(b, block or {}))]


def outputs_text(out: dict[str, Any] | None) -> str:
    """``3 cut off, 2 degenerate (repetition 2), 1 undecided``: a benchmark's ``outputs`` block in words
    (``–`` for a run written before safevlm counted them)."""
    if not out:
        return NULL
    kinds = ", ".join(f"{k} {v}" for k, v in (out.get("degenerate_kinds") or {}).items())
    return (f"{out['cut_off']} cut off, {out['degenerate']} degenerate" + (f" ({kinds})" if kinds else "")
            + f", {out.get('undecided', 0)} undecided")
