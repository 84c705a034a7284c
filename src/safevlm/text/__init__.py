"""Reading what a model wrote: the response parser and the refusal detector.

Every stage that interprets a model's text goes through here, so a rule such as
"an unclosed ``<think>`` means no answer was given" holds the same way for the gym
oracle, the judges, multiple-choice scoring, the GRPO reward and the guard.

- :mod:`.response`: ``<think>`` / ``<answer>`` / ``<prompt>`` blocks (:func:`parse_response`);
- :mod:`.refusal`: the default refusal detector (:func:`find_refusal`).
"""

from safevlm.text.refusal import RefusalFinding, find_refusal, is_refusal
from safevlm.text.response import ParsedResponse, parse_response

__all__ = ["ParsedResponse", "RefusalFinding", "find_refusal", "is_refusal", "parse_response"]
