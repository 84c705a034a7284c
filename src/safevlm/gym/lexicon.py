"""The gym's lexicon: synonyms for every content word, read from the shipped ``lexicon.json``.

Built once by ``scripts/build_gym_lexicon.py`` (WordNet 3.0 synsets filtered by hand, plus
hand entries); the gym never needs WordNet itself. Each concept has a ``head`` (the word
the gym's answers use: "hurt", "knife", "a small child") and entries, some ``held``: held
entries never occur in a training *request*, only in definitions ("To injure means to
hurt."), and ``gym:test-para`` asks with them (docs/gym.md, "Language").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LEXICON_FILE = Path(__file__).with_name("lexicon.json")


@dataclass(frozen=True)
class Entry:
    text: str
    held: bool
    source: str


@dataclass(frozen=True)
class Concept:
    id: str
    kind: str  # noun, verb, phrase, plural, adjective: how a definition is phrased
    head: str
    entries: tuple[Entry, ...]

    @property
    def seen(self) -> tuple[str, ...]:
        return tuple(e.text for e in self.entries if not e.held)

    @property
    def held(self) -> tuple[str, ...]:
        return tuple(e.text for e in self.entries if e.held)

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(e.text for e in self.entries)


@cache
def concepts() -> dict[str, Concept]:
    data = json.loads(LEXICON_FILE.read_text(encoding="utf-8"))
    return {cid: Concept(cid, c["kind"], c["head"], tuple(Entry(e["text"], e["held"], e["from"]) for e in c["entries"]))
            for cid, c in data["concepts"].items()}


def concept(cid: str) -> Concept:
    return concepts()[cid]


def held_words() -> frozenset[str]:
    """Every entry held out of training requests."""
    return frozenset(w for c in concepts().values() for w in c.held)
