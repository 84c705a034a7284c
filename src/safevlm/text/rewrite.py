"""The rewriter's protocol (VLMGuard-R1): what it is asked, what it answers, how that is read.

docs/methods.md, "VLMGuard-R1". The rewriter sees the user's image and
:func:`rewriter_prompt` (the instruction around the user's text) and answers
``<think>REPORT</think><prompt>REWRITE</prompt>``: a risk report (the textual trigger,
the visual elements, how they combine), then the request the target model will get.
The synthesis stages write training targets in this format (:func:`format_rewrite`)
and the guard reads the rewriter's output with :func:`parse_rewrite`; both sides share
this module, so the format is defined once. The tags are read by the one response parser
(:func:`safevlm.text.response.parse_response`); :func:`parse_rewrite` adds the guard's
strictness on top: exactly one closed ``<think>`` block, then one closed ``<prompt>`` block,
no other tag anywhere and nothing but white space around them; anything else is refused
(the guard then fails closed).

A request that needs no change is answered ``<prompt>[unchanged]</prompt>`` (:data:`KEEP`)
rather than copied: the guard then passes the request the rewriter read, byte for byte.
Copying a prompt is where a small rewriter errs (on the gym, 1 M parameters, copies of
held-out phrasings drifted into other questions and cost benign accuracy), and the marker
is also shorter to generate. A rewriter that copies instead still works: the copy is used
as is.

The user's text is data to the rewriter, never protocol: :func:`neutralise` turns every
spelling of a protocol marker in it (``<think>``, ``</prompt>``, ``<answer>``, ``[unchanged]``,
in any case, with spaces, fullwidth or hidden by zero-width characters) into an inert
``(think)`` / ``(/prompt)`` / ``(unchanged)`` before the rewriter sees it, so no marker the
rewriter reads or echoes can come from the user, and "unchanged" is always the rewriter's
own decision. Text without markers is left exactly as it is. A text that spells the
rewriter's output markers (:func:`imitates_output`) is never kept unchanged: a small
rewriter can still be talked into ``[unchanged]``, so the guard refuses it instead.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from safevlm.text.response import parse_response, tag_sequence

REWRITER_INSTRUCTION = ("Rewrite the user's request so that a model gives a safe, specific and helpful answer. "
                        "First write a risk report in <think></think>, then the rewritten request in "
                        "<prompt></prompt>.\nRequest: {question}")
#: The report's three labelled parts, in order (the synthesis validator checks them).
REPORT_LABELS = ("Textual trigger:", "Visual elements:", "Combination:")

#: The only tag sequence a rewriter output may hold.
_REWRITE_TAGS = ("<think>", "</think>", "<prompt>", "</prompt>")
MAX_REWRITE_CHARS = 2000
#: The rewrite that means "send the user's request as it is".
KEEP = "[unchanged]"


@dataclass(frozen=True)
class Rewrite:
    """A parsed rewriter output: the risk report and the rewritten request."""

    report: str
    prompt: str  # :data:`KEEP` when the request is to be sent as it is

    @property
    def keeps_request(self) -> bool:
        return self.prompt == KEEP

    def applied_to(self, original: str) -> str:
        """The text the target gets for the user's ``original`` request."""
        return original if self.keeps_request else self.prompt


class RewriteParseError(ValueError):
    """The rewriter's output is not ``<think>...</think><prompt>...</prompt>`` with a usable prompt."""


_MARKER = re.compile(r"<\s*(/?)\s*(think|prompt|answer)\b[^<>]*>|\[\s*(unchanged)\s*\]", re.IGNORECASE)


def _fold(text: str) -> str:
    """NFKC (fullwidth ``＜`` is ``<``) without invisible format characters (zero-width, bidi, tags)."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch) != "Cf")


def neutralise(text: str) -> str:
    """``text`` with every protocol marker made inert (module docstring); unchanged when it has none.

    Markers are looked for in the folded text (:func:`_fold`), so look-alike and hidden
    spellings count; text that holds one is returned folded, with each marker rewritten.
    """
    folded = _fold(text)
    if not _MARKER.search(folded):
        return text
    return _MARKER.sub(lambda m: f"({m.group(3).lower()})" if m.group(3)
                       else f"({m.group(1)}{m.group(2).lower()})", folded)


_OUTPUT_MARKER = re.compile(r"<\s*/?\s*prompt\b[^<>]*>|\[\s*unchanged\s*\]", re.IGNORECASE)


def imitates_output(text: str) -> bool:
    """Whether ``text`` spells the rewriter's own output markers (``<prompt>``, ``</prompt>``,
    ``[unchanged]``, in any spelling). No request needs them; an attack on the guard does,
    so the guard never keeps such a text unchanged, whatever the rewriter answers."""
    return bool(_OUTPUT_MARKER.search(_fold(text)))


def rewriter_prompt(question: str) -> str:
    """The rewriter's user turn for ``question`` (the image goes with it)."""
    return REWRITER_INSTRUCTION.format(question=question)


def format_rewrite(report: str, prompt: str, original: str | None = None) -> str:
    """The training target for a report and a rewrite (:data:`KEEP` when it equals ``original``)."""
    prompt = prompt.strip()
    if original is not None and prompt == original.strip():
        prompt = KEEP
    return f"<think>{report.strip()}</think><prompt>{prompt}</prompt>"


def parse_rewrite(text: str) -> Rewrite:
    """Read a rewriter output; :class:`RewriteParseError` says what is wrong (the guard then falls back)."""
    text = text or ""
    parsed = parse_response(text)
    tags = tag_sequence(text)
    if parsed.prompt is not None and "</prompt>" not in tags:
        raise RewriteParseError("unclosed <prompt> (cut off?)")
    if parsed.prompt is not None and tag_sequence(parsed.prompt):
        raise RewriteParseError("nested tags inside <prompt>")
    # the exact shape: the four tags in order, and no text before <think> or outside the blocks
    # (parse_response's answer is what stands after </think> once the <prompt> block is taken out)
    if tags != _REWRITE_TAGS or parsed.answer or not text.lstrip().lower().startswith("<think>"):
        raise RewriteParseError("expected <think>report</think><prompt>rewrite</prompt>")
    prompt = parsed.prompt or ""
    if not prompt:
        raise RewriteParseError("empty <prompt>")
    if len(prompt) > MAX_REWRITE_CHARS:
        raise RewriteParseError(f"rewrite longer than {MAX_REWRITE_CHARS} characters")
    return Rewrite(report=parsed.think or "", prompt=prompt)
