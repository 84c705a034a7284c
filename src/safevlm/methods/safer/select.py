"""QI-Box data selection (docs/methods.md, "SaFeR-VLM: QI-Box data selection").

GRPO learns only from groups whose samples get different rewards: a prompt the policy
always gets right, or always wrong, gives a zero-variance group and no gradient. So,
from a pool of prompts, :func:`select` samples ``k`` responses per prompt from the
starting policy, scores each with the structured reward, and keeps the prompts of
**moderate quality** (mean reward inside ``quality``) and **high instability**
(standard deviation at least ``min_std``), the box of the quality x instability plane
where the policy is unsure. Band and k are open in the paper; ours are configurable.

Output folder: ``selected.jsonl`` (the kept samples, images saved beside them: the
``--data`` of ``safevlm train grpo``), ``scores.jsonl`` (every pool prompt: quality,
instability, kept or why not), ``scatter.svg`` and a data card (``data_card.json``,
``README.md``): counts kept and dropped per family, and the share of zero-variance
groups in the pool and in the selection (what GRPO would see at its first step).
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safevlm.backends import Backend, GenerationParams, load_backend
from safevlm.data.jsonl import write_jsonl, write_samples
from safevlm.data.prompts import get_wrapper
from safevlm.data.provenance import DataCard
from safevlm.data.sample import Sample
from safevlm.errors import ConfigError
from safevlm.models.training_record import prompt_wrapper_of
from safevlm.rewards import RewardConfig, get_scorer
from safevlm.train.grpo import SELECTED

SCORES, SCATTER = "scores.jsonl", "scatter.svg"


@dataclass
class SelectConfig:
    """What ``safevlm safer select`` does (every field is a CLI option)."""

    pool: list[str]
    model: str
    k: int = 8
    reward: str = "oracle"
    quality: tuple[float, float] = (0.1, 0.9)
    min_std: float = 0.1
    max_prompts: int | None = None
    max_pool: int | None = None
    temperature: float = 1.0
    max_new_tokens: int = 128
    prompt_wrapper: str | None = None  # None: the starting model's own (its safevlm_training.json)
    seed: int = 0
    batch_size: int | None = None
    data_root: str | None = None
    extra_specs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.k < 2:
            raise ConfigError("k must be >= 2: instability is the spread of k samples")
        lo, hi = self.quality
        if not 0 <= lo <= hi <= 1:
            raise ConfigError(f"quality band must satisfy 0 <= low <= high <= 1, got {self.quality}")
        if not self.pool:
            raise ConfigError("no --pool benchmark given")


@dataclass
class PromptStats:
    uid: str
    family: str
    expected: str
    rewards: list[float]
    failures: int

    @property
    def quality(self) -> float | None:
        return sum(self.rewards) / len(self.rewards) if self.rewards else None

    @property
    def instability(self) -> float | None:
        if len(self.rewards) < 2:
            return None
        m = self.quality or 0.0
        return math.sqrt(sum((r - m) ** 2 for r in self.rewards) / (len(self.rewards) - 1))

    def verdict(self, cfg: SelectConfig) -> str:
        """``kept``, or why not: ``low quality``, ``high quality``, ``stable``, ``unscored``."""
        q, s = self.quality, self.instability
        if q is None or s is None:
            return "unscored"
        if q < cfg.quality[0]:
            return "low quality"
        if q > cfg.quality[1]:
            return "high quality"
        return "kept" if s >= cfg.min_std else "stable"


def _pool(cfg: SelectConfig) -> list[Sample]:
    from safevlm.bench import load_benchmark

    samples: dict[str, Sample] = {}
    for ref in cfg.pool:
        res = load_benchmark(ref, data_root=cfg.data_root, verify_images=False,
                             extra_specs=[Path(p) for p in cfg.extra_specs] or None)
        for s in res.samples:
            if not s.history and not s.metadata.get("ambiguous"):
                samples.setdefault(s.uid, s)
    pool = list(samples.values())
    if cfg.max_pool and len(pool) > cfg.max_pool:
        pool = random.Random(f"qi:{cfg.seed}").sample(pool, cfg.max_pool)
    if not pool:
        raise ConfigError(f"--pool {','.join(cfg.pool)}: no single-turn, unambiguous prompts")
    return pool


def select(cfg: SelectConfig, out: str | Path, *, backend: Backend | None = None, progress=None) -> dict[str, Any]:
    """Sample, score, select; write the folder (module docstring) and return the data card."""
    t0 = time.perf_counter()
    out = Path(out)
    pool = _pool(cfg)
    wrapper = get_wrapper(cfg.prompt_wrapper if cfg.prompt_wrapper is not None else prompt_wrapper_of(cfg.model))
    scorer = get_scorer(cfg.reward, RewardConfig())
    own = backend is None
    backend = backend or load_backend(cfg.model, batch_size=cfg.batch_size)
    requests = [s.model_copy(update={"text": wrapper.apply(s.text)}) for s in pool for _ in range(cfg.k)]
    params = GenerationParams(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=cfg.seed)
    try:
        gens = backend.generate(requests, params, progress=progress)
    finally:
        if own:
            backend.close()
    ok = [g for g in gens if g.ok]
    scored = scorer.score([r for r, g in zip(requests, gens) if g.ok], [g.text for g in ok],
                          truncated=[g.finish_reason == "length" for g in ok])
    by_uid: dict[str, list[Any]] = defaultdict(list)
    for r, sc in zip([r for r, g in zip(requests, gens) if g.ok], scored):
        by_uid[r.uid].append(sc)
    stats = []
    for s in pool:
        scores = by_uid.get(s.uid, [])
        stats.append(PromptStats(s.uid, s.category or "?", s.expected.value,
                                 [x.overall for x in scores if x.overall is not None],
                                 cfg.k - sum(x.overall is not None for x in scores)))
    verdicts = {st.uid: st.verdict(cfg) for st in stats}
    kept = [st for st in stats if verdicts[st.uid] == "kept"]
    kept.sort(key=lambda st: -(st.instability or 0.0))
    if cfg.max_prompts:
        for st in kept[cfg.max_prompts:]:
            verdicts[st.uid] = "over max_prompts"
        kept = kept[:cfg.max_prompts]
    keep_ids = {st.uid for st in kept}
    out.mkdir(parents=True, exist_ok=True)
    write_samples([s for s in pool if s.uid in keep_ids], out / SELECTED)
    write_jsonl(out / SCORES, [{"uid": st.uid, "family": st.family, "expected": st.expected,
                                "quality": st.quality, "instability": st.instability, "scored": len(st.rewards),
                                "failures": st.failures, "verdict": verdicts[st.uid]} for st in stats])
    (out / SCATTER).write_text(_scatter(stats, verdicts, cfg), encoding="utf-8")
    card = _card(cfg, stats, verdicts, wrapper.to_dict(), time.perf_counter() - t0)
    DataCard.from_dict(card).write(out, card_markdown(card))
    return card


def _zero_variance(stats: list[PromptStats]) -> float | None:
    scored = [st for st in stats if len(st.rewards) >= 2]
    return sum((st.instability or 0.0) < 1e-9 for st in scored) / len(scored) if scored else None


def _scatter(stats: list[PromptStats], verdicts: dict[str, str], cfg: SelectConfig) -> str:
    from safevlm.report.svg import xy_scatter

    points = [(st.quality, st.instability, f"{st.uid} ({st.family}): quality {st.quality:.2f}, "
               f"instability {st.instability:.2f}, {verdicts[st.uid]}", verdicts[st.uid] == "kept")
              for st in stats if st.quality is not None and st.instability is not None]
    return xy_scatter(points, x_label="quality (mean reward)", y_label="instability (std of rewards)",
                      box=(cfg.quality[0], cfg.quality[1], cfg.min_std, 0.6), y_max=0.6)


def _card(cfg: SelectConfig, stats: list[PromptStats], verdicts: dict[str, str], wrapper: dict[str, str],
          seconds: float) -> dict[str, Any]:
    import safevlm

    per_family: dict[str, Counter] = defaultdict(Counter)
    for st in stats:
        per_family[st.family][verdicts[st.uid]] += 1
    kept = [st for st in stats if verdicts[st.uid] == "kept"]
    quality = [st.quality for st in kept if st.quality is not None]
    return {
        "format": "safevlm-qi-box/1", "safevlm_version": safevlm.__version__, "config": asdict(cfg),
        "pool": cfg.pool, "policy": cfg.model, "k": cfg.k, "reward": cfg.reward, "prompt_wrapper": wrapper,
        "box": {"quality": list(cfg.quality), "min_std": cfg.min_std},
        "counts": {"pool": len(stats), "kept": len(kept), **dict(Counter(verdicts.values())),
                   "failed_samples": sum(st.failures for st in stats)},
        "per_family": {f: dict(c) for f, c in sorted(per_family.items())},
        "zero_variance_share": {"pool": _zero_variance(stats), "selected": _zero_variance(kept)},
        "mean_quality": {"pool": _mean([st.quality for st in stats]), "selected": _mean(quality)},
        "seconds": round(seconds, 2),
    }


def _mean(values: list[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


def card_markdown(card: dict[str, Any]) -> str:
    c = card["counts"]
    zv = card["zero_variance_share"]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"
    lines = [f"# QI-Box selection: {c['kept']} of {c['pool']} prompts", "",
             f"- pool `{','.join(card['pool'])}`, policy `{card['policy']}`, k = {card['k']} samples per prompt, "
             f"reward `{card['reward']}`, prompts wrapped `{card['prompt_wrapper']['name']}`",
             f"- kept: mean reward in {card['box']['quality']} and standard deviation >= {card['box']['min_std']}",
             f"- zero-variance groups (all k samples scored alike, no GRPO gradient): pool {fmt(zv['pool'])}, "
             f"selected {fmt(zv['selected'])}",
             f"- mean quality: pool {fmt(card['mean_quality']['pool'])}, selected "
             f"{fmt(card['mean_quality']['selected'])}",
             f"- failed samples (generation or reward): {c['failed_samples']}", "",
             "![quality x instability](scatter.svg)", "", "| family | kept | dropped (why) |", "|---|---|---|"]
    for fam, counts in card["per_family"].items():
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "kept") or "-"
        lines.append(f"| {fam} | {counts.get('kept', 0)} | {dropped} |")
    return "\n".join(lines) + "\n"
