"""What the method recipes share: the gym evaluation every model gets, SFT with reuse, the comparison rows.

The SafeCoT (:mod:`.safecot_gym`), SaFeR-VLM (:mod:`.safer_gym`) and VLMGuard-R1
(:mod:`.guard_gym`) recipes evaluate every model the same way (:func:`evaluate_model`:
the same benchmarks, judges and generation settings), fine-tune with the CPU SFT preset
(:func:`train_sft`), and reuse a finished step when its data card or training record says
it was done with the same settings (:func:`finished_card`, :func:`finished_training`), so an
interrupted demo resumes.
"""

from __future__ import annotations

import json
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


def finished_training(out: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The training record of the checkpoint in ``out`` when it was trained with ``settings``, else None."""
    from safevlm.data.provenance import TrainingRecord

    record = TrainingRecord.read(out) if (out / "model.safetensors").is_file() else None
    return record.to_dict() if record is not None and record.settings == settings else None


def finished_card(out: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The data card of ``out`` when the folder was built with ``config`` (compared as JSON), else None."""
    from safevlm.data.provenance import DataCard

    card = DataCard.read(out)
    if card is None or card.config != json.loads(json.dumps(config)):
        return None
    return card.to_dict()


def train_sft(label: str, data: Path, out: Path, overrides: dict[str, Any], base: str = "gym") -> dict[str, Any]:
    """Fine-tune ``base`` on a chat set with the CPU preset (reused when done with the same settings and data)."""
    from safevlm.data.provenance import DataCard
    from safevlm.train.progress import progress_callback
    from safevlm.train.sft import run_sft
    from safevlm.train.sft_settings import resolve_sft_settings

    settings = resolve_sft_settings("cpu", overrides=overrides)
    done, card = finished_training(out, settings.to_dict()), DataCard.read(data)
    if done is not None and card is not None and (done.get("data") or {}).get("counts") == card.counts:
        console.print(f"  {label} model: reusing {out}")
        return done
    record = run_sft(base, data, out, settings, callbacks=[progress_callback(console)])
    console.print(f"  {label} model: {record['global_steps']} steps, loss {record['first_loss']:.2f} -> "
                  f"{record['last_loss']:.3f}, {record['samples_per_s']:.1f} samples/s, {record['wall_s']:.0f} s")
    return record


def evaluate_model(model: str, out: Path, benches: list[str], batch_size: int, prompt_wrapper: str | None,
                   **options: Any) -> dict[str, Any]:
    """One evaluation run as every demo model gets it (:data:`JUDGES`, :data:`GENERATION`,
    :data:`EVAL_LIMIT` items per split)."""
    from safevlm.eval import evaluate

    return evaluate(model=model, benches=benches, judges=JUDGES, out=out, batch_size=batch_size,
                    generation=GENERATION, limit=EVAL_LIMIT, prompt_wrapper=prompt_wrapper,
                    backend_options=options or None)


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
