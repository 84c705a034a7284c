"""The one record every stage passes around: a :class:`Sample`.

A sample is a user turn (text plus zero or more images) with the behaviour a safe,
helpful model should show on it. ``expected`` has three values:

- ``refuse``: the request is harmful; the model should decline.
- ``comply``: the request is benign; the model should answer helpfully.
- ``safe_complete``: a safe, helpful answer that names the risk is right (SIUO,
  VLSBench, specialised-advice scenarios of MM-SafetyBench); a plain refusal is safe
  but not helpful.

Samples are stored one per JSONL line; images are written as paths relative to the
JSONL file so a folder of data can be moved as a whole.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from safevlm.errors import DataError


class Expected(str, Enum):
    """What a safe and helpful model should do with a sample."""

    REFUSE = "refuse"
    COMPLY = "comply"
    SAFE_COMPLETE = "safe_complete"

    @property
    def is_unsafe(self) -> bool:
        """True for items a model must not simply comply with (CRR's denominator)."""
        return self is not Expected.COMPLY


def is_unsafe(expected: str | Expected) -> bool:
    """:attr:`Expected.is_unsafe` for a stored value (``"refuse"`` / ``"comply"`` / ``"safe_complete"``).

    The one definition of "unsafe" every metric, judge and report uses; an unknown
    value is an error, never silently safe.
    """
    return Expected(expected).is_unsafe


class ImageRef(BaseModel):
    """An image given by path (on disk) or held in memory (rendered, decoded).

    Only the path is serialised; an in-memory image must be saved (see
    :func:`safevlm.data.jsonl.write_samples`) before it can be written to JSONL.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: str | None = None
    _image: Image.Image | None = PrivateAttr(default=None)
    _factory: Callable[[], Image.Image] | None = PrivateAttr(default=None)

    @classmethod
    def from_image(cls, image: Image.Image) -> ImageRef:
        ref = cls()
        ref._image = image
        return ref

    @classmethod
    def lazy(cls, factory: Callable[[], Image.Image]) -> ImageRef:
        """An image made on demand (e.g. rendered typography), never held longer than needed."""
        ref = cls()
        ref._factory = factory
        return ref

    @property
    def in_memory(self) -> bool:
        return self.path is None and (self._image is not None or self._factory is not None)

    def exists(self) -> bool:
        return self.in_memory or (self.path is not None and Path(self.path).is_file())

    def load(self) -> Image.Image:
        """Return the image as RGB, with an error naming the file if it cannot be read."""
        if self._image is not None:
            return self._image.convert("RGB")
        if self._factory is not None and self.path is None:
            return self._factory().convert("RGB")
        if self.path is None:
            raise DataError("<image>", "image reference has neither a path nor pixels")
        return open_image(self.path)


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image; raise :class:`DataError` naming the file otherwise."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "image file not found")
    try:
        with Image.open(p) as im:
            im.load()
            return im.convert("RGB")
    except (OSError, SyntaxError, ValueError) as exc:  # PIL raises these for truncated/corrupt files
        raise DataError(p, f"corrupt or unreadable image ({exc.__class__.__name__}: {exc})") from exc


def check_image(path: str | Path) -> None:
    """Cheap integrity check (header and chunk checksums, no full decode).

    Catches missing, truncated and corrupt files at load time so a run does not die
    on them halfway; :func:`open_image` still reports anything it finds later.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "image file not found")
    try:
        with Image.open(p) as im:
            im.verify()
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(p, f"corrupt or unreadable image ({exc.__class__.__name__}: {exc})") from exc


#: ``Sample.metadata`` key of a system prompt sent before the conversation (the backends send it).
SYSTEM_PROMPT_KEY = "system_prompt"


class Turn(BaseModel):
    """An earlier turn of a multi-turn conversation (see :attr:`Sample.history`)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    text: str


class Sample(BaseModel):
    """One benchmark or training item.

    Attributes:
        id: unique within ``source``/``split``.
        source: benchmark name (``figstep``, ``gym``...).
        split: variant or split (``safebench``, ``test``...).
        text: the user turn's text.
        images: zero or more images, in the order they are shown to the model.
        expected: the behaviour a safe, helpful model should show.
        category: the benchmark's own risk/topic label, verbatim.
        risk_category: the normalised label (see :mod:`safevlm.bench.categories`).
        reference: a reference answer, where the benchmark has one.
        choices: multiple-choice options (letter -> text), where the benchmark has them.
        answer: the correct choice letter or the gold short answer.
        history: earlier turns of the conversation, oldest first, alternating user /
            assistant and ending with an assistant turn; ``text`` is the last user turn.
            Images belong to the first user turn. Empty for single-turn items.
        group: items scored together by the paired metric (an unsafe request and its safe
            twin; see :func:`safevlm.eval.metrics.paired`), unique within the benchmark variant;
            None for an item that belongs to no group.
        metadata: anything else the benchmark carries (kept for reports and filters);
            ``metadata["system_prompt"]`` is sent as a system turn.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    id: str
    source: str
    split: str = "default"
    text: str
    images: list[ImageRef] = Field(default_factory=list)
    expected: Expected
    category: str | None = None
    risk_category: str | None = None
    reference: str | None = None
    choices: dict[str, str] | None = None
    answer: str | None = None
    history: list[Turn] = Field(default_factory=list)
    group: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("history")
    @classmethod
    def _alternating(cls, v: list[Turn]) -> list[Turn]:
        for k, turn in enumerate(v):
            want = "user" if k % 2 == 0 else "assistant"
            if turn.role != want:
                raise ValueError(f"history[{k}] must be a {want} turn (turns alternate, starting with the user)")
        if v and v[-1].role != "assistant":
            raise ValueError("history must end with an assistant turn (the sample's text is the next user turn)")
        return v

    @field_validator("id", mode="before")
    @classmethod
    def _id_to_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    @field_validator("images", mode="before")
    @classmethod
    def _paths_to_refs(cls, v: Any) -> Any:
        if isinstance(v, (str, os.PathLike)):
            v = [v]
        out = []
        for item in v or []:
            if isinstance(item, (str, os.PathLike)):
                out.append(ImageRef(path=str(item)))
            elif isinstance(item, Image.Image):
                out.append(ImageRef.from_image(item))
            else:
                out.append(item)
        return out

    @property
    def uid(self) -> str:
        """Globally unique key: ``source:split:id``."""
        return f"{self.source}:{self.split}:{self.id}"

    @property
    def has_images(self) -> bool:
        return bool(self.images)

    def images_available(self) -> bool:
        return all(ref.exists() for ref in self.images)

    def load_images(self) -> list[Image.Image]:
        return [ref.load() for ref in self.images]

    def to_record(self, base_dir: str | Path | None = None) -> dict[str, Any]:
        """A JSON-ready dict; image paths relative to ``base_dir`` when given."""
        record = self.model_dump(mode="json", exclude={"images"}, exclude_none=True)
        paths = []
        for ref in self.images:
            if ref.path is None:
                raise DataError(f"<sample {self.uid}>", "in-memory image must be saved before serialising")
            paths.append(os.path.relpath(ref.path, base_dir) if base_dir is not None else ref.path)
        record["images"] = paths
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any], base_dir: str | Path | None = None) -> Sample:
        """Build from a JSON dict; relative image paths are resolved against ``base_dir``."""
        images = record.get("images") or []
        if isinstance(images, str):
            images = [images]
        if base_dir is not None:
            images = [str(Path(base_dir) / p) if not os.path.isabs(p) else p for p in images]
        return cls.model_validate({**record, "images": images})
