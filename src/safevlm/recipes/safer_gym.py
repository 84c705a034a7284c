"""SaFeR-VLM end to end on the gym: QI-Box selection, then GRPO with the plain and the reflective
rollout from the SafeCoT-v2 model, each evaluated like the other models (a recipe).

1. **selection** (:mod:`safevlm.methods.safer.select`): ``k`` samples per prompt from the
   SafeCoT-v2 model on a seeded subset of ``gym:train``, scored by the oracle reward;
   the prompts of moderate quality and high instability are kept;
2. **GRPO** twice from the same SafeCoT-v2 checkpoint, on the same prompts with the same
   steps and seed: ``plain`` (TRL's generation, the ablation) and ``reflective``
   (SaFeR-VLM's safety-aware rollout);
3. **evaluation** of both on ``gym:test``, ``gym:test-ood`` and ``gym:test-para`` (oracle and refusal
   detector, prompts wrapped as the SafeCoT model was trained), and a comparison report
   with the reward-component curves and the reflection rates.

The reflective rollout runs with the settings' default reflection, critique-guided (the oracle's
reason in the reflection turn, ``reflection.critique=judge``); plain and self-reflection are the
ablations of ``benchmarks/safer_gym_seeds.py --critique``. The stage writes ``results.json`` in its
folder (:func:`stage_summary`): per model and benchmark the rates, and per rollout the logged
training components that explain them (each reward component first -> last step, the shares
flagged and corrected, corrections verified per flagged sample, the reflection settings).

A finished step is reused when run again with the same settings.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safevlm.progress import console
from safevlm.recipes.common import BENCHES, evaluate_model, finished_card, finished_training

ROLLOUTS = ("plain", "reflective")
STAGE_JSON = "results.json"


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
    from safevlm.methods.safer.select import SelectConfig, select

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
    from safevlm.methods.safer.rollout import rollout_factory
    from safevlm.methods.safer.settings import resolve_safer_settings
    from safevlm.train.grpo import run_grpo
    from safevlm.train.progress import progress_callback

    settings = resolve_safer_settings("cpu", overrides=cfg.grpo_overrides(), rollout=rollout)
    done = finished_training(out, settings.to_dict())
    if done is not None:
        console.print(f"  GRPO {rollout}: reusing {out}")
        return done
    record = run_grpo(f"hf:{start}", data, out, settings, reward="oracle",
                      rollout=rollout_factory(settings),
                      callbacks=[progress_callback(console)])
    last = record["history"][-1] if record["history"] else {}
    rates = (f", flagged {last.get('reflect/flagged', 0):.2f} corrected {last.get('reflect/corrected', 0):.2f}"
             if rollout == "reflective" else "")
    console.print(f"  GRPO {rollout}: {record['global_steps']} steps, reward {record['first_reward']:.3f} -> "
                  f"{record['last_reward']:.3f}{rates}, {record['s_per_step']:.2f} s/step")
    return record


def training_summary(record: dict[str, Any]) -> dict[str, Any]:
    """The logged components of one GRPO run (its training record): ``reward`` and each ``reward/`` /
    ``rewards/`` component first -> last logged step; each ``reflect/`` rate as its mean over the logged
    steps; ``verified_of_flagged``, the corrections kept per flagged sample (sum of the corrected shares
    over the sum of the flagged shares; None when nothing was flagged); ``reflection``, the settings that
    made the reflection turn (mode, critic, acceptance threshold)."""
    hist = record.get("history") or []
    keys = sorted({k for h in hist for k in h if k.startswith(("reward", "reflect/"))})
    out: dict[str, Any] = {"steps": record.get("global_steps"), "s_per_step": record.get("s_per_step")}
    for k in keys:
        vals = [h[k] for h in hist if k in h]
        out[k] = ({"mean": round(sum(vals) / len(vals), 4)} if k.startswith("reflect/") else
                  {"first": round(vals[0], 4), "last": round(vals[-1], 4)})
    if record.get("rollout") == "reflective" or "reflect/flagged" in out:
        flagged = sum(h.get("reflect/flagged", 0.0) for h in hist)
        corrected = sum(h.get("reflect/corrected", 0.0) for h in hist)
        out["verified_of_flagged"] = round(corrected / flagged, 4) if flagged else None
        r = (record.get("settings") or {}).get("reflection") or {}
        out["reflection"] = {k: r.get(k) for k in ("critique", "critic", "accept")}
    return out


def stage_summary(cfg: GymSaFeRConfig, selection: dict[str, Any], training: dict[str, dict[str, Any]],
                  results: dict[str, Any]) -> dict[str, Any]:
    """The stage's ``results.json``: what a closing note needs to explain a shortfall without rerunning."""
    from safevlm.recipes.common import comparison_rows

    metrics: dict[str, Any] = {}
    for row in comparison_rows(results):
        metrics.setdefault(row["model"], {})[row["bench"]] = {
            k: {x: row[k].get(x) for x in ("value", "low", "high", "n")}
            for k in ("crr", "car", "over_refusal", "asr", "answer_accuracy") if row.get(k)}
    return {"config": json.loads(json.dumps(asdict(cfg))),
            "selection": {k: selection.get(k) for k in ("counts", "zero_variance_share")},
            "training": {rollout: training_summary(rec) for rollout, rec in training.items()},
            "metrics": metrics}


def run(out: Path, start: Path, wrapper: str | None, cfg: GymSaFeRConfig | None = None) -> dict[str, Any]:
    """Select, train both rollouts, evaluate, write ``results.json`` (:func:`stage_summary`); returns
    ``{"runs", "results", "training", "selection", "summary"}``."""
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
    summary = stage_summary(cfg, selection, training, results)
    (out / STAGE_JSON).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    refl = summary["training"].get("reflective", {})
    console.print(f"  reflective rollout ({(refl.get('reflection') or {}).get('critique')}): flagged "
                  f"{(refl.get('reflect/flagged') or {}).get('mean', 0):.3f}, corrected "
                  f"{(refl.get('reflect/corrected') or {}).get('mean', 0):.3f}, verified of flagged "
                  f"{refl.get('verified_of_flagged')} -> {out / STAGE_JSON}")
    console.print(f"  SaFeR-VLM stage done in {time.perf_counter() - t0:.0f} s")
    return {"runs": runs, "results": results, "training": training, "selection": selection, "summary": summary}
