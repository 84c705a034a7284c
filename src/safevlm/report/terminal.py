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

from safevlm.report.fmt import bench_label, defence_lines, selection_text, text_only
from safevlm.report.fmt import run_notes as _run_notes

HEADLINE = ("crr", "car", "over_refusal", "accuracy", "asr", "answer_accuracy", "mcqa_accuracy", "paired_accuracy")
ALWAYS = ("crr", "car", "accuracy")
TITLES = {"over_refusal": "over-refusal", "answer_accuracy": "benign right", "mcqa_accuracy": "MCQA acc.", "paired_accuracy": "both right"}


def _cell(m: dict[str, Any] | None) -> str:
    """Value, interval and n on three short lines, so a column stays narrow and nothing is cut."""
    if m is None:
        return "[dim]-[/]"
    return f"{m['value']:.3f}\n[dim]{m['low']:.2f}-{m['high']:.2f}\nn={m['n']}[/]"


def _outputs_cell(out: dict[str, Any] | None) -> str:
    """Under the error count: responses cut off at the token limit and degenerate ones (empty, looping,
    gibberish), yellow when there are any (``outputs`` in results.json also has the undecided ones)."""
    if not out:
        return ""
    lines = [f"cut {out['cut_off']}", f"deg {out['degenerate']}"]
    return "".join(f"\n[yellow]{t}[/]" if not t.endswith(" 0") else f"\n[dim]{t}[/]" for t in lines)


class ResultsTables:
    """Headline metrics per benchmark (primary judge) with 95 % intervals, fitted to the console; under
    each error count, the responses cut off at the token limit (``cut``) and the degenerate ones (``deg``).

    A rich renderable: when every metric column does not fit the console's width, the
    columns are split over several tables (each repeating the benchmark column), so
    figures wrap onto more tables instead of being cut.
    """

    def __init__(self, results: dict[str, Any]):
        self.title = f"{results['run']['model']} (primary judge per benchmark)"
        self.rows = [(f"{escape(bench_label(b, v))}\n[dim]{escape('[' + str(v['primary_judge']) + ']')}[/]", v)
                     for b, v in results["benchmarks"].items()]
        if len(self.rows) > 1:
            mixed = any(text_only(v) for v in results["benchmarks"].values())
            self.rows.append(("[bold]overall[/]" + (" \\[incl. text-only]" if mixed else ""), results["overall"]))
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
                          (f"[yellow]{errs}[/]" if errs else "0") + _outputs_cell(block.get("outputs")))
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

    The ``benchmark:variant`` column is what a user copies into ``--bench``: it is never
    cut (its width is the longest ref); ``*`` marks each benchmark's default variant (what
    a bare ``NAME`` means). ``groups`` counts the items scored together (MSSBench chat: 1,200
    items in 600 query pairs). A variant without its images says "text only". A variant that
    was not counted (an error, an untrusted hook) shows ``?``; the reasons are printed under
    the table by the caller. Benchmarks not fetched (``fetch`` set) are not rows here.
    """
    rows = [r for r in rows if not r.get("fetch")]
    table = Table(title="Benchmarks (expected behaviour per item)",
                  caption="* default variant (a bare NAME); groups: items scored together (e.g. safe/unsafe pairs)")
    width = max((len(r["ref"]) for r in rows), default=20)
    table.add_column("benchmark:variant", no_wrap=True, min_width=width, overflow="fold")
    table.add_column("", no_wrap=True, min_width=1)
    for col in ("items", "groups", "images", "refuse", "comply", "safe_compl."):
        table.add_column(col, justify="right", no_wrap=True, min_width=9 if col == "images" else len(col))
    table.add_column("license", overflow="ellipsis", max_width=40)  # the one column that wraps
    for r in rows:
        mark = "*" if r.get("default") else ""
        if r["items"] is None:
            unknown = "[red]?[/]" if r.get("error") else "[yellow]?[/]"
            table.add_row(escape(r["ref"]), mark, unknown, "", unknown, "", "", "", _short_licence(r["license"]))
            continue
        if r["modality"] == "text" and not r["with_images"]:
            imgs = "[dim]text[/]"
        elif not r["with_images"]:
            imgs = "[yellow]text only[/]"
        elif r["with_images"] < r["items"]:
            imgs = f"[yellow]{r['with_images']}[/]"
        else:
            imgs = str(r["with_images"])
        mix = [str(r["behaviour"].get(k, "")) for k in ("refuse", "comply", "safe_complete")]
        groups = str(r["groups"]) if r.get("groups") else ""
        table.add_row(escape(r["ref"]), mark, str(r["items"]), groups, imgs, *mix, _short_licence(r["license"]))
    return table


def _short_licence(text: str | None) -> str:
    """The licence's name without its qualifications ("CC BY-NC 4.0 (research only)" -> "CC BY-NC 4.0")."""
    return escape((text or "").split(";")[0].split(" (")[0].strip())


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


def run_notes(results: dict[str, Any]) -> list[str]:
    """:func:`safevlm.report.fmt.run_notes`, escaped for rich."""
    return [escape(line) for line in _run_notes(results)]


def selection_lines(results: dict[str, Any]) -> list[str]:
    """:func:`selection_text` for every benchmark of a run that recorded its selection, and what a guard
    or defence did (:func:`defence_text`), escaped for rich."""
    return ([escape(selection_text(b, v["selection"])) for b, v in results["benchmarks"].items() if v.get("selection")]
            + [escape(line) for line in defence_lines(results["benchmarks"])])
