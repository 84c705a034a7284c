"""Judging a file of responses: :func:`judge_file` and :func:`compare_judges` (``safevlm judge``).

Anyone's outputs can be scored with the same judges as a safevlm run, through the same
judging path (:mod:`safevlm.eval.judging`: a judge that fails gives error verdicts, never a
score). A line is either a run record (``samples.jsonl`` of a run, or
:func:`safevlm.eval.responses.generate`'s output) or a plain object with ``response`` and
optional ``prompt``, ``expected`` and the fields of a full sample. A line whose generation
failed gets an error verdict instead of being judged as an empty answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from safevlm.errors import DataError

SAMPLE_KEYS = ("id", "text", "expected")

#: ``(line, record, JudgeInput or the reason it cannot be judged)``
Item = tuple[int, dict[str, Any], Any]


def read_items(path: Path) -> list[Item]:
    """``(line, record, JudgeInput or failure message)`` per line; malformed lines raise ``path:line``."""
    from safevlm.data.jsonl import read_jsonl
    from safevlm.data.run_record import parse_record
    from safevlm.data.sample import Sample
    from safevlm.eval.judging import judge_input
    from safevlm.eval.selection import sample_from_record
    from safevlm.judges.base import EXPECTED_VALUES, JudgeInput

    items: list[Item] = []
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


def judged_batches(items: list[Item], pool: Any, names: list[str], batch_size: int
                   ) -> Iterator[tuple[list[Item], dict[str, list[Any]]]]:
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


@dataclass
class JudgeFileResult:
    """What :func:`judge_file` wrote: verdicts, how many refused, how many have no verdict (``error``)."""

    path: Path
    verdicts: int
    refused: int
    errors: int


def judge_file(source: str | Path | list[Item], pool: Any, judge: str, out: str | Path, *, batch_size: int = 32,
               progress: Callable[[int], None] | None = None) -> JudgeFileResult:
    """Judge a JSONL file of responses (or its :func:`read_items`) with the judge named ``judge`` of
    ``pool`` (:class:`safevlm.eval.judging.JudgePool`); one verdict line per input line in ``out``."""
    from safevlm.judges import JudgeVerdict

    items = read_items(Path(source)) if isinstance(source, (str, Path)) else source
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    refused = errors = 0
    with out.open("w", encoding="utf-8") as fh:
        for chunk, by_judge in judged_batches(items, pool, [judge], batch_size):
            for (lineno, rec, it), v in zip(chunk, by_judge[judge], strict=True):
                v = v if v is not None else JudgeVerdict.failed(pool.get(judge).name, it)
                key = {k: rec[k] for k in ("uid", "id") if k in rec}
                fh.write(json.dumps({"line": lineno, **key, **v.to_dict()}, ensure_ascii=False, default=str) + "\n")
                refused += bool(v.refused)
                errors += v.error is not None
            fh.flush()
            if progress is not None:
                progress(len(chunk))
    return JudgeFileResult(out, len(items), refused, errors)


def compare_judges(source: str | Path | list[Item], pool: Any, names: list[str], out: str | Path, *,
                   batch_size: int = 32, progress: Callable[[int], None] | None = None
                   ) -> tuple[list[dict[str, Any]], dict[str, Any], Path]:
    """Both judges of ``names`` on every item: the disagreements to ``out`` (JSONL) and the summary
    (:class:`safevlm.eval.compare.Comparison`) to ``out``'s stem + ``.summary.json``; returns
    ``(rows, summary, summary_path)``."""
    from safevlm.data.jsonl import atomic_write, write_json
    from safevlm.eval.compare import Comparison

    items = read_items(Path(source)) if isinstance(source, (str, Path)) else source
    out = Path(out)
    cmp = Comparison(*names)
    rows = []
    for chunk, by_judge in judged_batches(items, pool, names, batch_size):
        for k, (lineno, rec, it) in enumerate(chunk):
            key = {"line": lineno, **{f: rec[f] for f in ("uid", "id") if f in rec}}
            row = cmp.add(key, it, by_judge[names[0]][k], by_judge[names[1]][k])
            if row is not None:
                rows.append(row)
        if progress is not None:
            progress(len(chunk))
    with atomic_write(out) as fh:  # user judges may put any object in detail: written as text
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    summary = cmp.summary()
    summary_path = out.with_name(out.stem + ".summary.json")
    write_json(summary_path, summary)
    return rows, summary, summary_path
