"""The strict pydantic base of every spec model: unknown keys are errors that suggest the closest key.

Shared by the benchmark spec (:mod:`safevlm.bench.spec`) and its ``sources`` block
(:mod:`safevlm.bench.sources`).
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


def closest(word: str, allowed: list[str] | set[str] | tuple[str, ...]) -> str | None:
    """The allowed word nearest to ``word`` (typos, case, ``-`` for ``_``), or None if none is close."""
    norm = {a.lower().replace("-", "_"): a for a in allowed}
    hit = difflib.get_close_matches(word.lower().replace("-", "_"), list(norm), n=1, cutoff=0.6)
    return norm[hit[0]] if hit else None


def did_you_mean(word: str, allowed: list[str] | set[str] | tuple[str, ...]) -> str:
    hint = closest(word, allowed)
    return f" (did you mean {hint!r}?)" if hint else ""


class Strict(BaseModel):
    """Unknown keys are one error each, naming the closest allowed key."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @classmethod
    def public_keys(cls) -> list[str]:
        return [f.alias or n for n, f in cls.model_fields.items() if not f.exclude]

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = cls.public_keys()
            names = {n for n, f in cls.model_fields.items() if not f.exclude}
            unknown = [k for k in data if k not in allowed and k not in names]
            if unknown:
                raise ValueError("; ".join(f"unknown key {k!r}{did_you_mean(str(k), allowed)}" for k in unknown)
                                 + f"; allowed: {', '.join(allowed)}")
        return data
