"""Asking an LLM for a structured (JSON) reply, with re-asks: the loop every LLM grader shares.

The rubric judge and the rubric reward both send each item a prompt, parse the reply
strictly, and re-ask an unusable reply with the problem stated, up to ``max_retries``
times. A failed call (timeout, HTTP error: the backend has already retried) ends that
item at once. What comes back per item is the parsed value or the reason there is
none, with every raw reply kept: a failure is never a score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from safevlm.backends import Backend, GenerationParams
from safevlm.data.sample import Sample

RETRY_NOTE = "\n\nYour previous reply could not be used ({problem}). Reply again with only the JSON object."


@dataclass
class Asked:
    """One item's outcome: ``value`` (the parsed reply) or ``error``, and every raw reply."""

    value: Any = None
    error: str | None = None
    raw: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def ask_structured(backend: Backend, requests: Sequence[Sample],
                   parse: Callable[[str], Any] | Sequence[Callable[[str], Any]], *,
                   params: GenerationParams, max_retries: int = 2) -> list[Asked]:
    """Ask each request, parse each reply; ``parse`` (one for all, or one per request) raises ``ValueError``
    with the problem to re-ask. A parser that raises anything else fails its own item, never the batch."""
    parsers = list(parse) if isinstance(parse, Sequence) else [parse] * len(requests)
    out = [Asked() for _ in requests]
    notes: dict[int, str | None] = {k: None for k in range(len(requests))}
    for _attempt in range(max_retries + 1):
        todo = sorted(notes)
        if not todo:
            break
        batch = [requests[k] if notes[k] is None else
                 requests[k].model_copy(update={"text": requests[k].text + RETRY_NOTE.format(problem=notes[k])})
                 for k in todo]
        for k, gen in zip(todo, backend.generate(batch, params), strict=True):
            if gen.error is not None:
                out[k].error = f"judge call failed: {gen.error}"
                del notes[k]
                continue
            out[k].raw.append(gen.text)
            try:
                out[k].value = parsers[k](gen.text)
            except ValueError as exc:
                notes[k] = str(exc)[:300]
                continue
            except Exception as exc:  # noqa: BLE001 - a reply that breaks the parser fails its item only
                notes[k] = f"unreadable reply ({type(exc).__name__})"
                continue
            del notes[k]
    for k, problem in notes.items():
        out[k].error = f"unusable judge reply after {len(out[k].raw)} attempt(s): {problem}"
    return out
