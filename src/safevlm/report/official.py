"""The benchmarks' own scores (results.json's ``official`` blocks) in results.md, the terminal and report.html.

Kept apart from the uniform tables on purpose: the uniform view (CRR, CAR, ASR by one
judge) compares benchmarks; these are each benchmark's numbers as its authors compute
them (docs/benchmark-protocols.md), labelled as such everywhere they are shown. An
official metric that could not be computed (no judge model for an LLM-judge protocol, a
manual protocol) is shown with its reason, never as a number. A benchmark evaluated
without its images is marked ``[text only]`` here as in the uniform tables
(:func:`safevlm.report.fmt.bench_label`): its official scores were computed text-only too.
"""

from __future__ import annotations

from html import escape
from typing import Any

from rich.markup import escape as rich_escape
from rich.table import Table

from safevlm.report.fmt import NULL, bench_label, fmt_metric, text_only

TITLE = "Official scores: each benchmark's own protocol"
INTRO = ("Each benchmark scored the way its authors score it (their judge, parser and aggregation, read from the "
         "benchmark's pinned protocol file; docs/benchmark-protocols.md), beside the uniform view above. Values "
         "are fractions (the papers print x100).")


def _judge_text(judge: Any) -> str:
    judges = judge if isinstance(judge, list) else [judge] if judge else []
    parts = []
    for j in judges:
        who = j.get("parser", "?")
        if "model" in j:
            who += f" via {j['model'] or 'no judge model'}"
        parts.append(who)
    mode = next((j.get("mode") for j in judges if j.get("mode")), None)
    return " + ".join(parts) + (" (parity)" if mode == "parity" else "")


def value_text(entry: dict[str, Any]) -> str:
    """``0.28 [0.24, 0.32]``, or ``not computed: why``."""
    if entry.get("computed") is False:
        return f"not computed: {entry.get('reason', '')}"
    if entry.get("value") is None:
        return f"{NULL} ({entry['reason']})" if entry.get("reason") else NULL
    return fmt_metric(entry)


def _by_text(entry: dict[str, Any], limit: int = 20) -> str:
    by = entry.get("by") or {}
    parts = [f"{g} {fmt_metric(m, 2).split(' [')[0]} (n={m['n']})" for g, m in list(by.items())[:limit] if m]
    more = f", +{len(by) - limit} more" if len(by) > limit else ""
    return ", ".join(parts) + more


