"""The gym truth as a VLMGuard-R1 teacher: hindsight analysis, causal report, safe rewrite.

docs/methods.md, "VLMGuard-R1: three-stage synthesis". A real teacher compares a
safe and an unsafe response, names the risk features, writes a report and rewrites
the request; on the gym the item's truth says what the image shows and what is asked,
so each stage is written from it (the ``oracle`` teacher of ``safevlm guard synth``):

- **rewrite**: a risky request becomes the risk question about the same thing that
  a good assistant answers with a grounded warning (the gym's own risk-question
  phrasings, which the gym model was pretrained to answer): an object ->
  "What should I be careful about with the knife in this picture?", a dangerous place
  -> "What should I be careful about here?", a harmful word -> "What does the word in
  this picture say, and is it safe to do?". Benign requests are kept unchanged.
- **report**: the three labelled parts (textual trigger, visual elements, how they
  combine), short enough for a small rewriter to learn to write.

Items that are not gym items, or ambiguous ones, raise :class:`NotExplainable`.
"""

from __future__ import annotations

from typing import Any

from safevlm.gym.explain import NotExplainable
from safevlm.gym.families import WARNINGS
from safevlm.gym.world import INTENTS, OBJECTS, PLACES, RISK_CLAUSE, STATEMENTS, WORDS

#: The risk-question phrasings a rewrite uses (seen cores of the risk questions, in their plainest words).
ASK_OBJECT = "What should I be careful about with the {obj} in this picture?"
ASK_PLACE = "What should I be careful about here?"
ASK_WORD = "What does the word in this picture say, and is it safe to do?"


def _kind(meta: dict[str, Any]) -> str:
    if meta.get("guard_turn") == "system":  # a gym system prompt read as a request: an ordinary instruction
        return "benign"
    if "question_type" not in meta:
        raise NotExplainable("not a gym item")
    if meta.get("ambiguous"):
        raise NotExplainable("an ambiguous gym item (no agreed safe call to teach)")
    q = meta["question_type"]
    if q == "intent" and (meta.get("intent_harmful") or (meta["object"], meta["intent"]) in WARNINGS):
        return "object"
    if q == "typo" and meta.get("word_harmful"):
        return "word"
    if q == "siuo" and meta.get("intent_harmful"):
        return "place"
    return "benign"


def is_risky(meta: dict[str, Any]) -> bool:
    """Whether the guard should rewrite this item (False: keep the request as it is)."""
    return _kind(meta) != "benign"


def safe_rewrite(meta: dict[str, Any], text: str) -> str:
    """The rewrite: the risk question about the decisive object, word or place; ``text`` when benign."""
    kind = _kind(meta)
    if kind == "object":
        return ASK_OBJECT.format(obj=meta["object"])
    if kind == "word":
        return ASK_WORD
    if kind == "place":
        return ASK_PLACE
    return text


def risk_report(meta: dict[str, Any], risk_category: str | None) -> str:
    """The causal report: ``Textual trigger: .. Visual elements: .. Combination: ..``."""
    kind = _kind(meta)
    try:
        if kind == "object":
            obj, intent = meta["object"], meta["intent"]
            shown = OBJECTS[obj].a_name
            harm = WARNINGS.get((obj, intent)) or RISK_CLAUSE[risk_category or "violence"]
            combo = (f"{shown} used to {INTENTS[intent].you} {harm}" if (obj, intent) not in WARNINGS
                     else f"to {INTENTS[intent].you} with {shown} is risky: {harm.split(':')[0]}")
            return (f"Textual trigger: the request asks to {INTENTS[intent].you}. Visual elements: {shown}. "
                    f"Combination: {combo}.")
        if kind == "word":
            word = meta["word"]
            return (f"Textual trigger: the request asks to do what the image says. Visual elements: the word {word}. "
                    f"Combination: to {WORDS[word].activity} {RISK_CLAUSE[WORDS[word].risk]}.")
        if kind == "place":
            place, wish = PLACES[meta["scene"]], STATEMENTS[meta["statement"]]
            return (f"Textual trigger: the user wants to {wish.you}. Visual elements: a person {place.prep}. "
                    f"Combination: to {wish.you} there, you could {place.danger}.")
        objects = ", ".join(OBJECTS[o].a_name for o in meta.get("objects") or []) or "nothing risky"
        return ("Textual trigger: none; the request is harmless. Visual elements: " + objects +
                ". Combination: no risk, so the request stays as it is.")
    except KeyError as exc:
        raise NotExplainable(f"gym truth lacks {exc}") from exc


def hindsight(meta: dict[str, Any], risk_category: str | None) -> str:
    """Stage 1: what made the unsafe response unsafe (the features the safe one noticed)."""
    kind = _kind(meta)
    if kind == "benign":
        return "Both responses answer a harmless request; there is no risk feature to avoid."
    report = risk_report(meta, risk_category)
    trigger, rest = report.split(" Visual elements: ", 1)
    visual, combination = rest.split(" Combination: ", 1)
    return (f"The unsafe response follows the request without noticing the risk. The safe response notices "
            f"{visual.rstrip('.')} in the image and that {trigger.removeprefix('Textual trigger: ').rstrip('.')}: "
            f"{combination.rstrip('.')}.")
