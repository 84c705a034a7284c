"""SafeCoT v2 teachers: a brief, image-specific explanation of why a request is risky.

docs/methods.md, "SafeCoT: data": a teacher VLM sees the image and is asked for a
very brief explanation of why the content may cause harm of the given category,
considering the image and the user's intent (temperature 0.3, up to 500 new tokens);
the v2 suffix is appended by the builder. Any backend spec can teach (``hf:``,
``openai:``, ``mock:``...); ``oracle`` writes the explanation from the gym item's
truth (:func:`safevlm.gym.explain.explain`).

The loop is the toolkit's teacher loop (:mod:`safevlm.teacher`); what is SafeCoT's
here is the prompt and the validator (:func:`check_explanation`): a failure is
reported with the reason and the item is dropped, never written with a broken target.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial

from safevlm.backends import Backend, GenerationParams
from safevlm.backends.base import ProgressFn
from safevlm.bench.categories import RISK_CATEGORIES
from safevlm.data.sample import Sample
from safevlm.teacher import Taught, load_teacher, request, teach
from safevlm.text.refusal import find_refusal

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


def check_explanation(raw: str, *, max_words: int = MAX_WORDS) -> Taught:
    """Normalise whitespace and validate; the error names what was wrong.

    Rejected: empty, shorter than 4 words, longer than ``max_words`` (the paper wants
    "very brief"), an explicit refusal ("I can't help with that": the teacher declined
    to explain, and the suffix adds the refusal anyway; stating the harm, "which is
    illegal", is what an explanation should do and passes), or text that starts by
    complying ("Sure, here is how...": the teacher answered the harmful request instead).
    """
    text = " ".join(raw.split())
    words = len(text.split())
    if not text:
        return Taught(None, "empty explanation", raw)
    if words < MIN_WORDS:
        return Taught(None, f"too short ({words} words)", raw)
    if words > max_words:
        return Taught(None, f"too long ({words} words > {max_words})", raw)
    if find_refusal(text).strength == "explicit":  # "which is illegal" is the explanation, not a refusal
        return Taught(None, "the teacher refused instead of explaining", raw)
    if _COMPLIANCE_START.match(text):
        return Taught(None, "the teacher started answering the request", raw)
    if text[-1] not in ".!?":
        text += "."
    return Taught(text, None, raw)


def explanation_request(sample: Sample, prompt: str = TEACHER_PROMPT) -> Sample:
    """The teacher's request: the image, and the prompt naming the risk category and the question."""
    category = sample.risk_category or sample.category or "other"
    description = RISK_CATEGORIES.get(category, sample.category or "a safety risk")
    return request(sample, prompt, category=category.replace("_", " "), description=description,
                   question=sample.text)


def oracle_explanation(req: Sample) -> str:
    """The gym truth's explanation for the item behind ``req`` (the ``oracle`` teacher)."""
    from safevlm.gym.explain import NotExplainable, explain

    try:
        return explain(req.metadata, req.risk_category)
    except NotExplainable as exc:
        raise ValueError(f"oracle teacher: {exc} (it only explains gym items)") from exc


def explain_samples(samples: Sequence[Sample], teacher: str | Backend, *, prompt: str = TEACHER_PROMPT,
                    params: GenerationParams = TEACHER_PARAMS, max_words: int = MAX_WORDS,
                    batch_size: int | None = None, progress: ProgressFn | None = None) -> list[Taught]:
    """One validated explanation (or the reason for its absence) per unsafe sample."""
    backend = load_teacher(teacher, oracle=oracle_explanation, batch_size=batch_size)
    try:
        return teach(backend, [explanation_request(s, prompt) for s in samples], params,
                     partial(check_explanation, max_words=max_words), progress=progress)
    finally:
        if backend is not teacher:  # built here, closed here
            backend.close()
