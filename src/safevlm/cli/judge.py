"""``safevlm judge``: re-score existing responses with any judge.

Reads a JSONL file of responses and writes one verdict per line, so anyone's outputs
can be scored with the same judges as a safevlm run, through the same judging path
(:mod:`safevlm.eval.judging`: a judge that fails gives error verdicts, never a score).
A line is either a run record (``samples.jsonl`` of a run, or ``safevlm generate``'s
output) or a plain object with ``response`` and optional ``prompt``, ``expected`` and
the fields of a full sample. A line whose generation failed gets an error verdict
instead of being judged as an empty answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from safevlm.cli.common import TrustCodeOpt, console, err_console, friendly_errors
from safevlm.config import parse_assignments
from safevlm.errors import DataError
from safevlm.progress import progress_bar

SAMPLE_KEYS = ("id", "text", "expected")


def read_items(path: Path) -> list[tuple[int, dict[str, Any], Any]]:
    """``(line, record, JudgeInput or failure message)`` per line; malformed lines raise ``path:line``."""
    from safevlm.data.jsonl import read_jsonl
    from safevlm.data.records import parse_record
    from safevlm.data.sample import Sample
    from safevlm.eval.judging import judge_input
    from safevlm.eval.selection import sample_from_record
    from safevlm.judges.base import EXPECTED_VALUES, JudgeInput

    items = []
    for lineno, rec in read_jsonl(path):
        if {"uid", "bench", "generation"} <= set(rec):  # a run record
            run_rec = parse_record(rec, path, lineno)
            if run_rec.generation_failed:
                items.append((lineno, rec, f"no response to judge (generation failed: {run_rec.generation.error})"))
                continue
            sample = sample_from_record(run_rec, path.parent)
            items.append((lineno, rec, judge_input(run_rec.response, sample, run_rec.text)))
            continue
        if rec.get("error"):
            items.append((lineno, rec, f"no response to judge (generation failed: {rec['error']})"))
            continue
        if not isinstance(rec.get("response"), str):
            raise DataError(path, "each line needs a 'response' string", line=lineno)
        expected = rec.get("expected")
        if expected is not None and expected not in EXPECTED_VALUES:
            raise DataError(path, f"'expected' must be one of {', '.join(EXPECTED_VALUES)}, got {expected!r}",
                            line=lineno)
        for key in ("prompt", "text"):
            if rec.get(key) is not None and not isinstance(rec[key], str):
                raise DataError(path, f"'{key}' must be a string", line=lineno)
        sample = None
        if all(rec.get(k) is not None for k in SAMPLE_KEYS):
            fields = {k: v for k, v in rec.items() if k in Sample.model_fields}
            fields.setdefault("source", "input")
            try:
                sample = Sample.from_record(fields, base_dir=path.parent)
            except (ValidationError, ValueError, TypeError) as exc:
                raise DataError(path, f"not a valid sample: {exc}", line=lineno) from exc
        prompt = rec.get("prompt", rec.get("text"))
        items.append((lineno, rec, JudgeInput(response=rec["response"], prompt=prompt, expected=expected,
                                              sample=sample)))
    return items


def _judged_batches(items, pool: Any, names: list[str], batch_size: int):
    """Per batch: the batch, and per judge name one verdict (or None when not judged) per item."""
    from safevlm.eval.judging import run_judge

    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        todo = [(k, it) for k, (_, _, it) in enumerate(chunk) if not isinstance(it, str)]
        by_judge = {}
        for name in names:
            verdicts: list[Any] = [None] * len(chunk)
            for (k, _), v in zip(todo, run_judge(pool.get(name), name, [it for _, it in todo])[0], strict=True):
                verdicts[k] = v
            by_judge[name] = verdicts
        yield chunk, by_judge


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
    from safevlm.eval.judging import JudgePool
    from safevlm.judges import JudgeVerdict

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
        out.parent.mkdir(parents=True, exist_ok=True)
        refused = errors = 0
        with out.open("w", encoding="utf-8") as fh, progress_bar(console=err_console, rate=False) as bar:
            task = bar.add_task(f"judging ({label})", total=len(items))
            for chunk, by_judge in _judged_batches(items, pool, names, batch_size):
                for (lineno, rec, it), v in zip(chunk, by_judge[judge_name], strict=True):
                    v = v if v is not None else JudgeVerdict.failed(pool.get(judge_name).name, it)
                    key = {k: rec[k] for k in ("uid", "id") if k in rec}
                    fh.write(json.dumps({"line": lineno, **key, **v.to_dict()}, ensure_ascii=False, default=str) + "\n")
                    refused += bool(v.refused)
                    errors += v.error is not None
                fh.flush()
                bar.advance(task, len(chunk))
    finally:
        pool.close()
    msg = f"wrote {len(items)} verdicts to {out}: {refused} refused"
    if errors:
        msg += f"; [yellow]{errors} without a verdict (see the 'error' field)[/]"
    console.print(msg, highlight=False)


def _compare(items, pool, names: list[str], out: Path, batch_size: int, label: str) -> None:
    """``--compare``: the disagreements JSONL and the summary JSON (safevlm.eval.compare)."""
    from safevlm.data.jsonl import atomic_write, write_json
    from safevlm.eval.compare import Comparison

    cmp = Comparison(*names)
    rows = []
    with progress_bar(console=err_console, rate=False) as bar:
        task = bar.add_task(f"judging ({label})", total=len(items))
        for chunk, by_judge in _judged_batches(items, pool, names, batch_size):
            for k, (lineno, rec, it) in enumerate(chunk):
                key = {"line": lineno, **{f: rec[f] for f in ("uid", "id") if f in rec}}
                row = cmp.add(key, it, by_judge[names[0]][k], by_judge[names[1]][k])
                if row is not None:
                    rows.append(row)
            bar.advance(task, len(chunk))
    with atomic_write(out) as fh:  # user judges may put any object in detail: written as text, as above
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    summary = cmp.summary()
    summary_path = out.with_name(out.stem + ".summary.json")
    write_json(summary_path, summary)
    agreement = "n/a" if summary["agreement"] is None else f"{summary['agreement']:.3f}"
    console.print(f"{summary['judged_by_both']} of {summary['items']} items judged by both: agreement {agreement}, "
                  f"kappa {summary['kappa']}; {len(rows)} disagreements written to {out}", highlight=False)
    for kind, n in summary["disagreements"].items():
        console.print(f"  {n:5d}  {kind}", highlight=False)
    if summary["errors"]:
        console.print(f"  [yellow]not compared (judge errors): {summary['errors']}[/]", highlight=False)
    console.print(f"summary: {summary_path}", highlight=False)
