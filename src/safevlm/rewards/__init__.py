"""The structured reward: one score per response, ``overall`` plus named components.

SaFeR-VLM rewards the whole reasoning trace on several weighted dimensions with
explicit penalties (docs/methods.md, "SaFeR-VLM: structured reward"). This package is
method-neutral: the GRPO trainer calls it, QI-Box selection scores samples with it,
and a verl/EasyR1 ``compute_score`` file calls it too.

- :mod:`.base`: :class:`RewardScore`, the weights, the safety gate, the penalties and
  the floor for malformed output (:func:`combine`);
- :mod:`.oracle`: the gym oracle as a verifiable scorer;
- :mod:`.rubric`: a rubric LLM judge over any backend (the generative reward model
  for real data);
- :func:`get_scorer` names either: ``oracle`` or ``rubric:MODEL_SPEC``.
"""

from safevlm.rewards.base import DEFAULT_WEIGHTS, RewardConfig, RewardScore, Scorer, combine, get_scorer

__all__ = ["DEFAULT_WEIGHTS", "RewardConfig", "RewardScore", "Scorer", "combine", "get_scorer"]
