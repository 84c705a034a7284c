"""``safevlm gym pretrain``: pretrain, show progress, score the result, save everything (a recipe).

The final scorecards on ``gym:test`` and ``gym:test-ood`` are written next to the
checkpoint (``scorecard.json``) so the figures in ``docs/benchmarks.md`` can be traced
to the run that produced them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from safevlm.backends import GenerationParams
from safevlm.gym.scorecard import Scorecard, score
from safevlm.progress import console, progress_bar
from safevlm.report.terminal import scorecard_table
from safevlm.train.gym_pretrain import PretrainConfig, pretrain


def evaluate_backend(backend, samples, *, max_new_tokens: int = 48) -> tuple[Scorecard, list]:
    """Generate greedily with ``backend`` on ``samples`` and score; returns (scorecard, generations)."""
    t0 = time.perf_counter()
    gens = backend.generate(samples, GenerationParams(max_new_tokens=max_new_tokens))
    card, _ = score(samples, [g.text if g.ok else None for g in gens])
    card.seconds = time.perf_counter() - t0
    return card, gens


def evaluate_gym_model(model, processor, splits=("test", "test-ood"), size: int = 600,
                       batch_size: int = 64) -> dict[str, Scorecard]:
    from safevlm.backends.hf import HFBackend
    from safevlm.gym.generate import generate_samples

    backend = HFBackend(model, processor, batch_size=batch_size)
    cards = {}
    for split in splits:
        samples = generate_samples(split, size)
        cards[split], _ = evaluate_backend(backend, samples)
    return cards


def run_pretrain(*, out: Path | None, steps: int, seed: int, train_size: int, batch_size: int, lr: float,
                 threads: int, eval_every: int, eval_size: int) -> dict:
    from safevlm.models.loading import GYM_MODEL_DIR

    out = Path(out) if out else GYM_MODEL_DIR
    cfg = PretrainConfig(seed=seed, steps=steps, train_size=train_size, batch_size=batch_size, lr=lr,
                         threads=threads, eval_every=eval_every)
    console.rule("[bold]gym model pretraining")
    console.print(f"{steps} steps x batch {batch_size} on {train_size} gym train items, seed {seed} -> {out}")
    t0 = time.perf_counter()
    with progress_bar(console=console, rate=False) as progress:
        task = progress.add_task("building data and model", total=steps)

        def on_progress(step, loss, lr_now):
            progress.update(task, completed=step, description=f"loss {loss:.3f} lr {lr_now:.1e}")

        def on_eval(step, model, processor):
            card = evaluate_gym_model(model, processor, ("test",), size=cfg.eval_size)["test"]
            acc = " ".join(f"{k} {v:.2f}" for k, v in card.accuracy.items())
            progress.console.print(f"step {step}: {acc} | harmful compliance {card.harmful_compliance:.2f}")

        record = pretrain(cfg, out, progress=on_progress, on_eval=on_eval)
    from safevlm.models.loading import load_vlm

    model, processor = load_vlm(out, device="cpu")
    t_eval = time.perf_counter()
    cards = evaluate_gym_model(model, processor, size=eval_size)
    eval_s = time.perf_counter() - t_eval
    for split, card in cards.items():
        console.print(scorecard_table(f"gym:{split} ({card.n} items, greedy)", card))
    n_eval = sum(c.n for c in cards.values())
    record |= {"eval_seconds": eval_s, "eval_samples_per_second": n_eval / eval_s,
               "wall_seconds": time.perf_counter() - t0}
    (out / "pretraining.json").write_text(json.dumps(record, indent=2))
    (out / "scorecard.json").write_text(json.dumps({k: c.as_dict() for k, c in cards.items()}, indent=2))
    console.print(f"trained {record['train_seconds'] / 60:.1f} min ({record['samples_per_second']:.0f} samples/s), "
                  f"wall {record['wall_seconds'] / 60:.1f} min; saved to {out}")
    return record