def rows(results_benchmarks: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(benchmark, metric, entry)`` for every official entry, in benchmark order."""
    return [(b, name, entry) for b, block in results_benchmarks.items()
            for name, entry in ((block or {}).get("official") or {}).items()]


def safecot_rows(results_benchmarks: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], str]]:
    out = []
    for b, block in results_benchmarks.items():
        sc = (block or {}).get("safecot")
        if sc:
            out += [(b, k, sc[k], sc.get("judge", "")) for k in ("correct_refusal", "over_refusal") if k in sc]
    return out


# --- results.md ------------------------------------------------------------------------------------


def official_markdown(runs: list[Any], benches: list[str]) -> list[str]:
    """The results.md section (empty when no run has official scores)."""
    from safevlm.report.markdown import cell, table

    out: list[str] = []
    for bench in benches:
        lines: list[list[Any]] = []
        details: list[str] = []
        marks = {text_only(run.benchmarks.get(bench)) for run in runs if bench in run.benchmarks}
        shared = marks.pop() if len(marks) == 1 else None
        for run in runs:
            block = (run.benchmarks.get(bench) or {}).get("official") or {}
            mark = text_only(run.benchmarks.get(bench))
            for name, entry in block.items():
                prefix = [run.label + (f" [{mark}]" if mark and not shared else "")] if len(runs) > 1 else []
                lines.append(prefix + [name, value_text(entry), entry.get("n", NULL), _judge_text(entry.get("judge")),
                                       entry.get("judge_errors", 0), entry.get("description", "")])
                if entry.get("by"):
                    details.append(f"- {cell(name)} by {cell(entry.get('by_field', 'group'))}: {cell(_by_text(entry))}")
                if entry.get("note"):
                    details.append(f"- {cell(name)}: {cell(entry['note'])}")
        if lines:
            head = (["run"] if len(runs) > 1 else []) + ["metric", "value [95% CI]", "n", "judge", "judge errors",
                                                         "what"]
            heading = f"{bench} [{shared}]" if shared else bench
            out += ["", f"### {cell(heading)}", ""] + table(head, lines, left=len(head)) + ([""] + details if details else [])
    sc = [(r.label, b, k, e, j) for r in runs for b, k, e, j in safecot_rows(r.benchmarks) if b in benches]
    if sc:
        out += ["", "### SafeCoT's own definitions", ""]
        out += table(["run", "benchmark", "metric", "value [95% CI]", "n", "judge", "definition"],
                     [[lbl, b, k, value_text(e), e.get("n", NULL), j, e.get("definition", "")] for lbl, b, k, e, j in sc],
                     left=7)
    return (["", f"## {TITLE}", "", INTRO] + out) if out else []


# --- terminal --------------------------------------------------------------------------------------


def official_table(results: dict[str, Any]) -> Table | None:
    """The run's official scores as a rich table (None when it has none)."""
    found = rows(results.get("benchmarks") or {})
    sc = safecot_rows(results.get("benchmarks") or {})
    if not found and not sc:
        return None
    table = Table(title=f"{TITLE} (not the uniform view)")
    table.add_column("benchmark", overflow="fold")
    table.add_column("metric", overflow="fold")
    table.add_column("value", overflow="fold")
    table.add_column("n", justify="right", no_wrap=True)
    table.add_column("judge", overflow="fold")
    blocks = results.get("benchmarks") or {}
    for bench, name, entry in found:
        shown = value_text(entry)
        if entry.get("computed") is False:
            shown = f"[yellow]{rich_escape(shown)}[/]"
        else:
            shown = rich_escape(shown)
        table.add_row(rich_escape(bench_label(bench, blocks.get(bench))), rich_escape(name), shown,
                      str(entry.get("n", "")), rich_escape(_judge_text(entry.get("judge"))))
    for bench, name, entry, judge in sc:
        table.add_row(rich_escape(bench_label(bench, blocks.get(bench))), f"SafeCoT {name}",
                      rich_escape(value_text(entry)), str(entry.get("n", "")), rich_escape(judge))
    return table


# --- report.html -----------------------------------------------------------------------------------


def _bench_cell(bench: str, block: dict[str, Any] | None) -> str:
    """The benchmark's name with its text-only mark, as the summary table shows it."""
    mark = text_only(block)
    return escape(bench) + (f' <span class="mark">[{escape(mark)}]</span>' if mark else "")


def official_html(runs: list[Any], benches: list[str]) -> str:
    """The report.html section (empty when no run has official scores)."""
    body = []
    for ri, run in enumerate(runs):
        for bench in benches:
            block = (run.benchmarks.get(bench) or {}).get("official") or {}
            shown = _bench_cell(bench, run.benchmarks.get(bench))
            for name, entry in block.items():
                cls = "num null" if entry.get("computed") is False or entry.get("value") is None else "num"
                title = f' title="{escape(_by_text(entry))}"' if entry.get("by") else ""
                body.append(f'<tr><td>{escape(run.label)}</td><td class="b">{shown}</td><td>{escape(name)}</td>'
                            f'<td class="{cls}"{title}>{escape(value_text(entry))}</td>'
                            f'<td class="num">{escape(str(entry.get("n", NULL)))}</td>'
                            f"<td class=\"judge\">{escape(_judge_text(entry.get('judge')))}</td>"
                            f"<td>{escape(entry.get('description', ''))}"
                            + (f'<div class="note">{escape(entry["note"])}</div>' if entry.get("note") else "")
                            + "</td></tr>")
        for bench, name, entry, judge in safecot_rows(run.benchmarks):
            if bench in benches:
                body.append(f'<tr><td>{escape(run.label)}</td><td class="b">{_bench_cell(bench, run.benchmarks.get(bench))}</td>'
                            f"<td>SafeCoT {escape(name)}</td>"
                            f'<td class="num">{escape(value_text(entry))}</td>'
                            f'<td class="num">{escape(str(entry.get("n", NULL)))}</td><td>{escape(judge)}</td>'
                            f"<td>{escape(entry.get('definition', ''))}</td></tr>")
    if not body:
        return ""
    return (f'<section id="official"><h2>{escape(TITLE)}</h2><p class="muted">{escape(INTRO)} Hover a value for '
            'its breakdown.</p><div class="wide"><table class="data" id="official-table"><thead><tr><th>run</th>'
            "<th>benchmark</th><th>metric</th><th>value [95% CI]</th><th>n</th><th>judge</th><th>what</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div></section>")
