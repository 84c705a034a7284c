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

from safevlm.cli.common import console, err_console, friendly_errors
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


@friendly_errors
def judge(judge_name: Annotated[str, typer.Option("--judge", "-j", help="refusal, phrases:safecot, phrases:gcg, "
                                                  "logit:PATH, rubric:MODEL_SPEC, oracle or FILE.py:FUNCTION.")],
          input_: Annotated[Path, typer.Option("--input", "-i", help="JSONL with 'response' (+ optional "
                                               "'prompt', 'expected', sample fields).")],
          out: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL, one verdict per input line.")],
          opt: Annotated[list[str] | None, typer.Option("--opt", help="Judge option KEY=VALUE (repeatable), "
                                                        "e.g. max_retries=3, device=cpu.")] = None,
          batch_size: Annotated[int, typer.Option("--batch-size", help="Responses per judge call.", min=1)] = 32):
    """Judge existing responses and write one verdict (refused, score, ...) per line."""
    from safevlm.eval.judging import JudgePool, run_judge
    from safevlm.judges import JudgeVerdict

    items = read_items(input_)
    pool = JudgePool(options={judge_name: parse_assignments(opt, "--opt")})
    try:
        judge_ = pool.get(judge_name)
        out.parent.mkdir(parents=True, exist_ok=True)
        refused = errors = 0
        with out.open("w", encoding="utf-8") as fh, progress_bar(console=err_console, rate=False) as bar:
            task = bar.add_task(f"judging ({judge_.name})", total=len(items))
            for start in range(0, len(items), batch_size):
                chunk = items[start:start + batch_size]
                todo = [(k, it) for k, (_, _, it) in enumerate(chunk) if not isinstance(it, str)]
                verdicts: list[JudgeVerdict | None] = [None] * len(chunk)
                for (k, _), v in zip(todo, run_judge(judge_, judge_name, [it for _, it in todo])[0], strict=True):
                    verdicts[k] = v
                for (lineno, rec, it), v in zip(chunk, verdicts, strict=True):
                    v = v if v is not None else JudgeVerdict.failed(judge_.name, it)
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
