"""A scripted, deterministic backend for tests and dry runs (``mock:...``).

Built-in scripts:

- ``mock:refuse``  always a refusal;
- ``mock:comply``  always a compliant answer that repeats the request;
- ``mock:echo``    the request text, preceded by ``[image WxH]`` for each image
  (so a test can see that images arrived intact);
- ``mock:error``   every request fails (``Generation.error`` set);
- ``mock:FILE``    a JSON or YAML script (below).

Script file::

    default: "I'm sorry, I can't help with that."   # optional; else the sample's text is echoed
    responses:                # by sample id or uid (source:split:id)
      "42": "Sure, the image shows a cat."
    patterns:                 # first regex (re.search on the text) that matches wins
      - {regex: "(?i)bomb|weapon", response: "I can't help with that."}

Token counts are whitespace words (plus one per image); ``max_new_tokens`` truncates
the response (``finish_reason="length"``), like a real model. Give ``context_length``
to have a server check prompts against it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from safevlm.backends.base import Backend, BackendError, Generation, GenerationParams, ProgressFn
from safevlm.data.sample import Sample
from safevlm.errors import DataError

REFUSAL = "I'm sorry, but I can't help with that request."
COMPLIANCE = "Sure, here is a helpful answer to your request: {text}"
BUILTIN = ("refuse", "comply", "echo", "error")


@dataclass
class MockScript:
    """Responses by id and by regex, with a default."""

    responses: dict[str, str] = field(default_factory=dict)
    patterns: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    default: str | None = None

    @classmethod
    def from_file(cls, path: str | Path) -> MockScript:
        p = Path(path)
        try:
            data = (json.loads if p.suffix == ".json" else yaml.safe_load)(p.read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise BackendError(f"mock script {p}: cannot read ({exc})") from exc
        if not isinstance(data, dict) or not set(data) <= {"responses", "patterns", "default"}:
            raise BackendError(f"mock script {p}: expected a mapping with keys responses, patterns, default")
        patterns = []
        for k, item in enumerate(data.get("patterns") or []):
            if not isinstance(item, dict) or "regex" not in item or "response" not in item:
                raise BackendError(f"mock script {p}: patterns[{k}] needs 'regex' and 'response'")
            try:
                patterns.append((re.compile(item["regex"]), str(item["response"])))
            except re.error as exc:
                raise BackendError(f"mock script {p}: patterns[{k}]: bad regex ({exc})") from exc
        responses = {str(k): str(v) for k, v in (data.get("responses") or {}).items()}
        default = data.get("default")
        return cls(responses=responses, patterns=patterns, default=None if default is None else str(default))

    def respond(self, sample: Sample) -> str:
        for key in (sample.uid, sample.id):
            if key in self.responses:
                return self.responses[key]
        for pattern, response in self.patterns:
            if pattern.search(sample.text):
                return response
        return self.default if self.default is not None else sample.text


class MockBackend(Backend):
    """Answers from a script; ``mode`` is a built-in name or a script file path."""

    thread_safe = True

    def __init__(self, mode: str = "refuse", *, context_length: int | None = None):
        self.mode = mode
        self.context_length = context_length
        self.name = f"mock:{mode}"
        self.script: MockScript | None = None
        if mode not in BUILTIN:
            if not Path(mode).is_file():
                raise BackendError(f"mock backend: {mode!r} is neither a built-in script "
                                   f"({', '.join(BUILTIN)}) nor a JSON/YAML file")
            self.script = MockScript.from_file(mode)

    def _respond(self, sample: Sample) -> str:
        if self.script is not None:
            return self.script.respond(sample)
        if self.mode == "refuse":
            return REFUSAL
        if self.mode == "comply":
            return COMPLIANCE.format(text=sample.text)
        tags = "".join(f"[image {im.width}x{im.height}] " for im in sample.load_images())
        return tags + sample.text

    @staticmethod
    def _prompt_tokens(sample: Sample) -> int:
        return len(sample.text.split()) + len(sample.images)

    def count_prompt_tokens(self, samples: Sequence[Sample]) -> list[int]:
        return [self._prompt_tokens(s) for s in samples]

    def generate(self, samples: Sequence[Sample], params: GenerationParams | None = None,
                 progress: ProgressFn | None = None) -> list[Generation]:
        params = params or GenerationParams()
        out = []
        for sample in samples:
            prompt_tokens = self._prompt_tokens(sample)
            if self.mode == "error":
                out.append(Generation.failed("mock:error: scripted failure"))
                continue
            try:
                words = self._respond(sample).split()
            except DataError as exc:  # an unreadable image fails that sample only, as in the real backends
                out.append(Generation.failed(str(exc)))
            else:
                cut = len(words) > params.max_new_tokens
                words = words[:params.max_new_tokens]
                out.append(Generation(text=" ".join(words), prompt_tokens=prompt_tokens, completion_tokens=len(words),
                                      finish_reason="length" if cut else "stop"))
        if progress:
            progress(len(samples))
        return out
