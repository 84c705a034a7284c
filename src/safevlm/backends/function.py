"""A backend whose answers a Python function computes: ``FunctionBackend(fn)``.

For "models" that are not models: the gym oracle writing a teacher's output from an
item's truth (SafeCoT v2 explanations, the guard's three synthesis stages), scripted
teachers in tests, a rule-based baseline. ``fn(sample) -> str`` is called per sample;
an exception becomes that sample's failed :class:`Generation` (with the message),
like a request that failed, never a crash of the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from safevlm.backends.base import Backend, Generation, GenerationParams, ProgressFn
from safevlm.data.sample import Sample


class FunctionBackend(Backend):
    """Answers each sample with ``fn(sample)``."""

    thread_safe = True

    def __init__(self, fn: Callable[[Sample], str], name: str = "function"):
        self.fn = fn
        self.name = name

    def generate(self, samples: Sequence[Sample], params: GenerationParams | None = None,
                 progress: ProgressFn | None = None) -> list[Generation]:
        out = []
        for sample in samples:
            try:
                text = self.fn(sample)
            except Exception as exc:  # noqa: BLE001 - a failure is that sample's result, see the module docstring
                out.append(Generation.failed(str(exc) or type(exc).__name__))
            else:
                out.append(Generation(text=text, prompt_tokens=len(sample.text.split()),
                                      completion_tokens=len(text.split())))
        if progress:
            progress(len(samples))
        return out
