"""Chat-format SFT data (what ``safevlm safecot build`` writes) as a ``datasets.Dataset``.

One JSON object per line with ``messages`` (TRL's conversational format: a user turn
whose content lists ``{"type": "image"}`` blocks and a text block, then an assistant
turn) and ``images`` (paths, relative to the JSONL file or absolute). Extra fields
(provenance) are ignored. Every problem names the file and line; images are checked
to exist up front so a long run cannot die on item 9,000, and decoded lazily by
``datasets`` while training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safevlm.data.jsonl import read_jsonl
from safevlm.errors import DataError


def _check_row(path: Path, line: int, obj: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    messages = obj.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        raise DataError(path, "expected 'messages': a list with a user turn and an assistant turn", line=line)
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") or "content" not in m:
            raise DataError(path, "each message needs 'role' (system/user/assistant) and 'content'", line=line)
    if messages[-1]["role"] != "assistant":
        raise DataError(path, "the last message must be the assistant's answer (the training target)", line=line)
    images = obj.get("images") or []
    if not isinstance(images, list) or not all(isinstance(p, str) for p in images):
        raise DataError(path, "'images' must be a list of image paths", line=line)
    n_blocks = sum(1 for m in messages if isinstance(m["content"], list)
                   for part in m["content"] if isinstance(part, dict) and part.get("type") == "image")
    if n_blocks != len(images):
        raise DataError(path, f"{n_blocks} image block(s) in 'messages' but {len(images)} path(s) in 'images'",
                        line=line)
    resolved = []
    for p in images:
        full = (path.parent / p) if not Path(p).is_absolute() else Path(p)
        if not full.is_file():
            raise DataError(path, f"image {p} not found (looked for {full})", line=line)
        resolved.append(str(full))
    return resolved, messages


def load_chat_dataset(path: str | Path):
    """``Dataset`` with ``images`` (decoded lazily as PIL) and ``messages`` columns."""
    from datasets import Dataset, Image, Sequence

    path = Path(path)
    rows = {"images": [], "messages": []}
    for line, obj in read_jsonl(path):
        images, messages = _check_row(path, line, obj)
        rows["images"].append(images)
        rows["messages"].append(messages)
    if not rows["messages"]:
        raise DataError(path, "no training examples in the file")
    if any(rows["images"]) and not all(rows["images"]):
        raise DataError(path, "some examples have images and some do not; a VLM batch needs every example to "
                              "carry its image (split text-only data into its own file)")
    from datasets.utils import logging as ds_logging

    ds = Dataset.from_dict(rows)
    if not any(rows["images"]):
        return ds.remove_columns("images")
    shown = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()  # the cast is instant; its bar would only break ours
    try:
        return ds.cast_column("images", Sequence(Image()))
    finally:
        if shown:
            ds_logging.enable_progress_bar()
