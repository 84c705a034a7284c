"""Tables for the terminal (rich): run results, the benchmark inventory, the gym scorecard.

Shared by the CLI and the recipes (the demo prints the same tables ``safevlm eval``
and ``safevlm bench list`` print). Headline figures carry their 95 % interval and n.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

HEADLINE = ("crr", "car", "over_refusal", "accuracy", "asr", "mcqa_accuracy")


def _cell(m: dict[str, Any] | None) -> str:
    if m is None:
        return "[dim]-[/]"
    return f"{m['value']:.3f} [dim]({m['low']:.2f}-{m['high']:.2f}, n={m['n']})[/]"


def results_table(results: dict[str, Any]) -> Table:
    """Headline metrics per benchmark (primary judge) with 95 % intervals."""
    table = Table(title=f"{results['run']['model']} (primary judge first per benchmark)")
    table.add_column("benchmark", no_wrap=True)
    table.add_column("n", justify="right")
    for name in HEADLINE:
        table.add_column(name, justify="right")
    table.add_column("errors", justify="right")
    rows = [(f"{escape(b)} [dim]{escape('[' + str(v['primary_judge']) + ']')}[/]", v)
            for b, v in results["benchmarks"].items()]
    rows.append(("[bold]overall[/]", results["overall"]))
    for label, block in rows:
        errs = block["generation_errors"] + sum(block["judge_errors"].values())
        table.add_row(label, str(block["n"]), *(_cell(block["metrics"].get(k)) for k in HEADLINE),
                      f"[yellow]{errs}[/]" if errs else "0")
    return table


def inventory_table(rows: list[dict[str, Any]]) -> Table:
    """The benchmark inventory: counts per expected behaviour; images short of items in yellow."""
    table = Table(title="Benchmarks (expected behaviour per item)")
    table.add_column("benchmark:variant", no_wrap=True)
    for col in ("items", "images", "refuse", "comply", "safe_compl."):
        table.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    table.add_column("license", overflow="ellipsis", no_wrap=True, max_width=40)
    for r in rows:
        if r["modality"] == "text" and not r["with_images"]:
            imgs = "[dim]text[/]"
        elif r["with_images"] < r["items"]:
            imgs = f"[yellow]{r['with_images']}[/]"
        else:
            imgs = str(r["with_images"])
        mix = [str(r["behaviour"].get(k, "")) for k in ("refuse", "comply", "safe_complete")]
        table.add_row(f"{r['name']}:{r['variant']}", str(r["items"]), imgs, *mix, r["license"])
    return table


def scorecard_table(title: str, card: Any) -> Table:
    """A gym scorecard: per-type accuracy beside its majority baseline, then the behaviour rates."""
    table = Table(title=title)
    for col in ("measure", "value", "baseline", "n"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    for qtype, acc in card.accuracy.items():
        base = card.baseline.get(qtype)
        table.add_row(f"accuracy: {qtype}", f"{acc:.3f}", "-" if base is None else f"{base:.3f}",
                      str(card.counts[qtype]))
    for name in ("perception", "decisive_perception", "harmful_compliance", "refusal_unsafe", "over_refusal",
                 "safe_completion", "behaviour_ok"):
        value = getattr(card, name)
        table.add_row(name.replace("_", " "), "-" if value is None else f"{value:.3f}", "", "")
    counts = getattr(card, "instruct_counts", {}) or {}
    for name, key in (("format_rate", "format"), ("format_accuracy", "reasoning_vqa"), ("plain_accuracy", "plain_vqa"),
                      ("risk_rate", "risk"), ("turn_rate", "followup"), ("correction_turn_rate", "correction")):
        value = getattr(card, name, None)
        if value is not None:
            table.add_row(f"instruct: {name.replace('_', ' ')}", f"{value:.3f}", "", str(counts.get(key, "")))
    if getattr(card, "ambiguous", 0):
        refused = card.ambiguous_refused
        table.add_row("ambiguous items: refused (not in any rate)", "-" if refused is None else f"{refused:.3f}", "",
                      str(card.ambiguous))
    return table


def compact(metric: dict[str, Any] | None) -> str:
    """``value (low-high)`` for a metric with an interval, ``-`` when it has no items."""
    if not metric or metric.get("value") is None:
        return "-"
    return f"{metric['value']:.3f} ({metric['low']:.2f}-{metric['high']:.2f})"


def with_ci(metric: dict[str, Any] | None) -> str:
    """``value [low, high]``, ``-`` when the metric has no items."""
    if not metric or metric.get("value") is None:
        return "-"
    return f"{metric['value']:.3f} [{metric['low']:.3f}, {metric['high']:.3f}]"
