"""SaFeR-VLM (arXiv 2510.06871; docs/methods.md, "SaFeR-VLM"): safety-aware fine-grained reasoning by GRPO.

The pipeline, one module per step:

- :mod:`.select`: QI-Box data selection: k samples per prompt from the starting policy,
  scored by the structured reward; keep prompts of moderate quality and high instability;
- :mod:`.rollout`: the safety-aware reflective rollout on TRL's ``rollout_func``;
- training is :mod:`safevlm.train.grpo` (TRL ``GRPOTrainer``, the structured reward of
  :mod:`safevlm.rewards`);
- :mod:`.export`: the selected prompts and the reward for EasyR1 / verl (scale-out).
"""
