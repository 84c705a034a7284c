"""``results.md``: the report's tables as GitHub-flavoured Markdown."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from safevlm.report.fmt import (
    NULL,
    columns,
    defence_lines,
    fmt_metric,
    metric,
    outputs_text,
    run_notes,
    selection_text,
    text_only,
)
from safevlm.report.load import Run, as_runs
from safevlm.report.official import official_markdown


def cell(text: Any) -> str:
    """A table cell: one line, no pipes, no raw HTML, escaped with backslashes (``\\<b>`` reads as text
    both rendered and in a plain-text editor, where ``&lt;b&gt;`` would not)."""
    s = " ".join(str(text).split())
    s = s.replace("\\", "\\\\").replace("|", "\\|").replace("<", "\\<").replace(">", "\\>")
    return re.sub(r"&(?=#?\w+;)", r"\\&", s) or NULL


def code(text: Any) -> str:
    """An inline code span that holds any text (raw HTML in a code span is shown, not rendered)."""
    s = " ".join(str(text).split())
    fence = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    return f"{fence} {s} {fence}" if "`" in s else f"`{s}`"


def table(header: list[str], rows: list[list[Any]], left: int = 1) -> list[str]:
    """A Markdown table; the first ``left`` columns are text (left-aligned), the rest numbers."""
    out = ["| " + " | ".join(cell(h) for h in header) + " |",
           "|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def bench_names(runs: list[Run]) -> list[str]:
    names: list[str] = []
    for run in runs:
        names += [b for b in run.benchmarks if b not in names]
    return names


def _summary(runs: list[Run], bench: str) -> tuple[str, list[str]]:
    """The benchmark's heading (marked when every run evaluated it without its images) and its table
    (rows marked where only some runs did)."""
    blocks = [(run, run.benchmarks.get(bench)) for run in runs]
    blocks = [(r, b) for r, b in blocks if b is not None]
    cols = columns([b for _, b in blocks])
    marks = {text_only(b) for _, b in blocks}
    shared = marks.pop() if len(marks) == 1 else None
    heading = f"{bench} [{shared}]" if shared else bench
    rows = [[r.label + (f" [{text_only(b)}]" if text_only(b) and not shared else ""), b.get("n", NULL)]
            + [fmt_metric(metric(b, k)) for k, _ in cols] + _cut_degen(r.outputs(bench)) for r, b in blocks]
    return heading, table(["run", "n"] + [t for _, t in cols] + ["cut off", "degenerate"], rows)


def _cut_degen(out: dict[str, Any]) -> list[Any]:
    """The summary's two output counts: cut off at the token limit, degenerate (empty, looping, gibberish)."""
    return [out.get("cut_off", NULL), out.get("degenerate", NULL)]


def _deltas(runs: list[Run], benches: list[str]) -> list[str]:
    """The change of each run against the first, per benchmark, with its interval (as report.html)."""
    from safevlm.report.html import delta_rows

    if len(runs) < 2:
        return []
    cols, rows = delta_rows(runs, benches)
    if not rows:
        return []
    fmt = [[b, r.label] + [NULL if d is None else f"{d['value']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"
                           for d in diffs] for b, r, diffs in rows]
    intro = "Each run minus the first, with a 95% interval for the difference (Newcombe's, from the two intervals)."
    return (["", f"### Change against {cell(runs[0].label)}", "", intro, ""] + table(["benchmark", "run"] + [f"Δ {t}" for _, t in cols], fmt, left=2))


def _categories(runs: list[Run], bench: str, key: str = "by_category") -> list[str]:
    cats: list[str] = []
    for run in runs:
        cats += [c for c in ((run.benchmarks.get(bench) or {}).get(key) or {}) if c not in cats]
    if not cats:
        return []
    blocks = [((run.benchmarks.get(bench) or {}).get(key) or {}).get(c) for run in runs for c in cats]
    shown = [("crr", "CRR"), ("car", "CAR")] + ([("paired_accuracy", "both right")]
                                               if any(metric(b, "paired_accuracy") for b in blocks) else [])
    header = ["category"]
    for run in runs:
        prefix = f"{run.label} " if len(runs) > 1 else ""
        header += [f"{prefix}n"] + [prefix + t for _, t in shown]
    rows = []
    for c in cats:
        row: list[Any] = [c]
        for run in runs:
            block = ((run.benchmarks.get(bench) or {}).get(key) or {}).get(c)
            row += [NULL if block is None else block.get("n", NULL)] + [fmt_metric(metric(block, k)) for k, _ in shown]
        rows.append(row)
    return table(header, rows)


def _by_judge(runs: list[Run], bench: str) -> list[str]:
    rows = []
    for run in runs:
        for judge, per_bench in (run.results.get("by_judge") or {}).items():
            block = (per_bench or {}).get(bench)
            if block is not None:
                block = {"metrics": block}
                rows.append([run.label, judge] + [fmt_metric(metric(block, k)) for k in ("crr", "car", "asr")])
    return table(["run", "judge", "CRR", "CAR", "ASR"], rows, left=2) if rows else []


