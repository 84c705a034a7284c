"""``report.html``: one self-contained page (inline CSS, JS, SVG and images; nothing fetched).

Sections: the runs, a summary table (rows grouped by benchmark; with several runs, the
change of each against the first with its interval), the safety-vs-helpfulness scatter,
CRR/CAR/"both right" bars per risk category and per benchmark label, per-judge rates,
error counts, and the per-sample browser with its filters. The page template, style and
script are package files beside this module; values are substituted in one pass, so
text from a run can never be read as a placeholder.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from safevlm import __version__
from safevlm.report.fmt import (
    NULL,
    bench_label,
    columns,
    defence_lines,
    difference,
    fmt_metric,
    metric,
    outputs_text,
    run_notes,
    selection_text,
    text_only,
)
from safevlm.report.load import Run, as_runs
from safevlm.report.markdown import bench_names
from safevlm.report.official import official_html
from safevlm.report.samples import MAX_ROWS, Thumbs, sample_rows
from safevlm.report.svg import MARKERS, category_bars, colour, marker_swatch, scatter, scatter_point


def _asset(name: str) -> str:
    return resources.files("safevlm.report").joinpath(name).read_text(encoding="utf-8")


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], template)


def _mcell(m: dict[str, Any] | None) -> str:
    if m is None:
        return f'<td class="num null">{NULL}</td>'
    v = max(0.0, min(1.0, float(m["value"])))
    n = f'<span class="n">n={int(m["n"])}</span>' if isinstance(m.get("n"), int) else ""
    return f'<td class="num" style="--v:{v:.3f}">{escape(fmt_metric(m))}{n}</td>'


def _runs_table(runs: list[Run]) -> str:
    rows = []
    for ri, r in enumerate(runs):
        judges = ", ".join(f"<b>{escape(j)}</b>" if j == r.primary_judge else escape(j) for j in r.judges)
        notes = f'<div class="note">{escape("; ".join(r.notes))}</div>' if r.notes else ""
        rows.append(f'<tr><td><span class="sw" style="background:{colour(ri)}"></span>{escape(r.label)}{notes}</td>'
                    f'<td><code>{escape(r.model)}</code></td><td>{judges or NULL}</td><td>{escape(r.created)}</td>'
                    f'<td class="num">{len(r.samples)}</td><td class="num">{r.generation_errors()}</td>'
                    f'<td class="path">{escape(str(r.path))}</td></tr>')
    return ('<div class="wide"><table class="data"><thead><tr><th>run</th><th>model</th><th>judges (primary in '
            'bold)</th><th>created</th><th>samples</th><th>generation errors</th><th>directory</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _bench_sets(runs: list[Run]) -> dict[str, tuple[str, ...]]:
    """Each run's benchmarks (those its "all" row averages), for runs with more than one."""
    return {r.label: tuple(r.benchmarks) for r in runs if len(r.benchmarks) > 1 and r.results.get("overall")}


def all_rows_differ(runs: list[Run]) -> bool:
    """Whether the runs' "all" rows average different sets of benchmarks (so they do not compare)."""
    return len(set(_bench_sets(runs).values())) > 1


