"""The one interface every target model sits behind: samples in, generations out.

A backend turns a list of :class:`~safevlm.data.sample.Sample` into one
:class:`Generation` per sample, in order. Failures are data, not exceptions: a
request that ultimately fails gives a Generation whose ``error`` says why and whose
``text`` is empty, so a judge can never mistake it for a (possibly "safe", because
empty) response. Programming and configuration errors still raise.

Message layout is shared by all backends (:func:`sample_messages`): an optional
system turn from ``sample.metadata["system_prompt"]``, then the earlier turns of a
multi-turn sample (``sample.history``), then the user turn; the image blocks go first
in the first user turn, the text last (the layout Qwen-VL/SmolVLM were trained with;
text-only samples get no image block).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Self

from safevlm.data.sample import SYSTEM_PROMPT_KEY, Sample
from safevlm.errors import SafeVLMError

FinishReason = Literal["stop", "length", "error"]
ProgressFn = Callable[[int], None]
"""Called with the number of samples just finished (for progress bars)."""
StopFn = Callable[[], bool]
"""Polled while generating; once it returns True the backend may stop early (a server whose clients left)."""


#: One default for every command that generates (generate, chat, eval, serve): long enough for a reasoned
#: answer (SafeCoT's "why" before the refusal), short enough for a CPU; outputs cut here are marked ``length``.
DEFAULT_MAX_NEW_TOKENS = 256
#: Failures are data, but a run where more than this share of the generations failed has not measured the
#: model: ``safevlm eval`` and ``safevlm generate`` then exit 1 (``--max-failed-share``).
MAX_FAILED_SHARE = 0.5


class BackendError(SafeVLMError):
    """A backend cannot be built or used as configured (bad spec, unreachable server, 4xx)."""


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings shared by every backend.

    ``temperature == 0`` means greedy decoding. ``seed`` makes sampling repeatable
    for a given backend, batch composition and machine.
    """

    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class Generation:
    """One response. ``latency_s`` is the wall time until this response was ready
    (for a batched backend: its batch's time). ``extra``: what a composite backend adds
    about how the response was made (the guard's ``{"guard": {original, report, rewrite,
    fallback...}}``); runs store it in the record's ``generation``, the server in its
    ``safevlm`` response field."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    finish_reason: FinishReason = "stop"
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failed(cls, error: str, latency_s: float = 0.0) -> Generation:
        return cls(text="", latency_s=latency_s, finish_reason="error", error=error)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Backend(ABC):
    """Generates responses for samples. Subclasses set ``name`` (shown in reports)."""

    name: str = "backend"
    #: whether :meth:`generate` may be called from several threads at once
    #: (the server runs one batch at a time on backends that are not).
    thread_safe: bool = False
    #: the model's context window in tokens (prompt + completion); None when unknown
    context_length: int | None = None

    @abstractmethod
    def generate(self, samples: Sequence[Sample], params: GenerationParams | None = None,
                 progress: ProgressFn | None = None) -> list[Generation]:
        """Return one :class:`Generation` per sample, in order."""

    def generate_stream(self, samples: Sequence[Sample], params: GenerationParams | None = None, *,
                        chunk: int = 8, progress: ProgressFn | None = None
                        ) -> Iterator[list[tuple[int, Generation]]]:
        """Generations as they finish, about ``chunk`` at a time, as ``(index in samples, generation)``.

        Every index comes exactly once, in no promised order, so a caller can store and
        judge each chunk while the rest is still being generated. This default runs
        :meth:`generate` on consecutive slices of ``chunk`` samples; a backend with a
        request pool (:class:`~safevlm.backends.openai_compat.OpenAIBackend`) keeps the
        pool full across chunks instead.
        """
        for start in range(0, len(samples), chunk):
            part = samples[start:start + chunk]
            gens = self.generate(part, params, progress)
            if len(gens) != len(part):
                raise RuntimeError(f"{self.name} returned {len(gens)} generations for {len(part)} samples")
            yield list(enumerate(gens, start))
    def generate_interruptible(self, samples: Sequence[Sample], params: GenerationParams,
                               should_stop: StopFn) -> list[Generation]:
        """:meth:`generate`, stopping early once ``should_stop()`` is true (rows are then cut short).

        The server calls this so a batch whose clients all left, or whose deadline
        passed, frees the model. Backends that cannot stop mid-way just generate.
        """
        return self.generate(samples, params)

    def preflight(self) -> None:
        """Raise :class:`BackendError` now when the backend cannot work at all (a server that
        does not answer, a wrong model name), before a run spends time on it. Local backends
        have loaded their model already, so there is nothing left to check."""

    def count_prompt_tokens(self, samples: Sequence[Sample]) -> list[int] | None:
        """Prompt tokens each sample would take (None when the backend cannot tell).

        Checked against :attr:`context_length` before generating; not thread safe
        with :meth:`generate` on backends that are not ``thread_safe``.
        """
        return None

    def close(self) -> None:
        """Release resources (HTTP clients, GPU memory)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sample_messages(sample: Sample, images: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """Chat messages for a sample in the transformers multimodal format.

    ``images`` are the objects placed in the image blocks (PIL images for HF,
    data URLs for OpenAI are built by that backend from the same layout). Contents are
    always lists of parts because some templates (SmolVLM) index ``content[0]``.
    """
    messages: list[dict[str, Any]] = []
    system = sample.metadata.get(SYSTEM_PROMPT_KEY)
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": str(system)}]})
    imgs = list(images) if images is not None else sample.load_images()
    turns = [(t.role, t.text) for t in sample.history] + [("user", sample.text)]
    for k, (role, text) in enumerate(turns):
        content: list[dict[str, Any]] = [{"type": "image", "image": im} for im in imgs] if k == 0 else []
        content.append({"type": "text", "text": text})
        messages.append({"role": role, "content": content})
    return messages


def batched(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """Consecutive slices of at most ``size`` items."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    return [items[i:i + size] for i in range(0, len(items), size)]