def _errors(runs: list[Run], benches: list[str]) -> list[str]:
    rows = []
    for run in runs:
        for bench in benches:
            if bench not in run.benchmarks:
                continue
            je = run.judge_errors(bench)
            rows.append([run.label, bench, run.generation_errors(bench),
                         ", ".join(f"{k}: {v}" for k, v in sorted(je.items()) if v) or "0",
                         outputs_text(run.outputs(bench))])
    return table(["run", "benchmark", "generation errors", "judge errors", "outputs"], rows, left=2)


def _configs(runs: list[Run]) -> list[str]:
    out = []
    for run in runs:
        out += ["", f"### {cell(run.label)}", "", f"- directory: {code(run.path)}", f"- model: {code(run.model)}",
                f"- judges: {', '.join(run.judges) or NULL} (primary: {run.primary_judge or NULL})",
                f"- created: {run.created}"]
        for key in ("benchmarks", "generation", "limit", "seed"):
            if key in run.config:
                out.append(f"- {key}: {code(json.dumps(run.config[key], sort_keys=True, default=str))}")
        versions = {k: run.env[k] for k in ("safevlm", "torch", "transformers", "git_revision", "git")
                    if k in run.env}
        if versions:
            out.append(f"- env: {', '.join(f'{k} {v}' for k, v in versions.items())}")
        if run.notes:
            out.append(f"- notes: {'; '.join(run.notes)}")
    return out


def render_markdown(runs: list[Run | Path] | Run | Path) -> str:
    """The whole ``results.md``: summary per benchmark, categories, judges, errors, configs.

    ``runs``: loaded runs or run directories.
    """
    runs = as_runs(runs)
    benches = bench_names(runs)
    title = runs[0].label if len(runs) == 1 else f"{len(runs)} runs compared"
    intro = (f"Rates with a 95% interval as `value [low, high]` (Wilson for rates, bootstrap for means of "
             f"scores); `{NULL}` where a metric has no samples. Verdicts: each run's primary judge. `[text only]`: "
             "the benchmark's images were missing and its items were sent without them.")
    out = [f"# Evaluation report: {cell(title)}", "", intro, "", "## Runs", ""]
    out += table(["run", "model", "judges", "primary judge", "created", "samples", "generation errors"],
                 [[r.label, r.model, ", ".join(r.judges), r.primary_judge or NULL, r.created, len(r.samples),
                   r.generation_errors()] for r in runs], left=5)
    out += ["", "## Summary"]
    notes = [f"- {cell(r.label) + ': ' if len(runs) > 1 else ''}{cell(line)}" for r in runs
             for line in run_notes(r.results)]
    if notes:
        out += [""] + notes
    for bench in benches:
        heading, rows = _summary(runs, bench)
        out += ["", f"### {cell(heading)}", ""] + rows
    if len(benches) > 1 and any(r.results.get("overall") for r in runs):
        from safevlm.report.html import all_rows_differ

        blocks = [(r, r.results.get("overall")) for r in runs if r.results.get("overall")]
        cols = columns([b for _, b in blocks])
        mixed = any(text_only(b) for r in runs for b in r.benchmarks.values())
        out += ["", "### all benchmarks" + (" [incl. text-only]" if mixed else ""), ""]
        if all_rows_differ(runs):
            out += ["**The runs average different benchmarks, so these rows do not compare:** "
                    + "; ".join(f"{cell(r.label)}: {cell(', '.join(r.benchmarks))}" for r, _ in blocks), ""]
        out += table(["run", "n"] + [t for _, t in cols],
                     [[r.label, b.get("n", NULL)] + [fmt_metric(metric(b, k)) for k, _ in cols] for r, b in blocks])
    out += _deltas(runs, benches)
    out += official_markdown(runs, benches)
    items = [f"- {cell(r.label)}: {cell(selection_text(b, r.benchmarks[b]['selection']))}" for r in runs
             for b in benches if (r.benchmarks.get(b) or {}).get("selection")]
    items += [f"- {cell(r.label)}: {cell(line)}" for r in runs
              for line in defence_lines({b: r.benchmarks.get(b) for b in benches})]
    if items:
        out += ["", "## Items", "", "What each benchmark held, what was skipped and why, and what was evaluated.",
                ""] + items
    out += _per_bench_section("By risk category", [(b, _categories(runs, b)) for b in benches])
    out += _per_bench_section("By benchmark label", [(b, _categories(runs, b, "by_label")) for b in benches])
    out += _per_bench_section("By judge", [(b, _by_judge(runs, b)) for b in benches])
    out += ["", "## Errors", "", "Errors are excluded from the metrics.",
            ("So are responses the primary judge left undecided (empty, looping, gibberish); outputs counts them, "
             "with the responses cut off at the token limit and the degenerate ones."), ""] + _errors(runs, benches)
    out += ["", "## Configs"] + _configs(runs)
    return "\n".join(out) + "\n"


def _per_bench_section(title: str, tables: list[tuple[str, list[str]]]) -> list[str]:
    """A '## title' section with one sub-table per benchmark that has rows (nothing if none has)."""
    if not any(t for _, t in tables):
        return []
    out = ["", f"## {title}"]
    for bench, t in tables:
        if t:
            out += ["", f"### {cell(bench)}", ""] + t
    return out
