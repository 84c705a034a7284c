"""Chat-format training data (what ``safevlm safecot build`` writes): checked, then a ``datasets.Dataset``.

One JSON object per line with ``messages`` (TRL's conversational format: a user turn
whose content lists ``{"type": "image"}`` blocks and a text block, then an assistant
turn) and ``images`` (paths, relative to the JSONL file or absolute). Extra fields
(provenance) are ignored.

:func:`check_chat_data` reads and checks the whole file before anything heavy is
imported or loaded (trainers call it before the model), so every problem is one
``path:line`` message within seconds, not a pyarrow or Pillow traceback after the
model has loaded: UTF-8 and JSON, message roles and content parts, one content form
(all strings or all part lists, as Arrow needs one column type), image blocks
matching image paths, and every image present and readable as an image (its header;
the pixels are decoded lazily by ``datasets`` while training). GRPO-style prompt-only
data is checked with ``require_answer=False``.

Image paths come from the data, so they are confined by their real path
(:mod:`safevlm.data.paths`) to the file's own folder, safevlm's data root (where
``safevlm safecot build`` points without ``--copy-images``) and any ``image_roots``
the user names: a path or a symbolic link that leads elsewhere (``/etc/passwd``) is
refused, naming the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from safevlm.data.jsonl import read_jsonl
from safevlm.data.paths import real, within
from safevlm.errors import DataError

ROLES = ("system", "user", "assistant")
PART_TYPES = ("text", "image")


@dataclass
class ChatData:
    """Checked rows of one chat-format file."""

    path: Path
    images: list[list[str]] = field(default_factory=list)
    messages: list[list[dict[str, Any]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.messages)

    def to_dataset(self):
        """``Dataset`` with ``images`` (decoded lazily as PIL) and ``messages`` columns."""
        from datasets import Dataset, Image, Sequence
        from datasets.utils import logging as ds_logging

        ds = Dataset.from_dict({"images": self.images, "messages": self.messages})
        if not any(self.images):
            return ds.remove_columns("images")
        shown = ds_logging.is_progress_bar_enabled()
        ds_logging.disable_progress_bar()  # the cast is instant; its bar would only break ours
        try:
            return ds.cast_column("images", Sequence(Image()))
        finally:
            if shown:
                ds_logging.enable_progress_bar()


def _content_kind(path: Path, line: int, k: int, content: Any) -> str:
    """``"string"`` or ``"list of parts"``; a malformed content is a :class:`DataError`."""
    if isinstance(content, str):
        return "string"
    if not isinstance(content, list):
        raise DataError(path, f"messages[{k}].content must be a string or a list of parts, got "
                              f"{type(content).__name__}", line=line)
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in PART_TYPES:
            raise DataError(path, f"messages[{k}].content[{j}] must be {{\"type\": \"text\", \"text\": ...}} or "
                                  "{\"type\": \"image\"}", line=line)
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise DataError(path, f"messages[{k}].content[{j}].text must be a string", line=line)
    return "list of parts"


def image_roots(data_file: Path, extra: Sequence[str | Path] = ()) -> list[Path]:
    """Where a data file's images may be: its own folder, safevlm's data root, and ``extra``."""
    from safevlm import config

    return [data_file.parent, config.data_root(), *map(Path, extra)]


def confine_image(data_file: Path, line: int, ref: str, roots: Sequence[Path]) -> Path:
    """The real path of the image ``ref`` names in ``data_file``, or a :class:`DataError` when it leads
    outside ``roots`` (module docstring)."""
    full = (data_file.parent / ref) if not Path(ref).is_absolute() else Path(ref)
    confined = within(full, roots)
    if confined is None:
        raise DataError(data_file, f"image {ref} resolves to {real(full)}, outside the data's folder and the data "
                                   f"root ({', '.join(str(real(r)) for r in roots)}); refused (copy the images next "
                                   "to the data, or allow a folder with the setting image_roots=[DIR])", line=line)
    return confined


def _check_image(path: Path, line: int, ref: str, roots: Sequence[Path]) -> str:
    full = confine_image(path, line, ref, roots)
    if not full.is_file():
        raise DataError(path, f"image {ref} not found (looked for {full})", line=line)
    try:
        with Image.open(full):  # the header only
            pass
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(path, f"image {ref} is not a readable image ({exc.__class__.__name__})", line=line) from None
    return str(full)


def _check_row(path: Path, line: int, obj: dict[str, Any], require_answer: bool,
               kinds: dict[str, int], roots: Sequence[Path]) -> tuple[list[str], list[dict[str, Any]]]:
    messages = obj.get("messages")
    least = 2 if require_answer else 1
    if not isinstance(messages, list) or len(messages) < least:
        need = "a user turn and an assistant turn" if require_answer else "at least a user turn"
        raise DataError(path, f"expected 'messages': a list with {need}", line=line)
    for k, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or "content" not in m:
            raise DataError(path, "each message needs 'role' (system/user/assistant) and 'content'", line=line)
        kind = _content_kind(path, line, k, m["content"])
        kinds.setdefault(kind, line)
        if len(kinds) > 1:
            other = next(key for key in kinds if key != kind)
            raise DataError(path, f"messages[{k}].content is a {kind} but line {kinds[other]} uses a {other}; use "
                                  "one form in the whole file (lists of parts, as `safevlm safecot build` writes)",
                            line=line)
    if require_answer and messages[-1]["role"] != "assistant":
        raise DataError(path, "the last message must be the assistant's answer (the training target)", line=line)
    images = obj.get("images") or []
    if not isinstance(images, list) or not all(isinstance(p, str) for p in images):
        raise DataError(path, "'images' must be a list of image paths", line=line)
    n_blocks = sum(1 for m in messages if isinstance(m["content"], list)
                   for part in m["content"] if part["type"] == "image")
    if n_blocks != len(images):
        raise DataError(path, f"{n_blocks} image block(s) in 'messages' but {len(images)} path(s) in 'images'",
                        line=line)
    return [_check_image(path, line, p, roots) for p in images], messages


def check_chat_data(path: str | Path, *, require_answer: bool = True, extra_image_roots: Sequence[str | Path] = ()
                    ) -> ChatData:
    """Read and check every line of a chat-format JSONL file (see the module docstring)."""
    path = Path(path)
    data = ChatData(path)
    roots = image_roots(path, extra_image_roots)
    kinds: dict[str, int] = {}  # content form -> first line using it
    for line, obj in read_jsonl(path):
        images, messages = _check_row(path, line, obj, require_answer, kinds, roots)
        data.images.append(images)
        data.messages.append(messages)
    if not data.messages:
        raise DataError(path, "no training examples in the file")
    if any(data.images) and not all(data.images):
        raise DataError(path, "some examples have images and some do not; a VLM batch needs every example to "
                              "carry its image (split text-only data into its own file)")
    return data


def load_chat_dataset(path: str | Path):
    """:func:`check_chat_data` then :meth:`ChatData.to_dataset`."""
    return check_chat_data(path).to_dataset()
