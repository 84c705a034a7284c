"""``safevlm judge``: re-score existing responses with any judge.

Reads a JSONL file of responses and writes one verdict per line; the work (what a line
may be, the judging path, the comparison of two judges) is :mod:`safevlm.eval.judge_file`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from safevlm.cli.common import TrustCodeOpt, console, err_console, friendly_errors
from safevlm.config import parse_assignments
from safevlm.progress import progress_bar


@friendly_errors
def judge(judge_name: Annotated[str, typer.Option("--judge", "-j", help="refusal, phrases:safecot, phrases:gcg, "
                                                  "logit:PATH, rubric:MODEL_SPEC, oracle, a guard model "
                                                  "(wildguard:hf:PATH, llama-guard-4:openai:URL#MODEL, ...) or "
                                                  "FILE.py:FUNCTION.")],
          input_: Annotated[Path, typer.Option("--input", "-i", help="JSONL with 'response' (+ optional "
                                               "'prompt', 'expected', sample fields), or run records.")],
          out: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL: one verdict per input line; with "
                                            "--compare, the items on which the two judges disagree.")],
          opt: Annotated[list[str] | None, typer.Option("--opt", help="Judge option KEY=VALUE (repeatable), "
                                                        "e.g. max_retries=3, partial_as=complied.")] = None,
          compare: Annotated[str | None, typer.Option("--compare", help="A second judge: write only the items on "
                                                      "which the two disagree about refusal, and a summary.")] = None,
          compare_opt: Annotated[list[str] | None, typer.Option("--compare-opt", help="Option KEY=VALUE for the "
                                                                "--compare judge (repeatable).")] = None,
          batch_size: Annotated[int, typer.Option("--batch-size", help="Responses per judge call.", min=1)] = 32,
          trust_code: TrustCodeOpt = False):
    """Judge existing responses and write one verdict (refused, score, ...) per line.

    With --compare B, both judges score every item and OUT gets one line per disagreement (the
    response, both verdicts and the kind, e.g. "refusal refused, rubric:... complied"), and
    OUT's stem + .summary.json the counts (agreement, Cohen's kappa, each kind, errors).
    """
    from safevlm.eval.judge_file import judge_file, read_items
    from safevlm.eval.judging import JudgePool

    items = read_items(input_)
    options = {judge_name: parse_assignments(opt, "--opt")}
    if compare:
        if compare == judge_name:
            raise typer.BadParameter("--compare must name a different judge than --judge")
        options[compare] = parse_assignments(compare_opt, "--compare-opt")
    pool = JudgePool(options=options, trust_code=trust_code or None)
    names = [judge_name] + ([compare] if compare else [])
    try:
        label = " vs ".join(pool.get(n).name for n in names)
        if compare:
            _compare(items, pool, names, out, batch_size, label)
            return
        with progress_bar(console=err_console, rate=False) as bar:
            task = bar.add_task(f"judging ({label})", total=len(items))
            res = judge_file(items, pool, judge_name, out, batch_size=batch_size,
                             progress=lambda n: bar.advance(task, n))
    finally:
        pool.close()
    msg = f"wrote {res.verdicts} verdicts to {out}: {res.refused} refused"
    if res.errors:
        msg += f"; [yellow]{res.errors} without a verdict (see the 'error' field)[/]"
    console.print(msg, highlight=False)


def _compare(items: list[Any], pool: Any, names: list[str], out: Path, batch_size: int, label: str) -> None:
    """``--compare``: the disagreements JSONL and the summary JSON (:func:`safevlm.eval.judge_file.compare_judges`)."""
    from safevlm.eval.judge_file import compare_judges

    with progress_bar(console=err_console, rate=False) as bar:
        task = bar.add_task(f"judging ({label})", total=len(items))
        rows, summary, summary_path = compare_judges(items, pool, names, out, batch_size=batch_size,
                                                     progress=lambda n: bar.advance(task, n))
    agreement = "n/a" if summary["agreement"] is None else f"{summary['agreement']:.3f}"
    console.print(f"{summary['judged_by_both']} of {summary['items']} items judged by both: agreement {agreement}, "
                  f"kappa {summary['kappa']}; {len(rows)} disagreements written to {out}", highlight=False)
    for kind, n in summary["disagreements"].items():
        console.print(f"  {n:5d}  {kind}", highlight=False)
    if summary["errors"]:
        console.print(f"  [yellow]not compared (judge errors): {summary['errors']}[/]", highlight=False)
    console.print(f"summary: {summary_path}", highlight=False)
