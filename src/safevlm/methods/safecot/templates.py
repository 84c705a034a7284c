"""The SafeCoT target texts: v0 refusals, v1 per-category reasons, suffixes.

They live in an editable YAML file (``templates/default.yaml``, our own wording;
docs/methods.md, "SafeCoT: data": 8-17 image-independent reasons per category, then a connective
refusal suffix). A user file passed with ``--templates`` is merged over it: its
categories are added or replace ours by key, and any of ``v0_refusals``,
``v1_suffix``, ``v2_suffix``, ``warn_suffix`` it sets win. ``warn_suffix`` ends the
v1 and v2 targets of ``safe_complete`` items (a warning instead of a refusal).

Lookup for a sample (:meth:`TemplateBook.entry_for`): its native label
(``Sample.category``) against every entry's ``match`` list and key, then its
normalised ``risk_category`` against the keys, then ``other``. Labels are compared
normalised (case, punctuation and a leading ``NN-`` number ignored), so
"01-Illegal_Activitiy" and "illegal activitiy" are the same label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safevlm.config import read_yaml_mapping
from safevlm.data.sample import Sample
from safevlm.errors import ConfigError

DEFAULT_TEMPLATES = Path(__file__).resolve().parent / "templates" / "default.yaml"
FALLBACK = "other"


def normalise_label(label: str | None) -> str:
    text = re.sub(r"^\s*\d+\s*[-_.]\s*", "", str(label or "")).lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


@dataclass(frozen=True)
class Category:
    key: str
    reasons: tuple[str, ...]
    match: tuple[str, ...] = ()
    description: str = ""


@dataclass
class TemplateBook:
    v0_refusals: tuple[str, ...]
    v1_suffix: str
    v2_suffix: str
    warn_suffix: str
    categories: dict[str, Category]
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if FALLBACK not in self.categories:
            raise ConfigError(f"SafeCoT templates ({', '.join(self.sources)}): a category {FALLBACK!r} is required "
                              "as the fallback for labels no entry matches")
        self._by_label: dict[str, str] = {}
        for key, cat in self.categories.items():
            for label in (key, *cat.match):
                self._by_label.setdefault(normalise_label(label), key)

    def entry_for(self, sample: Sample) -> Category:
        """The category entry that supplies ``sample``'s v1 reasons (see module docstring)."""
        return self.categories[self.key_for(sample.category, sample.risk_category)]

    def key_for(self, category: str | None, risk_category: str | None = None) -> str:
        for label in (category, risk_category):
            key = self._by_label.get(normalise_label(label)) if label else None
            if key is not None:
                return key
        return FALLBACK

    def to_dict(self) -> dict[str, Any]:
        return {"v0_refusals": list(self.v0_refusals), "v1_suffix": self.v1_suffix, "v2_suffix": self.v2_suffix,
                "warn_suffix": self.warn_suffix,
                "categories": {k: {"description": c.description, "match": list(c.match), "reasons": list(c.reasons)}
                               for k, c in self.categories.items()}}


def _read(path: Path) -> dict[str, Any]:
    data = read_yaml_mapping(path, "SafeCoT templates")
    unknown = sorted(set(data) - {"version", "v0_refusals", "v1_suffix", "v2_suffix", "warn_suffix", "categories"})
    if unknown:
        raise ConfigError(f"SafeCoT templates: {path}: unknown keys {unknown}")
    return data


def _strings(value: Any, what: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(s, str) and s.strip() for s in value):
        raise ConfigError(f"SafeCoT templates: {path}: {what} must be a non-empty list of non-empty strings")
    return tuple(s.strip() for s in value)


def _categories(raw: Any, path: Path) -> dict[str, Category]:
    if not isinstance(raw, dict):
        raise ConfigError(f"SafeCoT templates: {path}: 'categories' must map a key to its entry")
    out = {}
    for key, entry in raw.items():
        if not isinstance(entry, dict) or "reasons" not in entry:
            raise ConfigError(f"SafeCoT templates: {path}: category {key!r} needs a 'reasons' list")
        match = entry.get("match") or []
        if not isinstance(match, list):
            raise ConfigError(f"SafeCoT templates: {path}: category {key!r}: 'match' must be a list of labels")
        out[str(key)] = Category(str(key), _strings(entry["reasons"], f"category {key!r}: reasons", path),
                                 tuple(str(m) for m in match), str(entry.get("description", "")))
    return out


def load_templates(*extra: str | Path | None) -> TemplateBook:
    """The shipped templates with each file of ``extra`` merged over them, in order."""
    merged: dict[str, Any] = {"categories": {}}
    sources = []
    for path in (DEFAULT_TEMPLATES, *[Path(p) for p in extra if p]):
        data = _read(path)
        sources.append(str(path))
        for key in ("v0_refusals",):
            if key in data:
                merged[key] = _strings(data[key], key, path)
        for key in ("v1_suffix", "v2_suffix", "warn_suffix"):
            if key in data:
                if not isinstance(data[key], str) or not data[key].strip():
                    raise ConfigError(f"SafeCoT templates: {path}: {key} must be a non-empty string")
                merged[key] = data[key].strip()
        merged["categories"].update(_categories(data.get("categories") or {}, path))
    return TemplateBook(merged["v0_refusals"], merged["v1_suffix"], merged["v2_suffix"], merged["warn_suffix"],
                        merged["categories"], sources)
