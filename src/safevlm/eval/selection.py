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
from typing import TYPE_CHECKING

from safevlm import config as sv_config
from safevlm.data.records import RecordKey, RunRecord
from safevlm.data.sample import Sample
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


def load_items(cfg: EvalConfig, model: str, *, verify_images: bool = True) -> tuple[list[Item], dict[str, list[str]]]:
    """Load every benchmark of ``cfg``; return the items in order and each benchmark's judges.

    Benchmark refs are resolved to ``NAME:VARIANT`` (``gym`` -> ``gym:test``) and
    de-duplicated; ``cfg.benches`` is updated to the resolved refs.
    """
    from safevlm.bench import load_benchmark
    from safevlm.data.prompts import get_wrapper

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
                  choices=rec.choices, answer=rec.answer, metadata=rec.metadata)


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
            items, _ = load_items(sub, cfg.model, verify_images=False)
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
