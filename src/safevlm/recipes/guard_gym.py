"""VLMGuard-R1 end to end on the gym: pairs, three-stage synthesis, the rewriter, the guard in
front of the unchanged gym model, and the training-free baselines beside it (a recipe).

1. **pairs** (:mod:`safevlm.methods.guard.pairs`): the base gym model and the SafeCoT-v2 model
   answer the same seeded slice of ``gym:train`` (never the test splits the guard is
   measured on); the oracle decides which answers are safe;
2. **synthesis** (:mod:`safevlm.methods.guard.synth`) with the ``oracle`` teacher, benign items
   1:1 with risky ones;
3. **the rewriter**: the gym model fine-tuned on that set with the CPU SFT preset;
4. **evaluation** on ``gym:test``, ``gym:test-ood`` and ``gym:test-para`` of the base model behind the guard
   (``guard:hf:REWRITER>gym``), behind each baseline defence (``defence:safety-prompt>gym``,
   ``defence:ecso>gym``), and of the SafeCoT-v2 model behind the guard.

A finished step is reused when run again with the same settings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safevlm.progress import console
from safevlm.recipes.common import BENCHES, JUDGES, evaluate_model, finished_card, train_sft


@dataclass
class GymGuardConfig:
    train_ref: str = "gym:train"
    pair_items: int = 1200  # the train slice both models answer
    benign_ratio: float = 2.0  # benign (keep-as-is) examples per risky one: all the slice has (~2:1)
    steps: int = 200  # rewriter SFT steps (batch 32)
    seed: int = 0
    benches: list[str] = field(default_factory=lambda: list(BENCHES))
    batch_size: int = 64


def pair_runs(v2: Path, v2_wrapper: str | None, out: Path, cfg: GymGuardConfig) -> list[Path]:
    """The base and SafeCoT-v2 models on the same train slice, oracle-judged."""
    from safevlm.eval import evaluate
    from safevlm.recipes.common import GENERATION

    runs = []
    for label, model, wrapper in (("base", "gym", None), ("safecot-v2", f"hf:{v2}", v2_wrapper)):
        run = out / f"pairs-{label}"
        evaluate(model=model, benches=[cfg.train_ref], judges=["oracle"], out=run, limit=cfg.pair_items,
                 limit_seed=cfg.seed, batch_size=cfg.batch_size, generation=GENERATION, prompt_wrapper=wrapper,
                 progress=False)
        runs.append(run)
    return runs


def synthesize_data(runs: list[Path], out: Path, cfg: GymGuardConfig) -> dict[str, Any]:
    from safevlm.methods.guard import SynthConfig, pairs_from_runs, synthesize

    sc = SynthConfig(teacher="oracle", seed=cfg.seed, sources=[str(r) for r in runs], benign_ratio=cfg.benign_ratio)
    done = finished_card(out, sc.__dict__)
    if done is not None:
        console.print(f"  rewriter data: reusing {out}")
        return done
    pairs, counts = pairs_from_runs(runs, "oracle")
    card = synthesize(pairs, sc, out)
    c = card["counts"]
    console.print(f"  pairs from {len(runs)} runs: {dict(sorted(counts.items()))}; rewriter data: {c['kept']} "
                  f"examples ({c['kept_by_kind']}), {c['rejected']} rejected -> {out}")
    return card


def run(out: Path, v2: Path, v2_wrapper: str | None, cfg: GymGuardConfig | None = None) -> dict[str, Any]:
    """The guard and its baselines; returns ``{"runs", "results", "training", "data"}``."""
    cfg = cfg or GymGuardConfig()
    out = Path(out)
    t0 = time.perf_counter()
    with console.status("pairs: the base and SafeCoT-v2 models on a gym:train slice..."):
        runs_for_pairs = pair_runs(v2, v2_wrapper, out, cfg)
    card = synthesize_data(runs_for_pairs, out / "data", cfg)
    # the rewriter's examples show the pair runs' saved images: those folders may hold training images
    training = train_sft("rewriter", out / "data", out / "rewriter",
                         {"max_steps": cfg.steps, "save_steps": cfg.steps, "save_total_limit": 1, "seed": cfg.seed,
                          "image_roots": [str(r) for r in runs_for_pairs]})
    rewriter = out / "rewriter"
    models = {"guard": (f"guard:hf:{rewriter}>gym", {}),
              "safety-prompt": ("defence:safety-prompt>gym", {}),
              "ecso": ("defence:ecso>gym", {}),
              "guard+safecot-v2": (f"guard:hf:{rewriter}>hf:{v2}", {"target_wrapper": v2_wrapper})}
    runs, results = {}, {}
    for label, (spec, options) in models.items():
        runs[label] = out / f"eval-{label}"
        results[label] = evaluate_model(spec, runs[label], cfg.benches, cfg.batch_size, None,
                                        **{k: v for k, v in options.items() if v is not None})
    console.print(f"  guard stage done in {time.perf_counter() - t0:.0f} s")
    return {"runs": runs, "results": results, "training": training, "data": card, "judges": JUDGES}
