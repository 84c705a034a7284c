"""SafeCoT end to end on the gym: base model, then v0 / v1 / v2 fine-tunes, one report.

For each variant: build the set from ``gym:train`` (unsafe items with their variant's
target, mixed 1:1 with general items that keep their reference answer; v2 uses the
gym oracle as teacher), fine-tune the bundled gym model with the CPU preset, evaluate
on ``gym:test``, ``gym:test-ood`` and ``gym:test-para`` with the oracle and the refusal detector, prompts
wrapped as in training. The base model is evaluated on the plain prompts it was
trained on. A finished step is reused when run again with the same settings (the data
card, the training record and the run directory say what was done), so an interrupted
demo resumes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safevlm.progress import console
from safevlm.recipes.common import BENCHES, evaluate_model, finished_card, train_sft


@dataclass
class GymSafeCoTConfig:
    variants: list[str] = field(default_factory=lambda: ["v0", "v1", "v2"])
    train_ref: str = "gym:train"
    benches: list[str] = field(default_factory=lambda: list(BENCHES))
    extra_specs: list[str] = field(default_factory=list)  # where a non-registered train_ref is defined
    max_unsafe: int = 2000
    steps: int = 200  # about 1.8 epochs of the 3,600 training examples at batch 32
    seed: int = 0
    batch_size: int = 64  # evaluation

    def settings_overrides(self) -> dict[str, Any]:
        return {"max_steps": self.steps, "save_steps": self.steps,
                "save_total_limit": 1, "seed": self.seed}


def build_data(variant: str, out: Path, cfg: GymSafeCoTConfig) -> dict[str, Any]:
    from dataclasses import asdict

    from safevlm.methods.safecot.build import BuildConfig, build

    bc = BuildConfig(variant=variant, unsafe=[cfg.train_ref], general=[cfg.train_ref], ratio="1:1",
                     teacher="oracle" if variant == "v2" else None, max_unsafe=cfg.max_unsafe, seed=cfg.seed,
                     extra_specs=list(cfg.extra_specs))
    done = finished_card(out, asdict(bc))
    if done is not None:
        console.print(f"  {variant} data: reusing {out}")
        return done
    with console.status(f"building SafeCoT {variant} data from {cfg.train_ref}..."):
        card = build(bc, out)
    c = card["counts"]
    console.print(f"  {variant} data: {c['unsafe']} unsafe + {c['general']} general ({c['train']} train) "
                  f"in {card['seconds']:.1f} s -> {out}")
    return card


def run(out: Path, cfg: GymSafeCoTConfig | None = None, base_run: Path | None = None) -> dict[str, Any]:
    """The whole comparison; returns ``{"runs": {label: run_dir}, "results": {...}, "training": {...}}``."""
    from safevlm.report import write_report

    cfg = cfg or GymSafeCoTConfig()
    out = Path(out)
    runs: dict[str, Path] = {}
    results: dict[str, Any] = {}
    training: dict[str, Any] = {}
    if base_run is None:
        base_run = out / "eval-base"
        results["base"] = evaluate_model("gym", base_run, cfg.benches, cfg.batch_size, None)
    else:
        results["base"] = json.loads((base_run / "results.json").read_text(encoding="utf-8"))
    runs["base"] = base_run
    for variant in cfg.variants:
        t0 = time.perf_counter()
        console.print(f"[bold]SafeCoT {variant}[/]")
        card = build_data(variant, out / f"data-{variant}", cfg)
        training[variant] = train_sft(f"SafeCoT {variant}", out / f"data-{variant}", out / f"model-{variant}",
                                      cfg.settings_overrides())
        wrapper = card["prompt_wrapper"]
        wrapper = wrapper["template"] if wrapper["name"] == "custom" else wrapper["name"]
        runs[variant] = out / f"eval-{variant}"
        results[variant] = evaluate_model(f"hf:{out / f'model-{variant}'}", runs[variant], cfg.benches,
                                          cfg.batch_size, wrapper)
        console.print(f"  {variant} done in {time.perf_counter() - t0:.0f} s")
    paths = write_report(list(runs.values()), out / "report")
    return {"runs": runs, "results": results, "training": training, "report": paths}
