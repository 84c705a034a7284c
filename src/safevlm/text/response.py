"""The one response parser: ``<think>``, ``<answer>`` and ``<prompt>`` blocks.

Reasoning models answer as ``<think>reasoning</think><answer>answer</answer>``
(SaFeR-VLM's format; docs/methods.md, "SaFeR-VLM: structured reward"); the guard's
rewriter writes ``<think>report</think><prompt>rewrite</prompt>`` (docs/methods.md,
"VLMGuard-R1: the rewriter and the guard"); most models write plain text. One set of
rules reads all three, so every consumer agrees on what "the answer" is:

- a block runs from its opening tag to its closing tag; **an unclosed block runs to
  the end of the text** (generation stopped inside it), and the response is then not
  ``complete``;
- the **answer** is the ``<answer>`` block when there is one; else the text after the
  last ``</think>``; else, when a ``<think>`` was opened and never closed, **empty**
  (the model never left its reasoning, so it answered nothing); else the whole text.
  A ``<prompt>`` block is never part of the answer, and stray tags are removed from it;
- ``<think>`` ends at ``</think>``, or at ``<answer>``/``<prompt>`` when those open
  inside an unclosed reasoning block;
- ``tagged``: both a think block and an answer block were found; ``well_formed``:
  exactly one closed think block followed by one closed answer block, with nothing
  but white space around them (what a format reward pays for).

Tags are matched case-insensitively.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TAG = re.compile(r"</?(?:think|answer|prompt)>", re.IGNORECASE)
_PROMPT_BLOCK = re.compile(r"<prompt>.*?(?:</prompt>|$)", re.IGNORECASE | re.DOTALL)
_WELL_FORMED = re.compile(r"^\s*<think>(?:(?!</?think>|</?answer>).)*</think>\s*"
                          r"<answer>(?:(?!</?think>|</?answer>).)*</answer>\s*$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class ParsedResponse:
    """A response split into its blocks (see the module docstring for the rules)."""

    text: str
    think: str | None
    answer: str
    prompt: str | None
    tagged: bool
    complete: bool
    well_formed: bool


def _block(text: str, low: str, tag: str, stops: tuple[str, ...] = ()) -> tuple[str | None, bool]:
    """Content of the first ``<tag>`` block and whether it was closed."""
    start = low.find(f"<{tag}>")
    if start < 0:
        return None, True
    body = start + len(tag) + 2
    end = low.find(f"</{tag}>", body)
    if end >= 0:
        return text[body:end].strip(), True
    cut = min([i for i in (low.find(f"<{s}>", body) for s in stops) if i >= 0], default=len(text))
    return text[body:cut].strip(), False


def parse_response(text: str | None) -> ParsedResponse:
    """Split ``text`` into reasoning, answer and rewritten prompt."""
    text = text or ""
    low = text.lower()
    think, think_closed = _block(text, low, "think", stops=("answer", "prompt"))
    answer_block, answer_closed = _block(text, low, "answer")
    prompt, prompt_closed = _block(text, low, "prompt")
    if answer_block is not None:
        answer = answer_block
    elif "</think>" in low:
        answer = text[low.rindex("</think>") + len("</think>"):]
    elif think is not None:
        answer = ""
    else:
        answer = text
    answer = _TAG.sub(" ", _PROMPT_BLOCK.sub(" ", answer)).strip()
    complete = think_closed and answer_closed and prompt_closed
    return ParsedResponse(text=text, think=think, answer=answer, prompt=prompt,
                          tagged=think is not None and answer_block is not None, complete=complete,
                          well_formed=bool(_WELL_FORMED.match(text)))


def tag_sequence(text: str | None) -> tuple[str, ...]:
    """The ``<think>``/``<answer>``/``<prompt>`` tags of ``text`` in order, lower-cased (for exact-shape checks
    such as the guard's, which want one block of each kind and nothing else)."""
    return tuple(t.lower() for t in _TAG.findall(text or ""))
