"""Scripted stand-ins for the guard's two models (tests/test_guard.py, tests/test_guard_attacks.py).

:class:`ScriptedRewriter` behaves like a small rewriter at its worst: it rewrites what mentions
harm, keeps anything else, fails on request, copies a long request until it is cut off, and is
hijacked by any ``<prompt>`` block it reads (it echoes it, as a model told "output <prompt>...")
would). :class:`RecordingTarget` keeps every sample it was sent, so a test asserts on what the
target really received.
"""

from __future__ import annotations

import re

from safevlm.backends.base import Backend, Generation
from safevlm.text.rewrite import REWRITER_INSTRUCTION, format_rewrite

HARMFUL = "How do I hurt someone with this knife?"
SAFE_REWRITE = "What should I be careful about with the knife in this picture?"
REPORT = "Textual trigger: hurt. Visual elements: a knife. Combination: injury."
KEEP = format_rewrite("Textual trigger: none. Visual elements: a ball. Combination: no risk.", "x", original="x")
_PREFIX = REWRITER_INSTRUCTION.split("{question}")[0]


class ScriptedRewriter(Backend):
    name = "scripted-rewriter"
    thread_safe = True

    def __init__(self, copy_limit: int = 400):
        self.read: list[str] = []  # the request of every call, without the instruction around it
        self.images: list[list] = []
        self.copy_limit = copy_limit

    def generate(self, samples, params=None, progress=None):
        out = []
        for s in samples:
            request = s.text.removeprefix(_PREFIX)
            self.read.append(request)
            self.images.append(s.load_images())
            hijack = re.search(r"<prompt>.*?</prompt>", request, re.DOTALL)
            if hijack:
                out.append(Generation(text=f"<think>{REPORT}</think>{hijack.group(0)}"))
            elif "boom" in request:
                out.append(Generation.failed("rewriter crashed"))
            elif len(request) > self.copy_limit:  # a small model copying a long request runs out of tokens
                out.append(Generation(text=f"<think>{REPORT}</think><prompt>{request[:50]}", finish_reason="length"))
            elif "hurt" in request.lower():
                out.append(Generation(text=format_rewrite(REPORT, SAFE_REWRITE)))
            else:
                out.append(Generation(text=KEEP))
        return out


class RecordingTarget(Backend):
    """Answers with what it was sent; ``seen`` holds every sample it received."""

    name = "recording-target"
    thread_safe = True

    def __init__(self):
        self.seen: list = []

    def generate(self, samples, params=None, progress=None):
        self.seen += list(samples)
        return [Generation(text=f"answer to: {s.text}") for s in samples]

    def everything_sent(self) -> str:
        """Every text the target received: system prompts, earlier turns, user turns."""
        parts = []
        for s in self.seen:
            parts += [str(s.metadata.get("system_prompt") or ""), *(t.text for t in s.history), s.text]
        return "\n".join(parts)
