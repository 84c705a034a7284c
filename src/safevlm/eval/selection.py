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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safevlm import config as sv_config
from safevlm.data.run_record import RecordKey, RunRecord
from safevlm.data.sample import Sample
from safevlm.errors import ConfigError
from safevlm.eval.config import EVERY_BENCH, EvalConfig, missing_image_policy
from safevlm.eval.judging import default_judges
from safevlm.eval.mcqa import render_prompt
from safevlm.eval.run_dir import cache_key

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


#: ``Sample.metadata`` key of the benchmark's text before the evaluation changed it (an official judge
#: asks about the question, not about a wrapper around it)
QUESTION_KEY = "benchmark_text"


#: ``Sample.metadata`` key set on a multiple-choice item sent with its options: it asks for a letter,
#: which is neither a refusal nor an answer (only ``mcqa_accuracy`` reads it; :mod:`.results`)
LETTER_KEY = "asks_for_letter"


def prepare(sample: Sample, mcqa_prompt: bool, wrapper: PromptWrapper | None = None) -> Sample:
    """The sample as it is sent: with a multiple-choice item's options in its text (unless its
    task prompt already lists them), then wrapped the way the model was fine-tuned (``wrapper``)."""
    listed = bool(sample.metadata.get("options_in_text"))
    text = render_prompt(sample) if mcqa_prompt and sample.choices and not listed else sample.text
    if wrapper is not None:
        text = wrapper.apply(text)
    meta = dict(sample.metadata)
    if sample.choices and (listed or mcqa_prompt):
        meta[LETTER_KEY] = True
    if text != sample.text:
        meta[QUESTION_KEY] = sample.text
    if text == sample.text and meta == sample.metadata:
        return sample
    return sample.model_copy(update={"text": text, "metadata": meta})


def _stratum(sample: Sample) -> str:
    return str(sample.category or sample.risk_category or "uncategorised")


def _unit(sample: Sample, index: int) -> str:
    """What ``--limit`` keeps or drops whole: a group, the samples of one repeated item, else the item."""
    if sample.group is not None:
        return f"g:{sample.group}"
    if "repeat_of" in sample.metadata:
        return f"r:{sample.metadata['repeat_of']}"
    return f"i:{index}"


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
        units.setdefault(_unit(s, i), []).append(i)
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


def _no_items(res: Any, several: bool) -> ConfigError:
    if res.skipped_missing_images:
        return ConfigError(
            f"{res.uid}: no item to evaluate: all {res.skipped_missing_images} items were skipped because their "
            f"images are not on disk (under {res.image_root}); evaluate it without its images with "
            f"--on-missing-image {res.name}=text_only (this benchmark only; from Python "
            f"on_missing_image={{{res.name!r}: 'text_only'}}), point the benchmark's image_root at a local copy, "
            + (f"or go on without it with --on-missing-image {res.name}=skip" if several else "or leave it out"))
    return ConfigError(f"{res.uid}: no item to evaluate: the benchmark holds no items (check its data file and "
                       "its 'where' filter)")


def identical_pairs(samples: list[Sample]) -> dict[str, list[Sample]]:
    """Groups whose members expect different behaviour from the very same input (text, earlier turns,
    system prompt, images) -> their members.

    A pair such as MSSBench's (the same question over a safe and an unsafe image) becomes
    two identical prompts with opposite expected behaviours when kept text-only: no
    response can be right on both sides, so scoring it would only measure the missing image.
    """
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        if s.group is not None:
            groups.setdefault(s.group, []).append(s)
    out: dict[str, list[Sample]] = {}
    for group, members in groups.items():
        seen: dict[tuple, set[str]] = {}
        for m in members:
            key = (m.text, tuple(t.model_dump_json() for t in m.history), str(m.metadata.get("system_prompt")),
                   tuple(ref.path or id(ref) for ref in m.images))
            seen.setdefault(key, set()).add(m.expected.value)
        if any(len(expected) > 1 for expected in seen.values()):
            out[group] = members
    return out


