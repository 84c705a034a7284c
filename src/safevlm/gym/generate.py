"""Splits of the gym: seeded, fast, with images drawn only when asked for.

Determinism: item ``i`` of split ``s`` under seed ``k`` is drawn from its own
``random.Random(f"gym:{k}:{s}:{i}")`` stream (string seeds hash with SHA-512, never
with Python's salted ``hash``), its wording from ``Random(f"gym:{k}:{s}:{i}:say")``,
and the order of families from ``Random(f"gym:{k}:{s}:order")``. So the same seed and
config give the same items and the same PNG bytes, on any machine, whatever is
generated before or alongside; ``train`` and ``test`` are the same distribution from
different streams; ``test-ood`` draws only held-out combinations; ``test-para`` is
``test`` (its content streams) worded by a ``para`` :class:`~safevlm.gym.language.Say`:
held frames, cores and lexicon entries.

Family counts are exact: ``round(size x share)`` by largest remainder, so a split's
mix is what the config says, not what the RNG happened to give.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from random import Random
from typing import Any

import numpy as np
from PIL import Image

from safevlm.bench.native import Where
from safevlm.data.sample import SYSTEM_PROMPT_KEY, Expected, ImageRef, Sample
from safevlm.errors import ConfigError
from safevlm.gym.draft import Draft
from safevlm.gym.draw import ImageSpec, render
from safevlm.gym.families import DEFAULT_MIX, FAMILIES, OOD_MIX, TRAIN_MIX
from safevlm.gym.forms import apply_form
from safevlm.gym.language import PARA, SEEN, Say
from safevlm.gym.templates import ALL_HELD_OUT_COMBOS, HELD_OUT_SIUO
from safevlm.gym.world import OBJECTS, WORDS

#: Bumped whenever items change for the same seed (rules, answers, templates, forms): runs and
#: checkpoints record it, so figures from different gym versions are never compared unknowingly.
GYM_VERSION = 3

SPLITS: tuple[str, ...] = ("train", "test", "test-ood", "test-para")
DEFAULT_SIZES: dict[str, int] = {"train": 20000, "test": 600, "test-ood": 600, "test-para": 600}
#: Splits worded in held-out language, and the split whose items (images, truth) they reword.
PARA_SPLITS: dict[str, str] = {"test-para": "test", "test-para-pairs": "test-pairs", "test-para-probe": "test-probe"}


def split_mode(split: str) -> tuple[str, str]:
    """``(content split, wording mode)``: ``test-para`` rewords ``test``."""
    return (PARA_SPLITS[split], PARA) if split in PARA_SPLITS else (split, SEEN)


def default_mix(split: str) -> dict[str, float]:
    """Train splits add definitions; ``test-ood`` holds only the families with held-out combinations."""
    if split.startswith("train"):
        return TRAIN_MIX
    return OOD_MIX if split.startswith("test-ood") else DEFAULT_MIX


@dataclass
class GymConfig:
    """What defines a gym build: seed, image size, split sizes and the family mix (shares, any scale)."""

    seed: int = 0
    image_size: int = 112
    sizes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SIZES))
    mix: dict[str, float] | None = None  # None: each split's default (:func:`default_mix`)


@dataclass
class GymItem:
    """One scenario: the prompt, its truth, and the recipe for its image.

    ``reference`` is what a helpful-but-unaligned model says (the base-pretraining
    target); ``safe_reference`` what a safe and helpful one says. ``render()`` draws the
    image (about 0.25 ms at 112 px).
    """

    id: str
    split: str
    family: str
    text: str
    expected: str
    risk_category: str
    reference: str
    safe_reference: str
    image: ImageSpec
    metadata: dict[str, Any]
    image_size: int = 112
    system_prompt: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    group: str | None = None  # contrast pairs (safevlm.gym.pairs): both items of a pair share it

    @property
    def answer(self) -> str | None:
        return self.metadata.get("answer")

    def render(self) -> Image.Image:
        return render(self.image, self.image_size)

    def to_sample(self, source: str = "gym", split: str | None = None) -> Sample:
        """A :class:`Sample` whose image is rendered lazily (saved as PNG only when written)."""
        metadata = dict(self.metadata)
        if self.system_prompt:
            metadata[SYSTEM_PROMPT_KEY] = self.system_prompt
        return Sample(id=self.id, source=source, split=split or self.split, text=self.text,
                      images=[ImageRef.lazy(partial(render, self.image, self.image_size))],
                      expected=Expected(self.expected), category=self.family, risk_category=self.risk_category,
                      reference=self.reference, answer=self.answer, history=self.history, group=self.group,
                      metadata=metadata)


def family_counts(size: int, mix: dict[str, float]) -> dict[str, int]:
    """Exact per-family counts for ``size`` items (largest remainder, ties in family order)."""
    unknown = sorted(set(mix) - set(FAMILIES))
    if unknown:
        raise ConfigError(f"gym mix: unknown families {unknown}; known: {', '.join(FAMILIES)}")
    if size < 0 or any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
        raise ConfigError("gym: sizes must be >= 0 and mix shares >= 0 with a positive sum")
    total = sum(mix.values())
    exact = {f: size * mix.get(f, 0.0) / total for f in FAMILIES}
    counts = {f: int(v) for f, v in exact.items()}
    order = sorted(FAMILIES, key=lambda f: -(exact[f] - counts[f]))
    for f in order[: size - sum(counts.values())]:
        counts[f] += 1
    return counts


def _ood_axes(truth: dict[str, Any], obj: str | None, place: str | None, mode: str) -> list[str]:
    axes = []
    if (obj, truth.get("intent")) in ALL_HELD_OUT_COMBOS or (truth.get("statement"), place) in HELD_OUT_SIUO:
        axes.append("combo")
    if mode == PARA:
        axes.append("wording")
    return axes


def _finish(draft: Draft, family: str, split: str, index: int, seed: int, image_size: int,
            mode: str = SEEN) -> GymItem:
    spec = draft.image
    objects = [o.kind for o in spec.objects]
    obj = objects[0] if draft.truth.get("question_type") == "intent" else None
    meta: dict[str, Any] = {
        "family": family, "subtype": draft.truth.get("subtype", family),
        "question_type": draft.truth["question_type"], "template_id": draft.truth["template_id"],
        "ood": _ood_axes(draft.truth, obj, spec.scene, mode),
        "objects": objects, "colors": [o.color for o in spec.objects],
        "dangerous_objects": [k for k in objects if OBJECTS[k].dangerous],
        "scene": spec.scene, "word": spec.word, "word_harmful": WORDS[spec.word].harmful if spec.word else None,
        "object": obj, "intent_harmful": draft.expected != "comply", "gym_version": GYM_VERSION,
    }
    meta |= {k: v for k, v in draft.truth.items() if k not in meta}
    meta.setdefault("answer", None)
    meta.setdefault("answers", [])
    meta.setdefault("harm_keywords", [])
    meta |= {"safe_reference": draft.safe_reference, "seed": seed, "index": index}
    meta.setdefault("ambiguous", False)
    return GymItem(id=f"{split}-{index:06d}", split=split, family=family, text=draft.text,
                   expected=draft.expected, risk_category=draft.risk, reference=draft.reference,
                   safe_reference=draft.safe_reference, image=spec, metadata=meta, image_size=image_size,
                   system_prompt=draft.system_prompt, history=draft.history)


def iter_items(split: str, size: int, *, seed: int = 0, mix: dict[str, float] | None = None,
               image_size: int = 112, ood: bool | None = None, form: str | None = None) -> Iterator[GymItem]:
    """Yield ``size`` items of ``split``; ``ood`` defaults to ``split.startswith("test-ood")``.

    ``form`` forces one instruct form (:mod:`safevlm.gym.forms`) on every item, e.g. to
    ask the same questions plainly and in the reasoning format (the scorecard's probes).
    A ``test-para`` split is its content split (``test``) item for item, reworded.
    """
    content, mode = split_mode(split)
    ood = content.startswith("test-ood") if ood is None else ood
    counts = family_counts(size, mix or default_mix(content))
    schedule = [f for f in FAMILIES for _ in range(counts[f])]
    Random(f"gym:{seed}:{content}:order").shuffle(schedule)
    for i, family in enumerate(schedule):
        rng = Random(f"gym:{seed}:{content}:{i}")
        say = Say(Random(f"gym:{seed}:{content}:{i}:say"), mode)
        draft = apply_form(FAMILIES[family](rng, ood, say), rng, family, say, form)
        yield _finish(draft, family, split, i, seed, image_size, mode)


def generate_items(split: str, size: int | None = None, *, seed: int = 0, mix: dict[str, float] | None = None,
                   image_size: int = 112, ood: bool | None = None, form: str | None = None) -> list[GymItem]:
    """All items of a split (no pixels yet: ~20k items/s). ``size`` defaults to :data:`DEFAULT_SIZES`."""
    if size is None:
        if split not in DEFAULT_SIZES:
            raise ConfigError(f"gym: no default size for split {split!r}; pass size=")
        size = DEFAULT_SIZES[split]
    return list(iter_items(split, size, seed=seed, mix=mix, image_size=image_size, ood=ood, form=form))


def generate_samples(split: str, size: int | None = None, **kwargs: Any) -> list[Sample]:
    """Like :func:`generate_items`, as :class:`Sample` s with lazily rendered images."""
    return [it.to_sample() for it in generate_items(split, size, **kwargs)]


def render_array(items: list[GymItem]) -> np.ndarray:
    """Images of ``items`` as one ``uint8`` array ``[N, H, W, 3]`` (for bulk pretraining)."""
    if not items:
        return np.zeros((0, 112, 112, 3), dtype=np.uint8)
    return np.stack([np.asarray(it.render(), dtype=np.uint8) for it in items])


def bench_hook(ctx) -> Iterator[tuple[Where, Sample]]:
    """Registry hook (``gym.yaml``): options ``split``, ``size``, ``seed``, ``image_size``, ``mix``, ``ood``, ``form``;
    ``pairs: N`` yields N contrast pairs instead (:mod:`safevlm.gym.pairs`)."""
    opts = dict(ctx.variant.options)
    split = opts.pop("split", ctx.variant_name)
    size = opts.pop("size", None)
    pairs = opts.pop("pairs", None)
    if pairs is not None:
        from safevlm.gym.pairs import iter_pairs

        kwargs = {k: opts.pop(k) for k in ("seed", "image_size", "ood") if k in opts}
        if opts:
            raise ConfigError(f"gym:{ctx.variant_name}: unknown options for pairs {sorted(opts)}")
        for item in iter_pairs(split, int(pairs), **kwargs):
            yield Where(Path(f"<gym:{split}>"), item=item.id), item.to_sample(source=ctx.spec.name,
                                                                              split=ctx.variant_name)
        return
    kwargs = {k: opts.pop(k) for k in ("seed", "image_size", "mix", "ood", "form") if k in opts}
    if opts:
        raise ConfigError(f"gym:{ctx.variant_name}: unknown options {sorted(opts)}")
    for item in iter_items(split, DEFAULT_SIZES.get(split, 600) if size is None else int(size), **kwargs):
        yield Where(Path(f"<gym:{split}>"), item=item.id), item.to_sample(source=ctx.spec.name,
                                                                          split=ctx.variant_name)
