"""Recipes: end-to-end runs built from the library, on top of every package.

Each recipe is a script-like module, readable top to bottom, that strings library
stages together and prints what a person wants to see (through
:mod:`safevlm.progress`). They are what ``make demo`` and ``safevlm gym pretrain``
run, and they double as worked examples of the Python API. Only the CLI imports them;
no library package does (docs/architecture.md).

- :mod:`.demo`: ``make demo`` / ``safevlm demo``, every stage in order;
- :mod:`.gym_pretrain`: ``safevlm gym pretrain``, train and score the gym model;
- :mod:`.common`: what the method recipes share (the evaluation every model gets, SFT with
  reuse of a finished step, the comparison rows);
- :mod:`.safecot_gym`: SafeCoT v0 / v1 / v2 on the gym, one comparison report;
- :mod:`.safer_gym`, :mod:`.guard_gym`: SaFeR-VLM and VLMGuard-R1 on the gym.
"""