def _leave_out_identical_pairs(res: Any) -> tuple[list[Sample], dict[str, int]]:
    """``res.samples`` without the pairs that became identical once kept without their images, and their
    count for the selection (``excluded_identical_without_images``: items; ``..._pairs``: groups).

    Left out with a warning saying how many and why; a benchmark none of whose pairs is left has nothing
    to score (:class:`ConfigError`), and a pair identical although its images are all there is an error
    in the benchmark's data (:class:`ConfigError` naming it).
    """
    same = identical_pairs(res.samples)
    if not same:
        return res.samples, {}
    broken = [g for g, ms in same.items() if not any(m.metadata.get("images_missing") for m in ms)]
    if broken:
        raise ConfigError(f"{res.uid}: {len(broken)} pair(s) ask the same input on both sides yet expect different "
                          f"behaviour although none of their images is missing, e.g. group {broken[0]!r}; such a pair "
                          "cannot be scored: check the benchmark's data file (its 'items' and 'group')")
    twins = {m.uid for ms in same.values() for m in ms}
    kept = [s for s in res.samples if s.uid not in twins]
    groups = {s.group for s in res.samples if s.group is not None}
    why = (f"their images are not on disk (under {res.image_root}), and without them both sides of each pair "
           "become the same prompt with opposite expected behaviours, so no response can be right on both")
    if not any(s.group is not None for s in kept):
        raise ConfigError(f"{res.uid}: nothing left to score: all {len(same)} pair(s) ask the same input on both "
                          f"sides: {why}. Point the benchmark's image_root at its images (image_root=, or "
                          f"benchmarks.{res.name}.image_root in the config file), or evaluate its sides as separate "
                          "benchmarks")
    log.warning("%s: %d of %d pairs (%d items) left out: %s", res.uid, len(same), len(groups), len(twins), why)
    return kept, {"excluded_identical_without_images": len(twins), "excluded_identical_pairs": len(same)}


def _check_policy_keys(setting: Any, refs: list[str]) -> None:
    """Every benchmark named in a per-benchmark ``on_missing_image`` is one of the run's."""
    if not isinstance(setting, dict):
        return
    names = {r.partition(":")[0] for r in refs}
    for key in setting:
        if key != EVERY_BENCH and key not in refs and key not in names:
            raise ConfigError(f"--on-missing-image {key}={setting[key]}: {key!r} is not a benchmark of this run "
                              f"({', '.join(refs)})")


