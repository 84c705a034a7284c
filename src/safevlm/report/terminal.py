"""Tables for the terminal (rich): run results, the benchmark inventory, the gym scorecard.

Shared by the CLI and the recipes (the demo prints the same tables ``safevlm eval``
and ``safevlm bench list`` print). Headline figures carry their 95 % interval and n.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from safevlm.report.fmt import defence_lines, selection_text

HEADLINE = ("crr", "car", "over_refusal", "accuracy", "asr", "answer_accuracy", "mcqa_accuracy", "paired_accuracy")
ALWAYS = ("crr", "car", "accuracy")
TITLES = {"over_refusal": "over-refusal", "answer_accuracy": "benign right", "mcqa_accuracy": "MCQA acc.", "paired_accuracy": "both right"}


def _cell(m: dict[str, Any] | None) -> str:
    """Value, interval and n on three short lines, so a column stays narrow and nothing is cut."""
    if m is None:
        return "[dim]-[/]"
    return f"{m['value']:.3f}\n[dim]{m['low']:.2f}-{m['high']:.2f}\nn={m['n']}[/]"


class ResultsTables:
    """Headline metrics per benchmark (primary judge) with 95 % intervals, fitted to the console.

    A rich renderable: when every metric column does not fit the console's width, the
    columns are split over several tables (each repeating the benchmark column), so
    figures wrap onto more tables instead of being cut.
    """

    def __init__(self, results: dict[str, Any]):
        self.title = f"{results['run']['model']} (primary judge per benchmark)"
        self.rows = [(f"{escape(b)}\n[dim]{escape('[' + str(v['primary_judge']) + ']')}[/]", v)
                     for b, v in results["benchmarks"].items()]
        if len(self.rows) > 1:
            self.rows.append(("[bold]overall[/]", results["overall"]))
        self.metrics = [k for k in HEADLINE
                        if k in ALWAYS or any(block["metrics"].get(k) for _, block in self.rows)]

    def table(self, metrics: list[str], title: str | None) -> Table:
        table = Table(title=title)
        table.add_column("benchmark", overflow="fold")
        table.add_column("n", justify="right", no_wrap=True)
        for name in metrics:
            table.add_column(TITLES.get(name, name), justify="right", no_wrap=True)
        table.add_column("errors", justify="right", no_wrap=True)
        for label, block in self.rows:
            errs = block["generation_errors"] + sum(block["judge_errors"].values())
            table.add_row(label, str(block["n"]), *(_cell(block["metrics"].get(k)) for k in metrics),
                          f"[yellow]{errs}[/]" if errs else "0")
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        parts: list[list[str]] = [[]]
        unbounded = options.update_width(100_000)  # a table's measure is clamped to the width it is given
        for name in self.metrics:
            trial = parts[-1] + [name]
            if parts[-1] and Measurement.get(console, unbounded, self.table(trial, None)).maximum > options.max_width:
                parts.append([name])
            else:
                parts[-1] = trial
        for i, metrics in enumerate(parts):
            suffix = f" ({i + 1}/{len(parts)})" if len(parts) > 1 else ""
            yield self.table(metrics, self.title + suffix)


def results_table(results: dict[str, Any]) -> ResultsTables:
    """The run's headline metrics as one or more tables that fit the console (:class:`ResultsTables`)."""
    return ResultsTables(results)


def inventory_table(rows: list[dict[str, Any]]) -> Table:
    """The benchmark inventory: counts per expected behaviour; images short of items in yellow.

    A variant that was not counted (an error, an untrusted hook) shows ``?``; the reasons
    are printed under the table by the caller.
    """
    table = Table(title="Benchmarks (expected behaviour per item)")
    table.add_column("benchmark:variant", no_wrap=True)
    for col in ("items", "images", "refuse", "comply", "safe_compl."):
        table.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    table.add_column("license", overflow="ellipsis", no_wrap=True, max_width=40)
    for r in rows:
        if r["items"] is None:
            mark = "[red]?[/]" if r.get("error") else "[yellow]?[/]"
            table.add_row(escape(r["ref"]), mark, mark, "", "", "", escape(r["license"] or ""))
            continue
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
    for name in ("vqa_accuracy", "intent_understood", "perception", "decisive_perception", "harmful_compliance", "refusal_unsafe",
                 "over_refusal", "safe_completion", "behaviour_ok"):
        value = getattr(card, name, None)
        table.add_row(name.replace("_", " "), "-" if value is None else f"{value:.3f}", "", "")
    family_counts = getattr(card, "family_counts", {}) or {}
    for family, rate in (getattr(card, "family", {}) or {}).items():
        table.add_row(f"right calls: {family}", f"{rate:.3f}", "", str(family_counts.get(family, "")))
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


def selection_lines(results: dict[str, Any]) -> list[str]:
    """:func:`selection_text` for every benchmark of a run that recorded its selection, and what a guard
    or defence did (:func:`defence_text`), escaped for rich."""
    return ([escape(selection_text(b, v["selection"])) for b, v in results["benchmarks"].items() if v.get("selection")]
            + [escape(line) for line in defence_lines(results["benchmarks"])])
