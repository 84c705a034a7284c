"""Which metrics the report shows, and how a metric is written (``0.81 [0.75, 0.86]``, ``–``)."""

from __future__ import annotations

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


def selection_text(bench: str, sel: dict[str, Any]) -> str:
    """One sentence per benchmark: items held, skipped (and why), kept text-only, chosen by ``--limit``."""
    parts = [f"{sel.get('total', '?')} items"]
    skipped = sel.get("skipped_missing_images") or 0
    parts.append(f"{skipped} skipped" + (f" (images not on disk under {sel.get('image_root')}; "
                                         "--on-missing-image text_only keeps them)" if skipped else ""))
    if sel.get("kept_text_only"):
        parts.append(f"{sel['kept_text_only']} kept without their missing images")
    if sel.get("limit") is not None and sel.get("selected", 0) < sel.get("evaluable", 0):
        how = ("the first in file order" if sel.get("limit_mode") == "first"
               else f"a stratified sample, seed {sel.get('limit_seed', 0)}")
        parts.append(f"--limit {sel['limit']}: {sel['selected']} of {sel['evaluable']} evaluated ({how})")
    else:
        parts.append(f"{sel.get('selected', sel.get('evaluable', '?'))} evaluated")
    return f"{bench}: " + ", ".join(parts)


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
    if d:
        return f"{bench}: {d['name']} answered {d['answered_from_caption']} of {d['n']} from the image description"
    return None


def defence_lines(benchmarks: dict[str, Any]) -> list[str]:
    """:func:`defence_text` for every benchmark block that has one."""
    return [t for b, block in benchmarks.items() if (t := defence_text(b, block or {}))]
