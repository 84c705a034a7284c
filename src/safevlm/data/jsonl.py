"""JSONL reading and writing with errors that name the file and line.

A malformed line stops the read with ``path:line: what was expected``; nothing is
skipped silently. Writing saves in-memory images next to the JSONL file so the
output is self-contained.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from safevlm.data.sample import Sample
from safevlm.errors import DataError


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; 1-based line numbers."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "file not found")
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(p, f"malformed JSON ({exc.msg} at column {exc.colno}); expected one JSON object per line", line=lineno) from exc
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


def write_samples(samples: Iterable[Sample], path: str | Path, *, copy_images: bool = False) -> int:
    """Write samples as JSONL; return the count.

    In-memory images are saved as PNG under ``<stem>_images/`` (named by content hash,
    so identical renders are stored once). With ``copy_images`` on-disk images are
    copied there too, making the output folder independent of the source data.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    image_dir = p.parent / f"{p.stem}_images"
    tmp = p.with_suffix(p.suffix + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for sample in samples:
            for ref in sample.images:
                if ref.in_memory or copy_images:
                    ref.path = str(store_image(ref, image_dir))
            fh.write(json.dumps(sample.to_record(base_dir=p.parent), ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(p)
    return n


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
