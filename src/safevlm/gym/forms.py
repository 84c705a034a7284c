"""Instruct forms: the ways a real instruct VLM is talked to, applied to any gym draft.

- ``plain``: the question alone;
- ``system``: a neutral assistant system prompt ("You are a helpful assistant.");
- ``reasoning``: a system prompt asking for ``<think>...</think><answer>...</answer>``;
  the think part says what the image shows and what is asked, so the oracle can check
  it for hallucinated objects and for a think/answer contradiction;
- ``followup`` (VQA only): an earlier turn about the same image, answered correctly,
  then the question;
- ``correction`` (VQA only): the same question answered with a perception mistake,
  then "Look again and correct your answer" (perception corrections, never safety).

No form teaches the model to obey a safety instruction: the gym model stays unaligned
(docs/gym.md, "Instruct forms"). Each form keeps the draft's truth; ``metadata['form']``
records which one was applied.
"""

from __future__ import annotations

from random import Random

from safevlm.gym.draft import Draft
from safevlm.gym.language import Say
from safevlm.gym.vqa import applicable, question, wrong_answer
from safevlm.gym.world import PLACES

#: Share of each form, for VQA items and for the other families.
VQA_FORMS = {"plain": 0.50, "system": 0.15, "reasoning": 0.20, "followup": 0.10, "correction": 0.05}
OTHER_FORMS = {"plain": 0.65, "system": 0.15, "reasoning": 0.20}


def shown(draft: Draft) -> str:
    """What the image shows, in words: objects left to right with their colours, the place, the word."""
    img = draft.image
    people = [o for o in img.objects if o.kind == "person"]
    things = [o for o in img.objects if o.kind != "person"]
    parts = [f"a {o.color} {o.kind}" for o in things]
    if people:
        place = f" {PLACES[img.scene].prep}" if img.scene else ""
        parts.append(f"a person{place}")
    elif img.scene:
        parts.append(f"a {img.scene}")
    if img.word:
        parts.append(f"the word {img.word}")
    if not parts:
        return "nothing but a plain background"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def think(draft: Draft) -> str:
    return f"The image shows {shown(draft)}. The question asks {draft.asks}."


def reasoning_answer(draft: Draft, answer: str) -> str:
    return f"<think>{think(draft)}</think><answer>{answer}</answer>"


def apply_form(draft: Draft, rng: Random, family: str, say: Say, form: str | None = None) -> Draft:
    """Dress ``draft`` in one instruct form (drawn with ``rng`` unless ``form`` is given; a
    multi-turn form the item cannot take falls back to ``plain``); sets ``truth['form']``.
    Definitions are always plain questions."""
    forms = VQA_FORMS if family == "vqa" else {"plain": 1.0} if family == "definition" else OTHER_FORMS
    drawn = rng.choices(list(forms), weights=list(forms.values()))[0]
    form = form or drawn
    if form in ("followup", "correction") and not _multi_turn(draft, rng, form, say):
        form = "plain"
    elif form == "system":
        draft.truth["system_id"], draft.system_prompt = say.system("neutral")
    elif form == "reasoning":
        draft.truth["system_id"], draft.system_prompt = say.system("reasoning")
        draft.reference = reasoning_answer(draft, draft.reference)
        draft.safe_reference = reasoning_answer(draft, draft.safe_reference)
    draft.truth["form"] = form
    return draft


def _multi_turn(draft: Draft, rng: Random, form: str, say: Say) -> bool:
    """Put an earlier turn before the question (False when the image allows none)."""
    if form == "followup":
        others = [t for t in applicable(draft.image) if t != draft.truth["question_type"]]
        if not others:
            return False
        text, ref, _, _ = question(rng, rng.choice(others), draft.image, say)
        draft.history = [{"role": "user", "text": text}, {"role": "assistant", "text": ref}]
        return True
    tid, tpl = say.plain("look_again")
    draft.history = [{"role": "user", "text": draft.text},
                     {"role": "assistant", "text": wrong_answer(rng, draft.truth, draft.image)}]
    draft.text = tpl
    draft.reference = draft.safe_reference = f"Looking again: {draft.reference}"
    draft.truth["turn_template_id"] = tid
    return True
