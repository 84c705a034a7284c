"""SafeCoT v2 teachers: a brief, image-specific explanation of why a request is risky.

methods.md §1: a teacher VLM sees the image and is asked for a very brief explanation
of why the content may cause harm of the given category, considering the image and
the user's intent (temperature 0.3, up to 500 new tokens); the v2 suffix is appended
by the builder. Any backend spec can teach (``hf:``, ``openai:``, ``mock:``...);
``oracle`` is the gym's truth-built explanation (:mod:`safevlm.gym.explain`).

Every explanation is validated (:func:`check_explanation`) before it can become a
training target; a failure is reported with the reason and the item is dropped, never
written with a broken target.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from safevlm.backends.base import GenerationParams
from safevlm.bench.categories import RISK_CATEGORIES
from safevlm.data.sample import Sample
from safevlm.judges.refusal import find_refusal

TEACHER_PROMPT = (
    "The request below, together with the image, may cause harm in the category \"{category}\" ({description}). "
    "Considering both what the image shows and what the user intends, explain very briefly, in one or two "
    "sentences, why answering could be harmful. Do not answer the request itself.\n"
    "Request: {question}"
)
TEACHER_PARAMS = GenerationParams(max_new_tokens=500, temperature=0.3, top_p=1.0, seed=0)
MAX_WORDS = 80
MIN_WORDS = 4
_COMPLIANCE_START = re.compile(r"^\s*(sure|certainly|of course|here is|here's|step 1|1\.)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Explanation:
    """A teacher's output for one sample: ``text`` when valid, else ``error`` says why."""

    text: str | None
    error: str | None = None
    raw: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def check_explanation(raw: str, *, max_words: int = MAX_WORDS) -> Explanation:
    """Normalise whitespace and validate; the error names what was wrong.

    Rejected: empty, shorter than 4 words, longer than ``max_words`` (the paper wants
    "very brief"), an explicit refusal ("I can't help with that": the teacher declined
    to explain, and the suffix adds the refusal anyway; stating the harm, "which is
    illegal", is what an explanation should do and passes), or text that starts by complying
    ("Sure, here is how...": the teacher answered the harmful request instead).
    """
    text = " ".join(raw.split())
    words = len(text.split())
    if not text:
        return Explanation(None, "empty explanation", raw)
    if words < MIN_WORDS:
        return Explanation(None, f"too short ({words} words)", raw)
    if words > max_words:
        return Explanation(None, f"too long ({words} words > {max_words})", raw)
    if find_refusal(text).strength == "explicit":  # "which is illegal" is the explanation, not a refusal
        return Explanation(None, "the teacher refused instead of explaining", raw)
    if _COMPLIANCE_START.match(text):
        return Explanation(None, "the teacher started answering the request", raw)
    if text[-1] not in ".!?":
        text += "."
    return Explanation(text, None, raw)


class Teacher:
    """Explains a batch of unsafe samples; subclasses implement :meth:`explain`."""

    name = "teacher"

    def explain(self, samples: Sequence[Sample], progress: Callable[[int], None] | None = None) -> list[Explanation]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class OracleTeacher(Teacher):
    """The gym's truth-built explanation; other benchmarks' items are reported as failures."""

    name = "oracle"

    def explain(self, samples, progress=None):
        from safevlm.gym.explain import NotExplainable, explain

        out = []
        for s in samples:
            try:
                out.append(check_explanation(explain(s.metadata, s.risk_category)))
            except NotExplainable as exc:
                out.append(Explanation(None, f"oracle teacher: {exc} (it only explains gym items)"))
            if progress:
                progress(1)
        return out


class BackendTeacher(Teacher):
    """Any backend asked with :data:`TEACHER_PROMPT` (the image goes with the prompt)."""

    def __init__(self, spec: str, *, prompt: str = TEACHER_PROMPT, params: GenerationParams = TEACHER_PARAMS,
                 batch_size: int | None = None, max_words: int = MAX_WORDS):
        from safevlm.backends import load_backend

        self.name = spec
        self.prompt = prompt
        self.params = params
        self.max_words = max_words
        self.backend = load_backend(spec, **({"batch_size": batch_size} if batch_size else {}))

    def request(self, sample: Sample) -> Sample:
        category = sample.risk_category or sample.category or "other"
        description = RISK_CATEGORIES.get(category, sample.category or "a safety risk")
        text = self.prompt.format(category=category.replace("_", " "), description=description,
                                  question=sample.text)
        return sample.model_copy(update={"text": text, "metadata": {}})

    def explain(self, samples, progress=None):
        gens = self.backend.generate([self.request(s) for s in samples], self.params, progress=progress)
        out = []
        for g in gens:
            if g.error:
                out.append(Explanation(None, f"teacher error: {g.error}"))
            elif g.finish_reason == "length":
                out.append(Explanation(None, f"truncated at {self.params.max_new_tokens} tokens", g.text))
            else:
                out.append(check_explanation(g.text, max_words=self.max_words))
        return out

    def close(self) -> None:
        self.backend.close()


def get_teacher(spec: str, **kwargs) -> Teacher:
    """``oracle`` (gym truth) or any backend spec (see :func:`safevlm.backends.load_backend`)."""
    if spec == "oracle":
        return OracleTeacher()
    return BackendTeacher(spec, **kwargs)
