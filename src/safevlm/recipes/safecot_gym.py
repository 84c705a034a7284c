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

from safevlm.backends.base import GenerationParams
from safevlm.progress import console

BENCHES = ["gym:test", "gym:test-ood", "gym:test-para"]
JUDGES = ["oracle", "refusal"]
#: a reasoned refusal in the think/answer format is up to ~105 gym tokens (SafeCoT v1's longest
#: training target); 128 never cuts one (at 64, a third of the reasoning-form refusals were cut)
GENERATION = GenerationParams(max_new_tokens=128)
#: Items per gym split in every demo evaluation: a seeded sample stratified by family (the same items
#: for every model, and ``gym:test-para``'s are ``gym:test``'s reworded; :func:`safevlm.eval.selection.choose`),
#: so that the demo's eleven evaluations fit its 30 minutes; every rate is reported with its 95 % interval.
EVAL_LIMIT = 400


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


def same_json(path: Path, key: str, expected: Any) -> bool:
    """Whether the JSON file at ``path`` holds ``expected`` under ``key`` (a finished step to reuse)."""
    if not path.is_file():
        return False
    return json.loads(path.read_text(encoding="utf-8")).get(key) == expected


def build_data(variant: str, out: Path, cfg: GymSafeCoTConfig) -> dict[str, Any]:
    from dataclasses import asdict

    from safevlm.safecot.build import CARD_JSON, BuildConfig, build

    bc = BuildConfig(variant=variant, unsafe=[cfg.train_ref], general=[cfg.train_ref], ratio="1:1",
                     teacher="oracle" if variant == "v2" else None, max_unsafe=cfg.max_unsafe, seed=cfg.seed,
                     extra_specs=list(cfg.extra_specs))
    if same_json(out / CARD_JSON, "config", asdict(bc)):
        console.print(f"  {variant} data: reusing {out}")
        return json.loads((out / CARD_JSON).read_text(encoding="utf-8"))
    with console.status(f"building SafeCoT {variant} data from {cfg.train_ref}..."):
        card = build(bc, out)
    c = card["counts"]
    console.print(f"  {variant} data: {c['unsafe']} unsafe + {c['general']} general ({c['train']} train) "
                  f"in {card['seconds']:.1f} s -> {out}")
    return card


def train_sft(label: str, data: Path, out: Path, overrides: dict[str, Any], base: str = "gym") -> dict[str, Any]:
    """Fine-tune ``base`` on a chat set with the CPU preset (reused when done with the same settings and data)."""
    from safevlm.models.training_record import TRAINING_RECORD
    from safevlm.train.progress import progress_callback
    from safevlm.train.sft import run_sft
    from safevlm.train.sft_settings import resolve_sft_settings

    settings = resolve_sft_settings("cpu", overrides=overrides)
    record_file = out / TRAINING_RECORD
    if same_json(record_file, "settings", settings.to_dict()) and (out / "model.safetensors").is_file():
        record = json.loads(record_file.read_text(encoding="utf-8"))
        if record.get("data", {}).get("counts") == json.loads((data / "data_card.json").read_text())["counts"]:
            console.print(f"  {label} model: reusing {out}")
            return record
    record = run_sft(base, data, out, settings, callbacks=[progress_callback(console)])
    console.print(f"  {label} model: {record['global_steps']} steps, loss {record['first_loss']:.2f} -> "
                  f"{record['last_loss']:.3f}, {record['samples_per_s']:.1f} samples/s, {record['wall_s']:.0f} s")
    return record


def evaluate_model(model: str, out: Path, benches: list[str], batch_size: int, prompt_wrapper: str | None,
                   **options: Any) -> dict[str, Any]:
    """One evaluation run as every demo model gets it (oracle + refusal detector, 128 new tokens,
    :data:`EVAL_LIMIT` items per split)."""
    from safevlm.eval import evaluate

    return evaluate(model=model, benches=benches, judges=JUDGES, out=out, batch_size=batch_size,
                    generation=GENERATION, limit=EVAL_LIMIT, prompt_wrapper=prompt_wrapper, backend_options=options or None)


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


def comparison_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model and benchmark: CRR, CAR, over-refusal, ASR, answer accuracy with their intervals."""
    rows = []
    for label, res in results.items():
        for bench, block in res["benchmarks"].items():
            if block:
                rows.append({"model": label, "bench": bench, "n": block["n"],
                             **{k: block["metrics"].get(k) for k in ("crr", "car", "over_refusal", "asr",
                                                                        "answer_accuracy")}})
    return rows
