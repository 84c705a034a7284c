"""JSONL and JSON files, and saved images: the one place safevlm reads and writes them.

A malformed line stops the read with ``path:line: what was expected``; nothing is
skipped silently. Every write is atomic (a temporary file, flushed to disk, then
renamed), so a crash or a kill never leaves a half-written file where a finished one
was. Images made in memory are saved as PNG named by content hash
(:func:`store_image`), so identical images are stored once and a folder of data stays
self-contained.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from safevlm.data.sample import Sample
from safevlm.errors import DataError

#: the longest line :func:`read_jsonl` accepts; a longer one is damage or the wrong file, not a record
MAX_LINE_BYTES = 16 * 2**20


def read_jsonl(path: str | Path, *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; 1-based line numbers.

    Lines are read as bytes, at most ``max_line_bytes`` at a time, so a binary file
    or a 100 MB line stops with ``path:line`` at once instead of filling memory; text
    must be UTF-8 (a BOM on the first line is allowed).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "file not found")
    with p.open("rb") as fh:
        for lineno in itertools.count(1):
            raw = fh.readline(max_line_bytes + 1)
            if not raw:
                return
            if len(raw) > max_line_bytes:
                raise DataError(p, f"line longer than {max_line_bytes:,} bytes; expected one JSON object per line "
                                   "(is this a JSONL file?)", line=lineno)
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(p, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                                   "expected one JSON object per line", line=lineno) from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(p, f"malformed JSON ({exc.msg} at column {exc.colno}); expected one JSON object per "
                                   "line", line=lineno) from exc
            except RecursionError:
                raise DataError(p, "JSON nested too deeply", line=lineno) from None
            if not isinstance(obj, dict):
                raise DataError(p, f"expected a JSON object, got {type(obj).__name__}", line=lineno)
            yield lineno, obj


def _describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "<record>"
        parts.append(f"field '{loc}': {err['msg']}")
    return "; ".join(parts)


def read_samples(path: str | Path) -> Iterator[Sample]:
    """Read samples from JSONL; image paths are relative to the file's folder."""
    p = Path(path)
    for lineno, obj in read_jsonl(p):
        try:
            yield Sample.from_record(obj, base_dir=p.parent)
        except ValidationError as exc:
            raise DataError(p, f"not a valid sample: {_describe_validation(exc)}", line=lineno) from exc


@contextmanager
def naming_path(path: str | Path) -> Iterator[None]:
    """Give an ``OSError`` that names no file (a write or flush on a full disk) ``path`` as its file name."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Any]:
    """Open ``path`` for writing text; the file appears (replacing any old one) only when the block ends."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    try:
        with naming_path(p), tmp.open("w", encoding="utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(p)
    finally:
        tmp.unlink(missing_ok=True)


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as JSONL atomically; return the count."""
    n = 0
    with atomic_write(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    with atomic_write(path) as fh:
        fh.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_samples(samples: Iterable[Sample], path: str | Path, *, copy_images: bool = False) -> int:
    """Write samples as JSONL; return the count.

    In-memory images are saved as PNG under ``<stem>_images/`` (named by content hash,
    so identical renders are stored once). With ``copy_images`` on-disk images are
    copied there too, making the output folder independent of the source data.
    """
    p = Path(path)
    image_dir = p.parent / f"{p.stem}_images"

    def records() -> Iterator[dict[str, Any]]:
        for sample in samples:
            for ref in sample.images:
                if ref.in_memory or copy_images:
                    ref.path = str(store_image(ref, image_dir))
            yield sample.to_record(base_dir=p.parent)

    return write_jsonl(p, records())


def store_image(ref, image_dir: Path) -> Path:
    """Save an image as PNG named by content hash under ``image_dir``; return its path."""
    buf = io.BytesIO()
    ref.load().save(buf, format="PNG")
    data = buf.getvalue()
    image_dir.mkdir(parents=True, exist_ok=True)
    out = image_dir / f"{hashlib.sha256(data).hexdigest()[:16]}.png"
    if not out.exists():
        out.write_bytes(data)
    return out
