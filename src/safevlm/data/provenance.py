"""What built a training-data folder or a checkpoint: ``data_card.json`` and ``safevlm_training.json``.

Two typed files beside the run record (:mod:`safevlm.data.run_record`):

- :class:`DataCard` (``data_card.json`` + its ``README.md``), written by every builder of
  training data: ``safevlm safecot build`` (``safevlm-safecot/1``), ``safevlm safer select``
  (``safevlm-qi-box/1``) and ``safevlm guard synth`` (``safevlm-guard-synth/1``); read by
  the trainers (their data summary) and by the gym recipes (a finished step to reuse);
- :class:`TrainingRecord` (``safevlm_training.json``), written by the trainers (SFT, GRPO,
  a LoRA merge) beside the checkpoint; read by evaluation, selection and GRPO (how the model
  was prompted in training) and by the reports (its curves).

Each has one writer (``write``) and one reader (``read``). The keys every file of the kind
holds are typed fields; the keys of one format (a SafeCoT card's ``by_template``, GRPO's
``history``) stay in ``extra``. The JSON layout is the contract: a file is written back with
its keys in the order they were given, so the bytes are what the builders always wrote. A writer
must give every typed key; a reader takes what a file has (a hand-written record that only names
its ``prompt_wrapper`` is still read, its other typed fields None) and never adds keys to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from safevlm.data.jsonl import write_json
from safevlm.errors import DataError

_META = ("extra", "order", "absent")


@dataclass(kw_only=True)
class _TypedJson:
    """A JSON object with typed common keys; the rest kept as given, in the order given."""

    FILE: ClassVar[str]
    extra: dict[str, Any] = field(default_factory=dict)  # the format's own keys
    order: tuple[str, ...] = ()  # the keys in file order (empty: typed fields first, then extra)
    absent: tuple[str, ...] = ()  # typed keys the file read did not have (None here, not written back)

    @classmethod
    def _typed(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name not in _META]

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "", *, strict: bool = True):
        """The object for a builder's dict (``strict``: a missing common key is a :class:`DataError`) or
        for a parsed file (not strict: a missing common key is None and stays out of :meth:`to_dict`)."""
        if not isinstance(raw, dict):
            raise DataError(where or cls.FILE, f"expected a JSON object, got {type(raw).__name__}")
        typed = cls._typed()
        missing = tuple(k for k in typed if k not in raw)
        if missing and strict:
            raise DataError(where or cls.FILE, f"missing {', '.join(missing)} (a {cls.FILE} holds "
                            f"{', '.join(typed)})")
        return cls(**{k: raw.get(k) for k in typed}, extra={k: v for k, v in raw.items() if k not in typed},
                   order=tuple(raw), absent=missing)

    def to_dict(self) -> dict[str, Any]:
        merged = {**{k: getattr(self, k) for k in self._typed() if k not in self.absent}, **self.extra}
        return {**{k: merged[k] for k in self.order if k in merged}, **merged}

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)

    def with_extra(self, **extra: Any):
        """A copy with ``extra`` keys added at the end (or replaced where they stand)."""
        return type(self).from_dict({**self.to_dict(), **extra}, strict=not self.absent)

    @classmethod
    def read(cls, folder: str | Path):
        """The file in ``folder``, or None when there is none; one that is not a JSON object is a
        :class:`DataError`; a missing common key is None (a hand-written or older file)."""
        path = Path(folder) / cls.FILE
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(path, f"not JSON ({exc.msg})", line=exc.lineno) from None
        return cls.from_dict(raw, str(path), strict=False)


@dataclass(kw_only=True)
class DataCard(_TypedJson):
    """``data_card.json``: how a training-data folder was built and what it holds (module docstring)."""

    FILE: ClassVar[str] = "data_card.json"
    README: ClassVar[str] = "README.md"

    format: str  # "safevlm-safecot/1", "safevlm-qi-box/1", "safevlm-guard-synth/1"
    safevlm_version: str
    config: dict[str, Any]  # the builder's settings, as given
    prompt_wrapper: dict[str, str]  # how the prompts in the folder are wrapped (docs/methods.md)
    counts: dict[str, Any]
    seconds: float

    def write(self, folder: str | Path, readme: str) -> Path:
        """Write ``data_card.json`` and the card as the folder's ``README.md``; the one writer of both."""
        folder = Path(folder)
        write_json(folder / self.FILE, self.to_dict())
        (folder / self.README).write_text(readme, encoding="utf-8")
        return folder / self.FILE


@dataclass(kw_only=True)
class TrainingRecord(_TypedJson):
    """``safevlm_training.json``: how a checkpoint was trained (module docstring)."""

    FILE: ClassVar[str] = "safevlm_training.json"

    base_model: str
    base_model_path: str
    mode: str  # "lora" or "full"
    settings: dict[str, Any]  # the resolved trainer settings
    data: dict[str, Any]  # the training data's summary (from its data card where it has one)
    prompt_wrapper: dict[str, str]  # how prompts were wrapped in training; later stages do the same
    global_steps: int
    train_loss: float | None
    wall_s: float

    def write(self, folder: str | Path) -> Path:
        """Write ``folder/safevlm_training.json``; the one writer of the file."""
        path = Path(folder) / self.FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path
