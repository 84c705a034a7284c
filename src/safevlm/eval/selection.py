"""Which samples a run covers: benchmarks loaded, prompts prepared, cache keys computed.

A :class:`Item` is one (benchmark, sample) pair with the exact text sent to the model
(multiple-choice options added, :mod:`.mcqa`) and its response cache key. The same
sample may belong to two benchmarks of one run (``gym:smoke`` is a slice of
``gym:test``), so records are keyed by ``(bench, uid)``; the cache key, which does not
depend on the benchmark, lets the second re-use the first's response.

``--limit N`` (:func:`choose`) evaluates a seeded sample of N items per benchmark,
stratified by the benchmark's own category so that every category is represented in
proportion (the first N items of a file are often one or two categories); a group
(an unsafe request and its safe twin) is kept or dropped as a whole, so the paired
metric stays computable. ``limit_mode="first"`` takes the first N items in file order
instead. A benchmark that ends with no item to evaluate is an error naming the option
that would keep its items, never an empty score.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safevlm import config as sv_config
from safevlm.data.records import RecordKey, RunRecord
from safevlm.data.sample import Sample
from safevlm.errors import ConfigError
from safevlm.eval.config import EvalConfig
from safevlm.eval.judging import default_judges
from safevlm.eval.mcqa import render_prompt
from safevlm.eval.records import cache_key

if TYPE_CHECKING:
    from safevlm.data.prompts import PromptWrapper

log = logging.getLogger(__name__)


@dataclass
class Item:
    bench: str
    sample: Sample  # carries the text as sent
    key: str

    @property
    def rkey(self) -> RecordKey:
        return self.bench, self.sample.uid


def prepare(sample: Sample, mcqa_prompt: bool, wrapper: PromptWrapper | None = None) -> Sample:
    """The sample as it is sent: with a multiple-choice item's options in its text, then
    wrapped the way the model was fine-tuned (``wrapper``)."""
    text = render_prompt(sample) if mcqa_prompt and sample.choices else sample.text
    if wrapper is not None:
        text = wrapper.apply(text)
    return sample if text == sample.text else sample.model_copy(update={"text": text})


def _stratum(sample: Sample) -> str:
    return str(sample.category or sample.risk_category or "uncategorised")


def choose(samples: list[Sample], limit: int | None, mode: str = "stratified", seed: int = 0) -> list[Sample]:
    """At most ``limit`` of ``samples``, in their original order (see the module docstring).

    ``stratified``: units (a group's members together, else one sample) are shuffled
    within their stratum (the first member's category) by a generator seeded with
    ``seed`` and the stratum's name, then interleaved by their relative position in it
    (systematic sampling with a random start), so each stratum's share of any prefix is
    its share of the benchmark; the longest prefix that fits ``limit`` is kept. The
    order does not depend on ``limit``: a larger limit keeps a superset, so raising
    ``--limit`` on a run re-uses its responses.
    """
    if limit is None or limit >= len(samples):
        return list(samples)
    if mode == "first":
        return list(samples[:limit])
    units: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        units.setdefault(f"g:{s.group}" if s.group is not None else f"i:{i}", []).append(i)
    strata: dict[str, list[list[int]]] = {}
    for members in units.values():
        strata.setdefault(_stratum(samples[members[0]]), []).append(members)
    ranked: list[tuple[float, str, list[int]]] = []
    for name, group in strata.items():
        rng = random.Random(f"{seed}:{name}")
        rng.shuffle(group)
        start = rng.random()
        ranked += [((k + start) / len(group), name, members) for k, members in enumerate(group)]
    chosen: list[int] = []
    for _, _, members in sorted(ranked, key=lambda r: (r[0], r[1])):
        if len(chosen) + len(members) > limit:
            break
        chosen += members
    return [samples[i] for i in sorted(chosen)]


def _no_items(res: Any) -> ConfigError:
    if res.skipped_missing_images:
        return ConfigError(f"{res.uid}: no item to evaluate: all {res.skipped_missing_images} items were skipped "
                           f"because their images are not on disk (under {res.image_root}); rerun with "
                           "--on-missing-image text_only to evaluate them without their images "
                           "(on_missing_image='text_only' from Python), or point the benchmark's image_root at "
                           "a local copy")
    return ConfigError(f"{res.uid}: no item to evaluate: the benchmark holds no items (check its data file and "
                       "its 'where' filter)")


def load_items(cfg: EvalConfig, model: str, *, verify_images: bool = True, trust_hooks: bool | None = None
               ) -> tuple[list[Item], dict[str, list[str]], dict[str, dict[str, Any]]]:
    """Load every benchmark of ``cfg``; return the items in order, each benchmark's judges and
    its selection (item counts, what was skipped and why, which items ``limit`` chose).

    Benchmark refs are resolved to ``NAME:VARIANT`` (``gym`` -> ``gym:test``, ``NAME:*``
    -> every variant) and de-duplicated; ``cfg.benches`` is updated to the resolved refs.
    """
    from safevlm.bench import expand_refs, load_benchmark
    from safevlm.data.prompts import get_wrapper

    wrapper = get_wrapper(cfg.prompt_wrapper) if cfg.prompt_wrapper else None
    specs = [Path(p) for p in cfg.extra_specs] or None
    items: list[Item] = []
    judges_of: dict[str, list[str]] = {}
    selection: dict[str, dict[str, Any]] = {}
    for ref in expand_refs(cfg.benches, specs):
        res = load_benchmark(ref, data_root=cfg.data_root, on_missing_image=cfg.on_missing_image,  # type: ignore[arg-type]
                             verify_images=False, extra_specs=specs, trust_hooks=trust_hooks)
        if not res.samples:
            raise _no_items(res)
        chosen = choose(res.samples, cfg.limit, cfg.limit_mode, cfg.limit_seed)
        if verify_images:
            res.check_images(chosen)
        judges_of[res.uid] = list(cfg.judges) if cfg.judges else default_judges(res.uid, res.samples)
        selection[res.uid] = {**res.account(), "evaluable": len(res.samples), "selected": len(chosen),
                              "limit": cfg.limit, "limit_mode": cfg.limit_mode, "limit_seed": cfg.limit_seed,
                              "ids": [s.id for s in chosen] if len(chosen) < len(res.samples) else None}
        seen: set[str] = set()
        for s in chosen:
            if s.uid in seen:
                log.warning("%s: duplicate sample uid %s; keeping the first", res.uid, s.uid)
                continue
            seen.add(s.uid)
            sent = prepare(s, cfg.mcqa_prompt, wrapper)
            items.append(Item(res.uid, sent, cache_key(model, s, sent.text, cfg.generation, cfg.output_options)))
    cfg.benches = list(judges_of)
    return items, judges_of, selection


def sample_from_record(rec: RunRecord, run_dir: Path | None = None, data_root: str | Path | None = None) -> Sample:
    """Rebuild the sample a record was made from.

    An image path is resolved like the report resolves it: absolute as given; relative
    to the run directory when the file is there (images the run saved, such as the
    gym's ``images/<hash>.png``); else relative to the data root (benchmark files).
    """
    source, split, _ = rec.uid.split(":", 2)
    root = sv_config.data_root(data_root)
    images = []
    for p in rec.images:
        if p is None:
            continue
        if os.path.isabs(p):
            images.append(p)
        elif run_dir is not None and (run_dir / p).is_file():
            images.append(str(run_dir / p))
        else:
            images.append(str(root / p))
    return Sample(id=rec.id, source=source, split=split, text=rec.text, history=rec.history, images=images,
                  expected=rec.expected,
                  category=rec.category, risk_category=rec.risk_category, reference=rec.reference,
                  choices=rec.choices, answer=rec.answer, group=rec.group, metadata=rec.metadata)


def samples_for_records(records: list[RunRecord], cfg: EvalConfig, run_dir: Path | None = None
                        ) -> dict[RecordKey, Sample]:
    """The sample behind each record, reloaded from its benchmark where possible.

    Reloading brings back in-memory images (the gym's) that a judge may want to see;
    a benchmark that no longer loads falls back on the record's own fields.
    """
    out: dict[RecordKey, Sample] = {}
    for bench in sorted({r.bench for r in records}):
        sub = EvalConfig.from_dict({**cfg.to_dict(), "benches": [bench]})
        try:
            items, _, _ = load_items(sub, cfg.model, verify_images=False)
        except Exception as exc:  # noqa: BLE001 - any load failure means: use the records
            log.warning("cannot reload %s (%s); judging from the records' own fields", bench, exc)
            continue
        for it in items:
            out[it.rkey] = it.sample
    for rec in records:
        sample = out.get(rec.key)
        if sample is None:
            out[rec.key] = sample_from_record(rec, run_dir, cfg.data_root)
        elif sample.text != rec.text:
            out[rec.key] = sample.model_copy(update={"text": rec.text})
    return out