def _summary_table(runs: list[Run], benches: list[str]) -> str:
    """One row per run x benchmark, grouped by benchmark (the runs of a benchmark one under another), then
    each run's "all" row; text-only scores are marked where they are shown."""
    entries = []  # (run index, benchmark name, block)
    for b in benches:
        entries += [(ri, b, r.benchmarks[b]) for ri, r in enumerate(runs) if b in r.benchmarks]
    differ = all_rows_differ(runs)
    for ri, r in enumerate(runs):
        if len(r.benchmarks) > 1 and r.results.get("overall"):
            entries.append((ri, "all", r.results["overall"]))
    cols = columns([e[2] for e in entries])
    head = "".join(f"<th>{escape(t)}</th>" for _, t in cols)
    rows, previous = [], None
    for ri, bench, block in entries:
        cls = ["overall"] if bench == "all" else []
        if bench != previous and previous is not None:
            cls.append("group-start")
        previous = bench
        if bench == "all":
            mixed = any(text_only(b) for b in runs[ri].benchmarks.values())
            sets = ", ".join(runs[ri].benchmarks)
            name = (f'<span title="the mean over {escape(sets)}">all{" ⚠" if differ else ""}</span>'
                    + (' <span class="mark">[incl. text-only]</span>' if mixed else ""))
        else:
            mark = text_only(block)
            name = escape(bench) + (f' <span class="mark">[{escape(mark)}]</span>' if mark else "")
        klass = f' class="{" ".join(cls)}"' if cls else ""
        rows.append(f'<tr{klass} data-run="{ri}"><td class="b">{name}</td><td><span class="sw" style="background:{colour(ri)}">'
                    f'</span>{escape(runs[ri].label)}</td><td class="num">{escape(str(block.get("n", NULL)))}</td>'
                    + "".join(_mcell(metric(block, k)) for k, _ in cols) + _outputs_cells(runs[ri], bench, block)
                    + "</tr>")
    warn = ""
    if differ:
        sets = "; ".join(f"{escape(lab)}: {escape(', '.join(bs))}" for lab, bs in _bench_sets(runs).items())
        warn = (f'<p class="note">⚠ The "all" rows average different benchmarks, so they do not compare: '
                f"{sets}.</p>")
    return (f'<div class="wide"><table class="data" id="summary-table"><thead><tr><th>benchmark</th><th>run</th>'
            f'<th>n</th>{head}<th title="responses cut off at the token limit">cut off</th>'
            '<th title="empty, looping or gibberish responses">degenerate</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>{warn}')


def _fmt_delta(d: dict[str, Any] | None) -> str:
    if d is None:
        return NULL
    return f"{d['value']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"


def delta_rows(runs: list[Run], benches: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, Run, list]]]:
    """The change of each run against the first, per benchmark (and "all" where the runs average the same
    benchmarks): the metric columns and ``(benchmark, run, [difference or None per column])`` rows, each
    difference with its 95 % interval (:func:`safevlm.report.fmt.difference`)."""
    base = runs[0]
    pairs = [(b, base.benchmarks.get(b), r, r.benchmarks.get(b)) for b in benches for r in runs[1:]]
    if not all_rows_differ(runs):
        pairs += [("all", base.results.get("overall"), r, r.results.get("overall")) for r in runs[1:]]
    pairs = [(b, x, r, y) for b, x, r, y in pairs if x is not None and y is not None]
    cols = [c for c in columns([x for _, x, _, _ in pairs] + [y for _, _, _, y in pairs])]
    rows = [(b, r, [difference(metric(x, k), metric(y, k)) for k, _ in cols]) for b, x, r, y in pairs]
    return cols, rows


