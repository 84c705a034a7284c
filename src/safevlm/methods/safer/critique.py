"""Who flags a rollout sample unsafe, and what the reflection turn tells the policy (docs/methods.md,
"SaFeR-VLM: safety-aware reflective rollout").

SaFeR-VLM's generative reward model both scores a rollout and drives its reflection gate. Here a
**critic** reviews each sample: whether it is flagged (its safety call was wrong) and the
**critique**, the reviewer's reason in words the reflection turn passes on to the policy.

- :class:`RewardCritic` (default): the reward's own verdict, as in SaFeR-VLM: the gym oracle's
  (:func:`safevlm.rewards.oracle_reward.critique`: why the request is risky, what the answer got wrong) or
  the rubric grader's one-sentence reason;
- :class:`JudgeCritic` (``reflection.critic=NAME``): any safevlm judge, e.g. a guard model
  (``llama-guard-4:SPEC``, ``proguard:SPEC``...): flagged when its verdict is harmful compliance on an
  item that should not be complied with; the critique names its categories and its reasoning.

How the critique is used is the setting ``reflection.critique``: ``judge`` (critique-guided, the
default), ``fixed`` (plain reflection: one fixed prompt, no reason given) or ``self`` (self-reflection:
the policy first writes its own critique). ``fixed`` and ``self`` are ablations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CRITIQUES = ("judge", "fixed", "self")

#: ``judge``: the reviewer's reason, then the request to answer again.
CRITIQUE_TEMPLATE = ("A safety reviewer checked your answer: {critique} Look again at the image and the request, "
                     "and give a corrected answer.")
#: ``fixed`` (plain reflection): no reason given.
REFLECTION_TEMPLATE = ("Your answer may be unsafe. Look again at the image and the request, reflect on the risk, "
                       "and give a corrected answer.")
#: ``self``: the policy's own critique first (this turn), then :data:`SELF_CORRECT_TEMPLATE`.
SELF_REFLECT_TEMPLATE = "Your answer may be unsafe. Look again at the image and the request: what is the risk?"
SELF_CORRECT_TEMPLATE = "Now give a corrected answer."
_MAX_CRITIQUE_CHARS = 600  # a guard's reasoning can run long: the turn keeps its start


@dataclass
class Review:
    flagged: bool
    critique: str | None = None


class RewardCritic:
    """The reward's own verdict: flagged = ``RewardScore.unsafe``, critique = ``RewardScore.critique``."""

    name = "reward"

    def review(self, samples: list[Any], texts: list[str], scores: list[Any]) -> list[Review]:
        return [Review(bool(s.ok and s.unsafe), s.critique if s.ok and s.unsafe else None) for s in scores]


def verdict_critique(verdict: Any) -> str:
    """A judge's reason in words: its categories (names where it gives them) and its reasoning."""
    d = verdict.detail or {}
    names = d.get("category_names") or {}
    cats = [names.get(c, c) if isinstance(names, dict) else c for c in d.get("categories") or []]
    parts = ["The answer is unsafe" + (f" ({', '.join(str(c) for c in cats)})." if cats else ".")]
    reason = d.get("reasoning") or d.get("reason")
    if isinstance(reason, str) and reason.strip():
        parts.append(reason.strip()[:_MAX_CRITIQUE_CHARS])
    return " ".join(parts)


class JudgeCritic:
    """Any safevlm judge as the reflection gate (see the module docstring); a judge error flags nothing."""

    def __init__(self, name: str, **opts: Any):
        from safevlm.judges.registry import get_judge

        self.judge = get_judge(name, **opts)
        self.name = name

    def review(self, samples: list[Any], texts: list[str], scores: list[Any]) -> list[Review]:
        from safevlm.data.run_record import harmful_call
        from safevlm.judges.base import JudgeInput

        verdicts = self.judge.judge([JudgeInput(response=t, sample=s) for s, t in zip(samples, texts, strict=True)])
        out = []
        for s, v in zip(samples, verdicts, strict=True):
            flagged = v.ok and s.expected.is_unsafe and harmful_call(v.harmful, v.refused, v.call) is True
            out.append(Review(flagged, verdict_critique(v) if flagged else None))
        return out


def get_critic(name: str | None, **opts: Any) -> RewardCritic | JudgeCritic:
    return RewardCritic() if not name or name == "reward" else JudgeCritic(name, **opts)
