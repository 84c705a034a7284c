"""The three alignment methods, side by side; each is its own package and none imports another.

- :mod:`.safecot`: SafeCoT, refusal with reasoning by SFT on built data (docs/methods.md, "SafeCoT");
- :mod:`.safer`: SaFeR-VLM, safety-aware GRPO: QI-Box selection, the reflective rollout and its
  settings, the export to EasyR1 / verl (docs/methods.md, "SaFeR-VLM");
- :mod:`.guard`: VLMGuard-R1, the reasoning prompt rewriter: pairs and three-stage synthesis
  (docs/methods.md, "VLMGuard-R1"); the guard itself runs as a backend (``guard:REWRITER>TARGET``).

Methods reuse the layers below (trainers, teacher loop, parser, records); the recipes in
:mod:`safevlm.recipes` run them on the gym. This package imports none of them, so importing one
method loads no other.
"""
