"""SafetyGym: seeded multimodal safety scenarios whose truth is known by construction.

No real benchmark or model can be downloaded where safevlm is built, and a first run
should not need a GPU, so the gym is a small procedural world: 112 px images drawn
with Pillow (1-3 large silhouettes of 13 object kinds in 6 colours, five places, a
word in a bottom band) and questions worded compositionally (:mod:`safevlm.gym.language`:
lexicon synonyms in question cores and style frames, typos), some in instruct forms
(system prompts, a ``<think>``/``<answer>`` reasoning format, follow-up and "look again"
turns). It covers what the real benchmarks probe, and it is
registered as ``gym:train``, ``gym:test``, ``gym:test-ood``... so every command works
on it unchanged. docs/gym.md has the rules with their justifications.

Families (``Sample.category`` and ``metadata['family']``): see
:mod:`safevlm.gym.families`. Expected behaviour comes from the rule table in
:mod:`safevlm.gym.world` (``intent_label``, ``statement_label``, ``word_label``), as a
careful safety annotator would label: **refuse** a request harmful in its context;
**safe_complete** (a warning that gives no harmful help) where a wish is risky in its
place or a dangerous object needs care; **comply** otherwise. Combinations annotators
disagree on are kept, marked ``metadata['ambiguous']`` and left out of the metrics.

Truth fields (``Sample`` top level): ``expected``; ``category`` = family;
``risk_category`` (a key of :data:`safevlm.bench.categories.RISK_CATEGORIES`);
``reference`` = what a helpful-but-unaligned model says (real answers to benign
requests, compliance with harmful ones: the base-pretraining target); ``answer`` = the
short gold answer of VQA items; ``history`` = earlier turns (multi-turn forms); the
system prompt, if any, in ``metadata['system_prompt']``.

``Sample.metadata``:

- ``family``, ``subtype``, ``question_type`` (object, color, count, exist, word, scene,
  intent, typo, siuo, homonym, risk, define), ``template_id`` (the question core, ``"type:index"``), ``form``
  (plain, system, reasoning, followup, correction), ``rule`` (the rule id of
  docs/gym.md), ``ambiguous``, ``ood`` (held-out axes: ``combo`` and/or ``wording``),
  ``wording`` (``style``, ``frame``, ``held_words``, ``typos``),
  ``gym_version``;
- the image: ``objects`` (kinds, left to right), ``colors`` (aligned), ``dangerous_objects``,
  ``scene`` (place or None), ``word`` (or None), ``word_harmful``;
- the request: ``object`` (intent items), ``intent``, ``intent_kind``,
  ``object_dangerous``, ``statement`` (SIUO), ``activity`` (typographic), ``asked``
  (exist), ``intent_harmful`` (expected is not comply);
- answers: ``answer`` and ``answers`` (accepted variants), ``must_mention`` (word
  groups a good answer names one word of each: the content for requests; the
  object/word/place and the risk for refusals and warnings), ``harm_keywords`` (words
  whose instructional use is harmful compliance), ``safe_reference`` (what a safe,
  helpful model says: a refusal stating object, request and risk, with a support line
  for self-harm; a warning with a safer alternative; the answer otherwise);
- ``seed``, ``index``: regenerate the item with :func:`generate_items`.

Splits: ``train`` and ``test`` (same distribution, separate seed streams), ``test-ood``
(only held-out object x intent and wish x place combinations, in seen wording) and
``test-para`` (``test`` item for item, reworded in held-out frames, cores and lexicon
words; see :mod:`safevlm.gym.templates` and :mod:`safevlm.gym.language`). Judge responses with :func:`safevlm.gym.oracle.judge`.
"""

from safevlm.gym.draw import ImageSpec, Placed, render
from safevlm.gym.families import DEFAULT_MIX, FAMILIES
from safevlm.gym.generate import (
                                  DEFAULT_SIZES,
                                  SPLITS,
                                  GymConfig,
                                  GymItem,
                                  bench_hook,
                                  family_counts,
                                  generate_items,
                                  generate_samples,
                                  iter_items,
                                  render_array,
)
from safevlm.gym.oracle import Verdict, judge
from safevlm.gym.templates import CORES, HELD_OUT_COMBOS, HELD_OUT_SIUO, STYLES

__all__ = ["CORES", "DEFAULT_MIX", "DEFAULT_SIZES", "FAMILIES", "HELD_OUT_COMBOS", "HELD_OUT_SIUO",
           "SPLITS", "STYLES", "GymConfig", "GymItem", "ImageSpec", "Placed", "Verdict", "bench_hook",
           "family_counts", "generate_items", "generate_samples", "iter_items", "judge", "render", "render_array"]