def load_items(cfg: EvalConfig, model: str, *, verify_images: bool = True, trust_hooks: bool | None = None
               ) -> tuple[list[Item], dict[str, list[str]], dict[str, dict[str, Any]]]:
    """Load every benchmark of ``cfg``; return the items in order, each benchmark's judges and
    its selection (item counts, what was skipped and why, which items ``limit`` chose).

    Benchmark refs are resolved to ``NAME:VARIANT`` (``gym`` -> ``gym:test``, ``NAME:*``
    -> every variant) and de-duplicated; ``cfg.benches`` is updated to the resolved refs.

    A benchmark that ends with no item because its images are missing stops the run
    (:class:`ConfigError`, naming the per-benchmark fix), except where the run may go on
    without it: a variant that came from ``NAME:*``, or a benchmark whose missing-image
    policy was chosen as ``skip``. Such a benchmark is left out with a warning and listed
    in the returned selection with ``"not_evaluated"`` (its reason) and no judges; so is
    no other. A pair whose sides become identical without their images is left out and
    counted (``excluded_identical_without_images``, :func:`_leave_out_identical_pairs`);
    a benchmark none of whose pairs is left stops the run. Each benchmark's official
    protocol is read and checked before anything is generated.
    """
    from safevlm.bench import expand_refs, load_benchmark
    from safevlm.bench.registry import check_protocol
    from safevlm.data.prompts import get_wrapper

    wrapper = get_wrapper(cfg.prompt_wrapper) if cfg.prompt_wrapper else None
    specs = [Path(p) for p in cfg.extra_specs] or None
    items: list[Item] = []
    judges_of: dict[str, list[str]] = {}
    selection: dict[str, dict[str, Any]] = {}
    refs = expand_refs(cfg.benches, specs)
    _check_policy_keys(cfg.on_missing_image, refs)
    named = set(expand_refs([r for r in cfg.benches if not r.strip().endswith(":*")], specs))
    for ref in refs:
        policy, chosen = missing_image_policy(cfg.on_missing_image, ref)
        res = load_benchmark(ref, data_root=cfg.data_root, on_missing_image=policy,  # type: ignore[arg-type]
                             verify_images=False, extra_specs=specs, trust_hooks=trust_hooks)
        check_protocol(ref, data_root=cfg.data_root, extra_specs=specs)  # before a single response is generated
        samples, excluded = _leave_out_identical_pairs(res)
        account = {**res.account(), **excluded}
        if not samples:
            if res.skipped_missing_images and (ref not in named or (chosen and policy == "skip")) and len(refs) > 1:
                log.warning("%s: not evaluated: all %d items were skipped because their images are not on disk "
                            "(under %s); the other benchmarks go on (--on-missing-image %s=text_only evaluates it "
                            "without its images)", res.uid, res.skipped_missing_images, res.image_root, res.name)
                selection[res.uid] = {**account, "evaluable": 0, "selected": 0,
                                      "not_evaluated": "all items skipped: images not on disk"}
                continue
            raise _no_items(res, len(refs) > 1)
        chosen_samples = choose(samples, cfg.limit, cfg.limit_mode, cfg.limit_seed)
        if verify_images:
            res.check_images(chosen_samples)
        judges_of[res.uid] = list(cfg.judges) if cfg.judges else default_judges(res.uid, samples)
        selection[res.uid] = {**account, "evaluable": len(samples), "selected": len(chosen_samples),
                              "text_only_evaluated": sum(bool(s.metadata.get("images_missing"))
                                                         for s in chosen_samples),
                              "behaviour": dict(Counter(s.expected.value for s in chosen_samples)),
                              "limit": cfg.limit, "limit_mode": cfg.limit_mode, "limit_seed": cfg.limit_seed,
                              "ids": [s.id for s in chosen_samples] if len(chosen_samples) < len(samples) else None}
        seen: set[str] = set()
        for s in chosen_samples:
            if s.uid in seen:
                log.warning("%s: duplicate sample uid %s; keeping the first", res.uid, s.uid)
                continue
            seen.add(s.uid)
            sent = prepare(s, cfg.mcqa_prompt, wrapper)
            items.append(Item(res.uid, sent, cache_key(model, s, sent.text, cfg.generation, cfg.output_options)))
    if not judges_of:
        raise ConfigError("no benchmark of this run has an item to evaluate: "
                          + "; ".join(f"{b}: {v['not_evaluated']}" for b, v in selection.items()))
    cfg.benches = list(judges_of)
    return items, judges_of, selection


def record_images(rec: RunRecord, run_dir: Path | None, data_root: str | Path | None,
                  roots: tuple[str | Path, ...] = ()) -> list[str]:
    """The files behind a record's image fields, confined by their real path as the loader confines a
    benchmark's (:mod:`safevlm.data.paths`): a relative path under the run directory (images the run
    saved, such as the gym's ``images/<hash>.png``) when the file is there, else under the data root;
    an absolute path only under the data root, the run directory or ``roots`` (a benchmark's image
    root). A path that leads elsewhere (``..``, a symbolic link, any other folder) is left out and
    logged: a run directory is data, and never makes safevlm open a file (or send it to a judge
    model, or train on it) outside those folders."""
    from safevlm.data.paths import within

    root = sv_config.data_root(data_root)
    allowed = [root, *([run_dir] if run_dir is not None else []), *roots]
    out = []
    for p in rec.images:
        if p is None:
            continue
        if os.path.isabs(p):
            path = within(p, allowed)
        elif run_dir is not None and (run_dir / p).is_file():
            path = within(run_dir / p, [run_dir])
        else:
            path = within(root / p, [root])
        if path is None:
            log.warning("%s: image %r leads outside the data root%s; left out", rec.uid, p,
                        " and the run directory" if run_dir is not None else "")
            continue
        out.append(str(path))
    return out


def sample_from_record(rec: RunRecord, run_dir: Path | None = None, data_root: str | Path | None = None) -> Sample:
    """Rebuild the sample a record was made from; its images as :func:`record_images` finds them."""
    source, split, _ = rec.uid.split(":", 2)
    return Sample(id=rec.id, source=source, split=split, text=rec.text, history=rec.history,
                  images=record_images(rec, run_dir, data_root), expected=rec.expected,
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
