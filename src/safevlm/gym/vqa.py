"""General visual questions: one image, one question type, one correct answer.

Six types (object, colour, count, exist, word, scene). :func:`question` asks any
applicable type about a given image, so the multi-turn forms can ask a follow-up
about the same picture, and :func:`wrong_answer` gives the perception mistake a
"look again" turn corrects (:mod:`safevlm.gym.forms`).

"Exist" answers name what is seen before the yes/no ("I see a knife and a cup. No,
there is no gun."): matching a named object against the picture is the hardest skill
for a 1 M-parameter model, and listing first turns it into naming, which it learns
well, plus a comparison.
"""

from __future__ import annotations

from random import Random
from typing import Any

from safevlm.gym.draft import Draft, a_list, kinds, layout, n_objects, syn
from safevlm.gym.draw import ImageSpec
from safevlm.gym.language import Say
from safevlm.gym.world import COLORS, COMPLY, NUMBER_WORDS, OBJECTS, PLACES, WORDS

VQA_TYPES = {"object": 0.19, "color": 0.17, "count": 0.15, "exist": 0.21, "word": 0.16, "scene": 0.12}


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def question(rng: Random, qtype: str, img: ImageSpec, say: Say) -> tuple[str, str, str, dict[str, Any]]:
    """``(text, reference, asks, truth)`` for a ``qtype`` question about ``img`` (worded by ``say``)."""
    truth: dict[str, Any] = {"question_type": qtype, "subtype": qtype}
    present = [o.kind for o in img.objects]
    asked = None
    if qtype == "exist":
        asked_kind = rng.choice(present) if rng.random() < 0.5 else rng.choice([k for k in OBJECTS if k not in present])
        asked = say.ask(qtype, obj=asked_kind)
    elif qtype == "color":
        asked = say.ask(qtype, obj=img.objects[0].kind)
    else:
        asked = say.ask(qtype)
    truth |= asked.metadata()
    tpl = asked.text
    if qtype == "scene":
        scene = img.scene
        answer, ref, text, asks = scene, f"This is {_article(scene)} {scene}.", tpl, "where this is"
        truth |= {"answers": list(PLACES[scene].synonyms), "must_mention": [list(PLACES[scene].synonyms)]}
    elif qtype == "color":
        kind, color = img.objects[0].kind, img.objects[0].color
        answer, ref, text = color, f"It is {color}.", tpl
        asks = f"what colour the {kind} is"
        truth |= {"answers": [color], "must_mention": [[color]]}
    elif qtype == "word":
        word = img.word
        answer = word or "none"
        ref = f"The word is {word}." if word else "There is no word."
        text, asks = tpl, "which word is written"
        truth |= {"answers": [word] if word else ["no word", "no text", "nothing written"],
                  "must_mention": [[word.lower()]] if word else [["no word", "no text", "nothing"]]}
    elif qtype == "object":
        answer, ref, text, asks = ", ".join(present), f"The image shows {a_list(present)}.", tpl, "what objects it shows"
        truth |= {"answers": present, "must_mention": [syn(k) for k in present]}
    elif qtype == "count":
        n = len(present)
        answer, text, asks = NUMBER_WORDS[n], tpl, "how many objects there are"
        ref = "There is one object." if n == 1 else f"There are {NUMBER_WORDS[n]} objects."
        truth |= {"answers": [NUMBER_WORDS[n], str(n)], "must_mention": [[NUMBER_WORDS[n], str(n)]]}
    elif qtype == "exist":
        asked = asked_kind
        yes = asked in present
        a_obj = OBJECTS[asked].a_name
        answer, text = "yes" if yes else "no", tpl
        seen = f"I see {a_list(present)}."
        ref = f"{seen} Yes, there is {a_obj}." if yes else f"{seen} No, there is no {asked}."
        asks = f"whether there is {a_obj}"
        truth |= {"asked": asked, "answers": [answer], "must_mention": [[answer]]}
    else:
        raise ValueError(f"not a VQA question type: {qtype!r}")
    truth["answer"] = answer
    return text, ref, asks, truth


def applicable(img: ImageSpec) -> list[str]:
    """The question types that make sense for ``img`` (colour needs one object, scene a place)."""
    types = ["object", "count", "exist", "word"] if img.objects else ["word"]
    if len([o for o in img.objects]) == 1:
        types.append("color")
    if img.scene:
        types.append("scene")
    return types


def vqa(rng: Random, ood: bool, say: Say) -> Draft:
    """Plain questions with one correct answer: capability, and the base for hallucination checks."""
    qtype = rng.choices(list(VQA_TYPES), weights=list(VQA_TYPES.values()))[0]
    word = rng.choice(list(WORDS)) if rng.random() < 0.3 else None
    if qtype == "scene":
        scene = rng.choice(list(PLACES))
        extra = rng.choices((None, "person", "object"), weights=(1, 2, 1))[0]
        objs = ["person"] if extra == "person" else kinds(rng, 1, tuple(k for k in OBJECTS if k != "person")) \
            if extra else []
        img = layout(rng, objs, scene=scene, person_at=scene if extra == "person" else None)
    elif qtype == "color":
        img = layout(rng, [rng.choice(list(OBJECTS))], word=word)
    elif qtype == "word":
        word = rng.choice(list(WORDS)) if rng.random() < 0.75 else None
        img = layout(rng, kinds(rng, rng.choices((0, 1, 2), weights=(2, 5, 3))[0]), word=word)
    else:
        img = layout(rng, kinds(rng, n_objects(rng)), word=word)
    text, ref, asks, truth = question(rng, qtype, img, say)
    return Draft(text, COMPLY, "benign", ref, ref, img, truth, asks=asks)


def wrong_answer(rng: Random, truth: dict[str, Any], img: ImageSpec) -> str:
    """A plausible perception mistake for a VQA question (what a "look again" turn corrects)."""
    qtype = truth["question_type"]
    if qtype == "color":
        return f"It is {rng.choice([c for c in COLORS if c != truth['answer']])}."
    if qtype == "count":
        n = len(img.objects)
        m = rng.choice([k for k in (1, 2, 3) if k != n])
        return "There is one object." if m == 1 else f"There are {NUMBER_WORDS[m]} objects."
    if qtype == "exist":
        a_obj = OBJECTS[truth["asked"]].a_name
        return f"No, there is no {truth['asked']}." if truth["answer"] == "yes" else f"Yes, there is {a_obj}."
    if qtype == "word":
        return f"The word is {rng.choice([w for w in WORDS if w != img.word])}."
    if qtype == "scene":
        other = rng.choice([p for p in PLACES if p != img.scene])
        return f"This is {_article(other)} {other}."
    present = [o.kind for o in img.objects]
    swapped = list(present)
    swapped[rng.randrange(len(swapped))] = rng.choice([k for k in OBJECTS if k not in present])
    return f"The image shows {a_list(swapped)}."
