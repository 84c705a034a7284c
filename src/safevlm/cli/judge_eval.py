"""``safevlm judge-eval``: score any judge against human labels (:mod:`safevlm.eval.meta`).

Each ``--labels`` is scored on its own (the built-in development sets' labels mean different things,
so they are never pooled): a table of accuracy, precision, recall, F1 and Cohen's kappa with their
95 % bootstrap intervals, the confusion matrix, the per-source breakdown, and the judge's
fingerprint; ``OUT/<set>.json`` holds all of it and ``OUT/<set>.disagreements.jsonl`` every item the
judge and the humans disagree on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from safevlm.cli.common import DataRootOpt, TrustCodeOpt, console, err_console, friendly_errors
from safevlm.config import parse_assignments

SHOWN = (("accuracy", "accuracy"), ("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
         ("kappa", "kappa"))


def _fig(m: dict[str, Any] | None) -> str:
    return "-" if m is None else f"{m['value']:.3f} [dim]({m['low']:.3f}-{m['high']:.3f})[/]"


def _table(title: str, report: dict[str, Any]) -> Table:
    table = Table(title=title)
    table.add_column("source")
    table.add_column("n", justify="right")
    for _, t in SHOWN:
        table.add_column(t, justify="right")
    rows = [("all", report["coverage"]["decided"], report["overall"])]
    rows += [(s, b["decided"], b) for s, b in report["by_source"].items()]
    for name, n, block in rows:
        table.add_row(name, str(n), *(_fig(block.get(k)) for k, _ in SHOWN))
    return table


def _confusion(report: dict[str, Any]) -> str:
    c = report["overall"]["confusion"]
    return (f"confusion (human rows, judge columns): refused->refused {c['refused']['refused']}, "
            f"refused->complied {c['refused']['complied']}, complied->refused {c['complied']['refused']}, "
            f"complied->complied {c['complied']['complied']}")


@friendly_errors
def judge_eval(judge_name: Annotated[str, typer.Option("--judge", "-j", help="Any judge --judge takes: refusal, "
                                                       "phrases:gcg, logit:PATH, rubric:MODEL_SPEC, a guard model "
                                                       "(wildguard:hf:PATH, ...), FILE.py:FUNCTION (with "
                                                       "--trust-code).")],
               labels: Annotated[list[str], typer.Option("--labels", "-l", help="A labelled JSONL/CSV file, or a "
                                                         "built-in set: hand, vlguard-train, vlguard-test, "
                                                         "chatgpt-refusals, gptfuzz, rbr-gold, or 'builtin' for all "
                                                         "(repeatable; each scored on its own).")],
               out: Annotated[Path, typer.Option("--out", "-o", help="Folder for <set>.json and "
                                                 "<set>.disagreements.jsonl.")],
               column: Annotated[list[str] | None, typer.Option("--map", help="FIELD=COLUMN: where a file keeps the "
                                                                "response, label, source, prompt or id "
                                                                "(repeatable).")] = None,
               label_map: Annotated[list[str] | None, typer.Option("--label-map", help="VALUE=refused|partial|complied"
                                                                   " for a file's label values (repeatable; "
                                                                   "true/1/yes already mean refused).")] = None,
               partial_as: Annotated[str, typer.Option("--partial-as", help="A file's partial refusals count as "
                                                       "refused (default) or complied.")] = "refused",
               opt: Annotated[list[str] | None, typer.Option("--opt", help="Judge option KEY=VALUE (repeatable).")]
               = None,
               data_root: DataRootOpt = None,
               batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Responses per judge call.")] = 64,
               resamples: Annotated[int, typer.Option("--resamples", min=10, help="Bootstrap resamples.")] = 1000,
               seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
               trust_code: TrustCodeOpt = False):
    """Score a judge against human labels: accuracy, precision, recall, F1, kappa (95 % CIs), confusion matrix,
    per-source figures, disagreements and the judge's fingerprint."""
    from safevlm import config
    from safevlm.data.jsonl import atomic_write, write_json
    from safevlm.eval.judging import JudgePool
    from safevlm.eval.labelled import BUILTIN, builtin_set, read_labelled
    from safevlm.eval.meta import meta_evaluate
    from safevlm.progress import progress_bar

    if partial_as not in ("refused", "complied"):
        raise typer.BadParameter("--partial-as must be refused or complied")
    columns = {k: str(v) for k, v in parse_assignments(column, "--map").items()}
    words = {k: str(v) for k, v in parse_assignments(label_map, "--label-map").items()}
    root = config.data_root(data_root)
    names: list[str] = []
    for item in labels:
        names += list(BUILTIN) if item == "builtin" else [item]
    options = parse_assignments(opt, "--opt")
    pool = JudgePool(options={judge_name: options}, trust_code=trust_code or None)
    summary: dict[str, Any] = {}
    fp: dict[str, Any] | None = None
    try:
        judge = pool.get(judge_name)
        for name in names:
            rows = (builtin_set(name, root) if name in BUILTIN and not Path(name).is_file()
                    else read_labelled(Path(name), columns, words, partial_as))
            key = name if name in BUILTIN else re.sub(r"[^\w.-]+", "_", Path(name).stem)
            with progress_bar(console=err_console, rate=False) as bar:
                task = bar.add_task(f"{judge_name} on {key}", total=len(rows))
                report = meta_evaluate(judge, judge_name, rows, options=options, batch_size=batch_size,
                                       resamples=resamples, seed=seed,
                                       progress=lambda k, t=task: bar.advance(t, k))
            report["labels"] = name
            out.mkdir(parents=True, exist_ok=True)
            write_json(out / f"{key}.json", {k: v for k, v in report.items() if k != "disagreements"})
            with atomic_write(out / f"{key}.disagreements.jsonl") as fh:
                for d in report["disagreements"]:
                    fh.write(json.dumps(d, ensure_ascii=False, default=str) + "\n")
            cov = report["coverage"]
            console.print(_table(f"{judge_name} vs human labels: {key}", report))
            console.print(_confusion(report), highlight=False)
            left = f"; left out: {cov['judge_errors']} judge errors, {cov['undecided']} undecided" \
                if cov["judge_errors"] or cov["undecided"] else ""
            console.print(f"{cov['decided']} of {cov['n']} judged{left}; {len(report['disagreements'])} "
                          f"disagreements in {out / (key + '.disagreements.jsonl')}", highlight=False)
            summary[key] = {"n": report["n"], "coverage": cov, **{k: report["overall"][k] for k, _ in SHOWN}}
            fp = report["fingerprint"]
    finally:
        pool.close()
    write_json(out / "summary.json", {"judge": judge_name, "fingerprint": fp, "sets": summary})
    console.print(f"judge fingerprint {fp['id'] if fp else '-'} (model, prompt, settings, parser version; equal ids "
                  f"are comparable); summary: {out / 'summary.json'}", highlight=False)
