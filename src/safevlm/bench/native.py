"""Reading a benchmark's native files into raw records, with their location.

Every record carries ``where``: the file and the line (CSV, JSONL) or item key/index
(JSON), so a later error about a missing field can point at it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safevlm.data.jsonl import read_jsonl
from safevlm.errors import DataError


@dataclass(frozen=True)
class Where:
    """Location of a raw record: file plus 1-based line or item key."""

    path: Path
    line: int | None = None
    item: str | None = None

    def error(self, problem: str) -> DataError:
        return DataError(self.path, problem, line=self.line, item=self.item)


def read_records(path: Path, fmt: str | None = None) -> Iterator[tuple[Where, dict[str, Any]]]:
    """Yield ``(where, record)`` from a CSV, JSON (list or dict keyed by id) or JSONL file.

    JSON gives each record a ``_key`` field: its key in an object keyed by id, its 0-based
    position (as a string) in a list, so ``id: "{_key}"`` works for both shapes.
    """
    if not path.is_file():
        raise DataError(path, "benchmark file not found (check the data root or the spec's 'root')")
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt == "csv":
        yield from _read_csv(path)
    elif fmt == "jsonl":
        for lineno, obj in read_jsonl(path):
            yield Where(path, line=lineno), obj
    elif fmt == "json":
        yield from _read_json(path)
    else:
        raise DataError(path, f"unknown format {fmt!r}; expected csv, json or jsonl")


def _read_csv(path: Path) -> Iterator[tuple[Where, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise DataError(path, "empty CSV: expected a header row")
        try:
            for row in reader:
                where = Where(path, line=reader.line_num)
                if None in row:
                    raise where.error(f"{len(reader.fieldnames) + len(row[None])} fields, expected "
                                      f"{len(reader.fieldnames)} ({', '.join(reader.fieldnames)})")
                missing = [k for k, v in row.items() if v is None]
                if missing:
                    raise where.error(f"too few fields: missing {', '.join(missing)}")
                yield where, row
        except csv.Error as exc:
            raise DataError(path, f"malformed CSV: {exc}", line=reader.line_num) from exc


def _read_json(path: Path) -> Iterator[tuple[Where, dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"malformed JSON ({exc.msg})", line=exc.lineno) from exc
    if isinstance(data, list):
        items = ((str(i), rec) for i, rec in enumerate(data))
    elif isinstance(data, dict):
        items = ((str(k), rec) for k, rec in data.items())
    else:
        raise DataError(path, f"expected a JSON list or object of records, got {type(data).__name__}")
    for key, rec in items:
        where = Where(path, item=key)
        if not isinstance(rec, dict):
            raise where.error(f"expected a JSON object, got {type(rec).__name__}")
        yield where, {**rec, "_key": key}
