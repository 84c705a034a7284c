"""The teacher loop: prompt template -> any backend -> validator -> accepted outputs and rejects.

Data synthesis with a strong model is the same loop in every method: SafeCoT v2 asks a
teacher why a request is risky; VLMGuard-R1's three synthesis stages ask for a
hindsight analysis, a causal risk report and a rewritten prompt. :func:`teach` runs
it once for a batch:

1. each request is a :class:`~safevlm.data.sample.Sample` (the image, and the
   method's prompt template filled in: :func:`request`);
2. the teacher is any backend (``hf:``, ``openai:``, ``mock:``...), or ``oracle``: a
   :class:`~safevlm.backends.function.FunctionBackend` that writes the output from a
   gym item's truth, so every pipeline runs offline (:func:`load_teacher`);
3. every output is validated before it can become training data: a failed request,
   a truncated output or a validator's objection is a :class:`Taught` with ``error``
   (the reason), and the caller writes it to ``rejected.jsonl``
   (:func:`rejected_row`), never to the training set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from safevlm.backends import Backend, GenerationParams, load_backend
from safevlm.backends.base import ProgressFn
from safevlm.backends.function import FunctionBackend
from safevlm.data.sample import SYSTEM_PROMPT_KEY, Sample

ORACLE = "oracle"


@dataclass(frozen=True)
class Taught:
    """A teacher's output for one request: ``text`` when valid, else ``error`` says why."""

    text: str | None
    error: str | None = None
    raw: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


Validator = Callable[[str], Taught]


def request(sample: Sample, template: str, **fields: Any) -> Sample:
    """The teacher's request about ``sample``: its images, ``template`` filled with ``fields``.

    The sample's own system prompt is not sent (the teacher is asked as itself); its
    other metadata travels along, so an ``oracle`` teacher can read the item's truth.
    """
    metadata = {k: v for k, v in sample.metadata.items() if k != SYSTEM_PROMPT_KEY}
    return sample.model_copy(update={"text": template.format(**fields), "metadata": metadata})


def load_teacher(spec: str | Backend, oracle: Callable[[Sample], str] | None = None, **opts: Any) -> Backend:
    """A backend spec or object; ``oracle`` builds outputs with the method's truth function."""
    if isinstance(spec, Backend):
        return spec
    if spec == ORACLE:
        if oracle is None:
            raise ValueError("this synthesis step has no oracle teacher")
        return FunctionBackend(oracle, name=ORACLE)
    return load_backend(spec, **{k: v for k, v in opts.items() if v is not None})


def teach(teacher: Backend, requests: Sequence[Sample], params: GenerationParams, validate: Validator,
          progress: ProgressFn | None = None) -> list[Taught]:
    """One :class:`Taught` per request, in order: the validated output, or why there is none."""
    gens = teacher.generate(list(requests), params, progress=progress)
    if len(gens) != len(requests):
        raise RuntimeError(f"teacher {teacher.name} returned {len(gens)} outputs for {len(requests)} requests")
    out = []
    for g in gens:
        if g.error:
            out.append(Taught(None, f"teacher error: {g.error}"))
        elif g.finish_reason == "length":
            out.append(Taught(None, f"truncated at {params.max_new_tokens} tokens", g.text))
        else:
            out.append(validate(g.text))
    return out


def rejected_row(sample: Sample, taught: Taught, **extra: Any) -> dict[str, Any]:
    """A ``rejected.jsonl`` line: which item, the reason, and what the teacher wrote."""
    return {"id": sample.uid, "category": sample.category,
            "risk_category": sample.risk_category, **extra, "error": taught.error, "teacher_output": taught.raw}