def _delta_table(runs: list[Run], benches: list[str]) -> str:
    if len(runs) < 2:
        return ""
    cols, rows = delta_rows(runs, benches)
    if not rows:
        return ""
    body, previous = [], None
    for bench, r, diffs in rows:
        cls = ' class="group-start"' if previous is not None and bench != previous else ""
        previous = bench
        cells = "".join(f'<td class="num{" sig" if d and (d["low"] > 0 or d["high"] < 0) else ""}">'
                        f"{escape(_fmt_delta(d))}</td>" for d in diffs)
        body.append(f'<tr{cls}><td class="b">{escape(bench)}</td><td>{escape(r.label)}</td>{cells}</tr>')
    head = "".join(f"<th>Δ {escape(t)}</th>" for _, t in cols)
    return (f'<h3>Change against {escape(runs[0].label)}</h3><p class="muted">Each run minus the first, with a 95% '
            "interval for the difference (Newcombe's, from the two intervals; bold where it excludes 0).</p>"
            f'<div class="wide"><table class="data" id="delta-table"><thead><tr><th>benchmark</th><th>run</th>{head}'
            f'</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def _notes(runs: list[Run]) -> str:
    items = [f"<li>{escape(r.label + ': ' if len(runs) > 1 else '')}{escape(line)}</li>"
             for r in runs for line in run_notes(r.results)]
    return f'<ul class="note">{"".join(items)}</ul>' if items else ""


def _outputs_cells(run: Run, bench: str, block: dict[str, Any]) -> str:
    out = block.get("outputs") if bench == "all" else run.outputs(bench)
    return "".join(f'<td class="num">{escape(str((out or {}).get(k, NULL)))}</td>' for k in ("cut_off", "degenerate"))


def _judges_table(runs: list[Run], benches: list[str]) -> str:
    rows = []
    for ri, r in enumerate(runs):
        for judge, per_bench in (r.results.get("by_judge") or {}).items():
            for bench in benches:
                block = (per_bench or {}).get(bench)
                if block is not None:
                    block = {"metrics": block}
                    rows.append(f"<tr><td>{escape(r.label)}</td><td>{escape(bench)}</td><td>{escape(judge)}</td>"
                                + "".join(_mcell(metric(block, k)) for k in ("crr", "car", "asr")) + "</tr>")
    if not rows:
        return ""
    return ('<table class="data"><thead><tr><th>run</th><th>benchmark</th><th>judge</th><th>CRR</th><th>CAR</th>'
            f'<th>ASR</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _errors_table(runs: list[Run], benches: list[str]) -> str:
    rows = []
    for r in runs:
        for bench in benches:
            if bench in r.benchmarks:
                je = ", ".join(f"{k}: {v}" for k, v in sorted(r.judge_errors(bench).items()) if v) or "0"
                rows.append(f"<tr><td>{escape(r.label)}</td><td>{escape(bench)}</td>"
                            f'<td class="num">{r.generation_errors(bench)}</td><td>{escape(je)}</td>'
                            f"<td>{escape(outputs_text(r.outputs(bench)))}</td></tr>")
    items = "".join(f"<li>{escape(r.label)}: {escape(selection_text(b, r.benchmarks[b]['selection']))}</li>"
                    for r in runs for b in benches if (r.benchmarks.get(b) or {}).get("selection"))
    items += "".join(f"<li>{escape(r.label)}: {escape(line)}</li>" for r in runs
                     for line in defence_lines({b: r.benchmarks.get(b) for b in benches}))
    return ('<table class="data"><thead><tr><th>run</th><th>benchmark</th><th>generation errors</th>'
            '<th>judge errors</th><th title="cut off at the token limit; degenerate: empty, looping or gibberish; '
            f'undecided by the primary judge">outputs</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            + (f'<p class="muted">Items per benchmark:</p><ul class="muted">{items}</ul>' if items else ""))


def _legend(runs: list[Run], indices: list[int], shapes: bool = False) -> str:
    def sw(ri: int) -> str:
        if shapes:
            return marker_swatch(MARKERS[ri % len(MARKERS)], colour(ri))
        return f'<span class="sw" style="background:{colour(ri)}"></span>'

    return '<div class="legend">' + "".join(f'<span class="lg">{sw(ri)}{escape(runs[ri].label)}</span>'
                                            for ri in indices) + "</div>"


def _categories(runs: list[Run], benches: list[str], key: str = "by_category") -> str:
    out = []
    for bench in benches:
        present = [(ri, (r.benchmarks.get(bench) or {}).get(key) or {}) for ri, r in enumerate(runs)
                   if bench in r.benchmarks]
        bars = category_bars([runs[ri].label for ri, _ in present], [b for _, b in present], [ri for ri, _ in present])
        if bars:
            marks = {text_only(runs[ri].benchmarks[bench]) for ri, _ in present} - {None}
            title = escape(bench) + "".join(f' <span class="mark">[{escape(m)}]</span>' for m in sorted(marks))
            out.append(f"<h3>{title}</h3>{_legend(runs, [ri for ri, _ in present])}{bars}")
    return "".join(out) or '<p class="muted">No per-category metrics in these runs.</p>'


def _scatter(runs: list[Run], benches: list[str]) -> str:
    """One run: a point per benchmark. Several: one plot per benchmark, a point per run (shape and colour
    per run, as in the legend), so labels stay few and near their points."""
    figs, skipped = [], 0
    if len(runs) == 1:
        points = []
        for bi, bench in enumerate(benches):
            block = runs[0].benchmarks.get(bench) or {}
            got = scatter_point(block)
            if got is None:
                skipped += 1
                continue
            mx, car, which = got
            label = bench_label(bench, block)
            points.append({"x": mx, "y": car, "label": label, "colour": colour(bi), "shape": MARKERS[bi % len(MARKERS)],
                           "tip": f"{label}: {which} {fmt_metric(mx)}, CAR {fmt_metric(car)}"})
        if points:
            figs.append(scatter(points))
        legend = ""
    else:
        for bench in benches:
            points = []
            for ri, r in enumerate(runs):
                if bench not in r.benchmarks:
                    continue
                got = scatter_point(r.benchmarks[bench])
                if got is None:
                    skipped += 1
                    continue
                mx, car, which = got
                points.append({"x": mx, "y": car, "label": r.label, "colour": colour(ri),
                               "shape": MARKERS[ri % len(MARKERS)],
                               "tip": f"{r.label} · {bench}: {which} {fmt_metric(mx)}, CAR {fmt_metric(car)}"})
            if points:
                marks = {text_only(r.benchmarks.get(bench)) for r in runs} - {None}
                figs.append(scatter(points, title=bench + "".join(f" [{m}]" for m in sorted(marks))))
        legend = _legend(runs, list(range(len(runs))), shapes=True)
    if not figs:
        return ""
    note = (f'<p class="muted">{skipped} run × benchmark pair(s) lack CRR/ASR or CAR and are not plotted.</p>'
            if skipped else "")
    what = "One point per benchmark" if len(runs) == 1 else "One plot per benchmark, one point per run"
    return (f'<section id="scatter"><h2>Safety vs helpfulness</h2><p class="muted">{what}; whiskers are 95% '
            "intervals; points at the same place are spread on a ring, with a spoke to their value. Up and to the "
            f'right is better.</p>{legend}<div class="panels">'
            + "".join(f'<div class="panel">{f}</div>' for f in figs) + f"</div>{note}</section>")


def _browser(runs: list[Run], benches: list[str], thumbs: Thumbs, max_rows: int) -> str:
    rows, counts, total = sample_rows(runs, thumbs, max_rows)
    shown = counts["shown"]
    buttons = [("all", "all", shown), ("over", "refused but should have answered", counts["over"]),
               ("under", "answered but should have refused", counts["under"]),
               ("disagree", "judges disagree", counts["disagree"])]
    if len(runs) > 1:
        buttons.append(("runsdiff", "runs disagree", counts["runsdiff"]))
    buttons.append(("error", "errors", counts["error"]))
    seg = "".join(f'<button type="button" data-show="{k}" aria-pressed="{str(k == "all").lower()}">{escape(t)} '
                  f'<span class="c">{n}</span></button>' for k, t, n in buttons)
    bench_opts = "".join(f'<option value="{escape(b)}">{escape(b)}</option>' for b in benches)
    run_sel = ""
    if len(runs) > 1:
        opts = "".join(f'<option value="{ri}">{escape(r.label)}</option>' for ri, r in enumerate(runs))
        run_sel = f'<select id="f-run" aria-label="run"><option value="">all runs</option>{opts}</select>'
    cap = (f'<p class="note" id="cap-note">Showing {shown} of {total} records (cap {max_rows}): mistakes, judge '
           f"disagreements and errors first; the full records are in each run's samples.jsonl.</p>"
           if total > shown else "")
    return (f'<section id="samples"><h2>Samples</h2>{cap}<p class="muted">Verdict colours: red refused, '
            'green answered, grey undecided, amber error; the primary judge (whose verdict drives the filters) is '
            'outlined; "right call" / "wrong call" say whether that verdict is the behaviour the item expects. Row '
            'tint: red = refused but should have answered, amber = answered but should have refused.'
            + (' "runs disagree": samples on which the runs\' primary judges decided differently.' if len(runs) > 1
               else "") + "</p>"
            f'<div class="filters"><div class="seg" role="group">{seg}</div>'
            f'<select id="f-bench" aria-label="benchmark"><option value="">all benchmarks</option>{bench_opts}</select>'
            f'{run_sel}<input id="f-q" type="search" placeholder="search prompt, response, id, judge…" aria-label="search">'
            f'<span class="count"><span id="n-shown">{shown}</span> of {shown} rows shown</span></div>'
            '<table class="data samples" id="sample-table"><thead><tr><th>image</th><th>sample</th><th>prompt</th>'
            f'<th>response</th><th>verdicts</th></tr></thead><tbody>{rows}</tbody></table>'
            '<p class="muted" id="no-rows" hidden>No sample matches these filters.</p></section>')


#: Curves the training section plots when a run's model has them (GRPO: SaFeR-VLM's reward and rollout).
TRAINING_CURVES = {
    "reward components": ("reward/safety", "reward/task", "reward/helpfulness", "reward/reasoning", "reward/grounding",
                          "reward/format", "reward"),
    "reward failures and penalties": ("reward/gated", "reward/malformed", "reward/unsafe", "reward/penalty",
                                      "frac_reward_zero_std"),
    "reflective rollout": ("reflect/flagged", "reflect/corrected", "reflect/reward_before", "reflect/reward_after"),
}


def _training(runs: list[Run]) -> str:
    """Per run whose model safevlm trained: its curves (reward components, rollout rates, or SFT loss)."""
    from safevlm.report.svg import line_chart

    blocks = []
    for run in runs:
        t = run.config.get("model_training") or {}
        history = t.get("history") or []
        figs = []
        for title, keys in TRAINING_CURVES.items():
            series = {k: [(h["step"], h[k]) for h in history if h.get(k) is not None and h.get("step") is not None]
                      for k in keys}
            svg = line_chart({k: v for k, v in series.items() if v}, x_label="step", y_label=title)
            if svg:
                figs.append(f'<figure class="fig"><figcaption>{escape(title)}</figcaption>{svg}</figure>')
        loss = [(h["step"], h["loss"]) for h in t.get("loss_history") or [] if h.get("loss") is not None]
        if loss:
            top = max(v for _, v in loss)
            figs.append('<figure class="fig"><figcaption>SFT loss</figcaption>'
                        + line_chart({"loss": loss}, x_label="step", y_label="loss", y_range=(0.0, top)) + "</figure>")
        if figs:
            what = ", ".join(f"{k} {t[k]}" for k in ("method", "rollout", "reward", "global_steps") if t.get(k))
            blocks.append(f"<h3>{escape(run.label)}</h3><p class=\"muted\">{escape(what)}; from "
                          f"{escape(str(t.get('base_model') or '?'))}</p>{''.join(figs)}")
    if not blocks:
        return ""
    return ('<section id="training"><h2>Training</h2><p class="muted">How each evaluated checkpoint was trained, '
            "from its safevlm_training.json (copied into the run's config.json).</p>" + "".join(blocks) + "</section>")


def render_html(runs: list[Run | Path] | Run | Path, max_rows: int = MAX_ROWS) -> str:
    """The whole ``report.html`` as a string. ``runs``: loaded runs or run directories."""
    runs = as_runs(runs)
    benches = bench_names(runs)
    thumbs = Thumbs()
    browser = _browser(runs, benches, thumbs, max_rows)
    judges = _judges_table(runs, benches)
    labels = _categories(runs, benches, "by_label") if any(
        (r.benchmarks.get(b) or {}).get("by_label") for r in runs for b in benches) else ""
    title = runs[0].label if len(runs) == 1 else f"{len(runs)} runs compared"
    body = (f'<section id="runs"><h2>Runs</h2>{_runs_table(runs)}</section>'
            f'<section id="summary"><h2>Summary</h2><p class="muted">Rates with 95% intervals '
            f'<code>value [low, high]</code> (Wilson for rates, bootstrap for means of scores), each with '
            f'its n; {NULL} where a metric has no samples. CRR = refused unsafe / unsafe, '
            'CAR = answered safe / safe, over-refusal = 1 − CAR, ASR = harmful compliance / unsafe. '
            '<span class="mark">[text only]</span>: the benchmark\'s images were missing and its items were '
            'sent without them.</p>'
            f"{_notes(runs)}{_summary_table(runs, benches)}{_delta_table(runs, benches)}</section>"
            + official_html(runs, benches)
            + _scatter(runs, benches)
            + f'<section id="categories"><h2>By risk category</h2>{_categories(runs, benches)}</section>'
            + (f'<section id="labels"><h2>By benchmark label</h2><p class="muted">The benchmark\'s own '
               "categories (scenario, family): safe items are split here, so over-refusal shows where it "
               f"happens.</p>{labels}</section>" if labels else "")
            + (f'<section id="judges"><h2>By judge</h2>{judges}</section>' if judges else "")
            + _training(runs)
            + f'<section id="errors"><h2>Errors</h2><p class="muted">Excluded from the metrics.</p>'
              f"{_errors_table(runs, benches)}</section>"
            + browser)
    nav = " ".join(f'<a href="#{k}">{k}</a>' for k in ("runs", "summary", "official", "scatter", "categories", "labels", "judges",
                                                         "training", "errors", "samples") if f'<section id="{k}">' in body)
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return _fill(_asset("template.html"), {
        "title": escape(f"safevlm report: {title}"), "heading": escape(title),
        "subtitle": escape(f"{len(runs)} run(s), {len(benches)} benchmark(s) · safevlm {__version__} · {created}"),
        "nav": nav, "css": _asset("report.css"), "thumbs": thumbs.css(), "body": body, "js": _asset("report.js")})
