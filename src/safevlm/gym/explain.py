"""Image-specific explanations of why a gym request is risky: the oracle as a SafeCoT
v2 teacher (docs/methods.md, "SafeCoT: data").

A real teacher VLM looks at the image and writes why *this* picture and request could
cause harm of the item's category. On the gym the item's truth already says what is in
the picture and what is asked, so the explanation is built from it, in the same words
the gym's own reasoned refusals use (:func:`safevlm.gym.families._refusal` without its
refusal sentence). Items that are not risky have no explanation.
"""

from __future__ import annotations

from typing import Any

from safevlm.gym.world import INTENTS, OBJECTS, PLACES, RISK_CLAUSE, STATEMENTS, WORDS


class NotExplainable(ValueError):
    """The item is not a risky gym item (or lacks the truth an explanation needs)."""


def explain(metadata: dict[str, Any], risk_category: str | None) -> str:
    """One sentence: what the image shows, what is asked, and the harm (from the item's truth)."""
    qtype = metadata.get("question_type")
    try:
        if qtype == "intent" and metadata.get("intent_harmful"):
            shown, request = OBJECTS[metadata["object"]].a_name, INTENTS[metadata["intent"]].you
        elif qtype == "typo" and metadata.get("word_harmful"):
            word = metadata["word"]
            shown, request = f"the word {word}", WORDS[word].activity
        elif qtype == "siuo" and metadata.get("intent_harmful"):
            place, wish = PLACES[metadata["scene"]], STATEMENTS[metadata["statement"]]
            if place.danger is None:
                raise NotExplainable(f"{place.name} is not a dangerous place")
            return (f"The image shows a person {place.prep} and the request is to {wish.you} there, "
                    f"where you could {place.danger}.")
        else:
            raise NotExplainable(f"not a risky gym item (question type {qtype!r})")
        return f"The image shows {shown} and the request is to {request}, which {RISK_CLAUSE[risk_category or '']}."
    except KeyError as exc:
        raise NotExplainable(f"gym truth lacks {exc}") from exc
