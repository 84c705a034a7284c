"""SaFeR-VLM end to end on the gym: QI-Box selection, then GRPO with the plain and the reflective
rollout from the SafeCoT-v2 model, each evaluated like the other models (a recipe).

1. **selection** (:mod:`safevlm.safer.select`): ``k`` samples per prompt from the
   SafeCoT-v2 model on a seeded subset of ``gym:train``, scored by the oracle reward;
   the prompts of moderate quality and high instability are kept;
2. **GRPO** twice from the same SafeCoT-v2 checkpoint, on the same prompts with the same
   steps and seed: ``plain`` (TRL's generation, the ablation) and ``reflective``
   (SaFeR-VLM's safety-aware rollout);
3. **evaluation** of both on ``gym:test``, ``gym:test-ood`` and ``gym:test-para`` (oracle and refusal
   detector, prompts wrapped as the SafeCoT model was trained), and a comparison report
   with the reward-component curves and the reflection rates.

A finished step is reused when run again with the same settings.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safevlm.progress import console
from safevlm.recipes.common import BENCHES, evaluate_model, finished_card, finished_training

ROLLOUTS = ("plain", "reflective")


@dataclass
class GymSaFeRConfig:
    pool: str = "gym:train"
    max_pool: int = 480  # prompts scored for selection (k samples each)
    k: int = 4
    quality: tuple[float, float] = (0.1, 0.9)
    min_std: float = 0.1
    max_prompts: int = 256
    steps: int = 40
    seed: int = 0
    benches: list[str] = field(default_factory=lambda: list(BENCHES))
    batch_size: int = 64  # evaluation and selection
    grpo: dict[str, Any] = field(default_factory=dict)  # GRPO setting overrides (key=value, dotted keys)

    def grpo_overrides(self) -> dict[str, Any]:
        return {"max_steps": self.steps, "save_steps": self.steps, "save_total_limit": 1, "seed": self.seed,
                **self.grpo}


def select_prompts(start: Path, out: Path, cfg: GymSaFeRConfig) -> dict[str, Any]:
    from safevlm.progress import progress_bar
    from safevlm.safer.select import SelectConfig, select

    sc = SelectConfig(pool=[cfg.pool], model=f"hf:{start}", k=cfg.k, quality=cfg.quality, min_std=cfg.min_std,
                      max_prompts=cfg.max_prompts, max_pool=cfg.max_pool, seed=cfg.seed, batch_size=cfg.batch_size)
    done = finished_card(out, asdict(sc))
    if done is not None:
        console.print(f"  selection: reusing {out}")
        return done
    with progress_bar(console=console) as bar:
        task = bar.add_task(f"QI-Box: {cfg.k} samples per prompt", total=cfg.max_pool * cfg.k)
        card = select(sc, out, progress=lambda n: bar.advance(task, n))
    c, zv = card["counts"], card["zero_variance_share"]
    console.print(f"  selection: kept {c['kept']} of {c['pool']} prompts; zero-variance groups pool "
                  f"{zv['pool'] or 0:.2f} -> selected {zv['selected'] or 0:.2f} ({card['seconds']:.0f} s) -> {out}")
    return card


def train_grpo(rollout: str, start: Path, data: Path, out: Path, cfg: GymSaFeRConfig) -> dict[str, Any]:
    from safevlm.safer.rollout import reflective_rollout
    from safevlm.train.grpo import run_grpo
    from safevlm.train.grpo_settings import resolve_grpo_settings
    from safevlm.train.progress import progress_callback

    settings = resolve_grpo_settings("cpu", overrides=cfg.grpo_overrides(), rollout=rollout)
    done = finished_training(out, settings.to_dict())
    if done is not None:
        console.print(f"  GRPO {rollout}: reusing {out}")
        return done
    record = run_grpo(f"hf:{start}", data, out, settings, reward="oracle",
                      rollout=reflective_rollout if rollout == "reflective" else None,
                      callbacks=[progress_callback(console)])
    last = record["history"][-1] if record["history"] else {}
    rates = (f", flagged {last.get('reflect/flagged', 0):.2f} corrected {last.get('reflect/corrected', 0):.2f}"
             if rollout == "reflective" else "")
    console.print(f"  GRPO {rollout}: {record['global_steps']} steps, reward {record['first_reward']:.3f} -> "
                  f"{record['last_reward']:.3f}{rates}, {record['s_per_step']:.2f} s/step")
    return record


def run(out: Path, start: Path, wrapper: str | None, cfg: GymSaFeRConfig | None = None) -> dict[str, Any]:
    """Select, train both rollouts, evaluate; returns ``{"runs", "results", "training", "selection"}``."""
    cfg = cfg or GymSaFeRConfig()
    out = Path(out)
    t0 = time.perf_counter()
    selection = select_prompts(start, out / "select", cfg)
    runs, results, training = {}, {}, {}
    for rollout in ROLLOUTS:
        training[rollout] = train_grpo(rollout, start, out / "select", out / f"model-{rollout}", cfg)
        runs[f"grpo-{rollout}"] = out / f"eval-{rollout}"
        results[f"grpo-{rollout}"] = evaluate_model(f"hf:{out / f'model-{rollout}'}", runs[f"grpo-{rollout}"],
                                                    cfg.benches, cfg.batch_size, wrapper)
    console.print(f"  SaFeR-VLM stage done in {time.perf_counter() - t0:.0f} s")
    return {"runs": runs, "results": results, "training": training, "selection": selection}
