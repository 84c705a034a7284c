"""Which samples a run covers: benchmarks loaded, prompts prepared, cache keys computed.

A :class:`Item` is one (benchmark, sample) pair with the exact text sent to the model
(multiple-choice options added, :mod:`.mcqa`) and its response cache key. The same
sample may belong to two benchmarks of one run (``gym:smoke`` is a slice of
``gym:test``), so records are keyed by ``(bench, uid)``; the cache key, which does not
depend on the benchmark, lets the second re-use the first's response.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safevlm import config as sv_config
from safevlm.data.sample import Sample
from safevlm.eval.config import EvalConfig
from safevlm.eval.judging import default_judges
from safevlm.eval.mcqa import render_prompt
from safevlm.eval.records import RecordKey, cache_key

if TYPE_CHECKING:
    from safevlm.safecot.prompt import PromptWrapper

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


def load_items(cfg: EvalConfig, model: str, *, verify_images: bool = True) -> tuple[list[Item], dict[str, list[str]]]:
    """Load every benchmark of ``cfg``; return the items in order and each benchmark's judges.

    Benchmark refs are resolved to ``NAME:VARIANT`` (``gym`` -> ``gym:test``) and
    de-duplicated; ``cfg.benches`` is updated to the resolved refs.
    """
    from safevlm.bench import load_benchmark
    from safevlm.safecot.prompt import get_wrapper

    wrapper = get_wrapper(cfg.prompt_wrapper) if cfg.prompt_wrapper else None
    items: list[Item] = []
    judges_of: dict[str, list[str]] = {}
    resolved: list[str] = []
    for ref in cfg.benches:
        res = load_benchmark(ref, data_root=cfg.data_root, on_missing_image=cfg.on_missing_image,  # type: ignore[arg-type]
                             verify_images=verify_images, limit=cfg.limit,
                             extra_specs=[Path(p) for p in cfg.extra_specs] or None)
        if res.uid in judges_of:
            continue
        resolved.append(res.uid)
        judges_of[res.uid] = list(cfg.judges) if cfg.judges else default_judges(res.uid)
        seen: set[str] = set()
        for s in res.samples:
            if s.uid in seen:
                log.warning("%s: duplicate sample uid %s; keeping the first", res.uid, s.uid)
                continue
            seen.add(s.uid)
            sent = prepare(s, cfg.mcqa_prompt, wrapper)
            items.append(Item(res.uid, sent, cache_key(model, s, sent.text, cfg.generation, cfg.output_options)))
    cfg.benches = resolved
    return items, judges_of


def sample_from_record(rec: dict[str, Any], data_root: str | Path | None = None) -> Sample:
    """Rebuild the sample a record was made from (images on disk only; in-memory ones are not stored)."""
    source, split, _ = rec["uid"].split(":", 2)
    root = sv_config.data_root(data_root)
    images = [p if os.path.isabs(p) else str(root / p) for p in rec.get("images") or [] if p is not None]
    return Sample(id=rec["id"], source=source, split=split, text=rec["text"], images=images,
                  expected=rec["expected"], category=rec.get("category"), risk_category=rec.get("risk_category"),
                  reference=rec.get("reference"), choices=rec.get("choices"), answer=rec.get("answer"),
                  metadata=rec.get("metadata") or {})


def samples_for_records(records: list[dict[str, Any]], cfg: EvalConfig) -> dict[RecordKey, Sample]:
    """The sample behind each record, reloaded from its benchmark where possible.

    Reloading brings back in-memory images (the gym's) that a judge may want to see;
    a benchmark that no longer loads falls back on the record's own fields.
    """
    out: dict[RecordKey, Sample] = {}
    wanted = {r["bench"] for r in records}
    for bench in sorted(wanted):
        sub = EvalConfig.from_dict({**cfg.to_dict(), "benches": [bench]})
        try:
            items, _ = load_items(sub, cfg.model, verify_images=False)
        except Exception as exc:  # noqa: BLE001 - any load failure means: use the records
            log.warning("cannot reload %s (%s); judging from the records' own fields", bench, exc)
            continue
        for it in items:
            out[it.rkey] = it.sample
    for rec in records:
        key = (rec["bench"], rec["uid"])
        sample = out.get(key)
        if sample is None:
            out[key] = sample_from_record(rec, cfg.data_root)
        elif sample.text != rec["text"]:
            out[key] = sample.model_copy(update={"text": rec["text"]})
    return out
