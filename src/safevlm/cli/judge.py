"""``safevlm judge``: re-score existing responses with any judge.

Reads a JSONL file of responses (``response``; optional ``prompt``, ``expected``,
and the fields of a full sample, e.g. the output of ``safevlm generate``) and
writes one verdict per line, so anyone's outputs can be scored with the same
judges as a safevlm run. A line whose generation failed (``error`` set) gets an
error verdict instead of being judged as an empty answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from safevlm.cli.common import console, err_console, friendly_errors
from safevlm.errors import ConfigError, DataError
from safevlm.progress import progress_bar

SAMPLE_KEYS = ("id", "text", "expected")


def parse_opts(opts: list[str] | None) -> dict[str, Any]:
    """``["max_retries=3", "device=cpu"]`` -> ``{"max_retries": 3, "device": "cpu"}`` (values read as YAML)."""
    out: dict[str, Any] = {}
    for opt in opts or []:
        key, eq, value = opt.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--opt {opt!r}: expected KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value) if value else ""
    return out


def read_items(path: Path) -> list[tuple[int, dict[str, Any], Any]]:
    """``(line, record, JudgeInput or failure message)`` per line; malformed lines raise ``path:line``."""
    from safevlm.data.jsonl import read_jsonl
    from safevlm.data.sample import Sample
    from safevlm.judges.base import EXPECTED_VALUES, JudgeInput

    items = []
    for lineno, rec in read_jsonl(path):
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
    from safevlm.judges import JudgeVerdict, get_judge

    items = read_items(input_)
    judge_ = get_judge(judge_name, **parse_opts(opt))
    out.parent.mkdir(parents=True, exist_ok=True)
    refused = errors = 0
    with out.open("w", encoding="utf-8") as fh, progress_bar(console=err_console, rate=False) as bar:
        task = bar.add_task(f"judging ({judge_.name})", total=len(items))
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            todo = [(k, it) for k, (_, _, it) in enumerate(chunk) if not isinstance(it, str)]
            verdicts: list[JudgeVerdict | None] = [None] * len(chunk)
            for (k, _), v in zip(todo, judge_.judge([it for _, it in todo]), strict=True):
                verdicts[k] = v
            for (lineno, rec, it), v in zip(chunk, verdicts, strict=True):
                v = v if v is not None else JudgeVerdict.failed(judge_.name, it)
                key = {k: rec[k] for k in ("uid", "id") if k in rec}
                fh.write(json.dumps({"line": lineno, **key, **v.to_dict()}, ensure_ascii=False, default=str) + "\n")
                refused += bool(v.refused)
                errors += v.error is not None
            fh.flush()
            bar.advance(task, len(chunk))
    msg = f"wrote {len(items)} verdicts to {out}: {refused} refused"
    if errors:
        msg += f"; [yellow]{errors} without a verdict (see the 'error' field)[/]"
    console.print(msg, highlight=False)
