"""``safevlm gym``: build SafetyGym data (and, later, pretrain the gym model).

The gym is also a registered benchmark (``gym:test``, ``gym:test-ood``...), so
``safevlm bench show gym:test`` works without a build; ``gym build`` is for writing
it out as files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from safevlm.cli.common import console, friendly_errors
from safevlm.config import parse_assignments
from safevlm.errors import ConfigError
from safevlm.train.gym_pretrain import PretrainConfig

app = typer.Typer(help="SafetyGym: procedurally generated multimodal safety scenarios.", no_args_is_help=True)


@app.callback()
def _gym() -> None:
    """SafetyGym: procedurally generated multimodal safety scenarios."""


@app.command("build")
@friendly_errors
def build_cmd(
    out: Annotated[Path, typer.Option("--out", help="Output folder (JSONL per split, PNGs, card.json, README.md).")],
    seed: Annotated[int, typer.Option(help="Seed: the same seed and sizes give the same files.")] = 0,
    train_size: Annotated[int, typer.Option("--train-size", help="Items in the train split.")] = 20000,
    test_size: Annotated[int, typer.Option("--test-size", help="Items in the test split.")] = 600,
    test_ood_size: Annotated[int, typer.Option("--test-ood-size", help="Items in the test-ood split.")] = 600,
    test_para_size: Annotated[int, typer.Option("--test-para-size", help="Items in the test-para split (the first "
                                                "items of test, reworded).")] = 600,
    image_size: Annotated[int, typer.Option("--image-size", help="Image side in pixels.")] = 112,
    split: Annotated[list[str] | None, typer.Option("--split", help="Only this split (repeatable).")] = None,
    mix: Annotated[str | None, typer.Option(help="Family shares, e.g. 'vqa=0.5,siuo=0.1' (default: built-in).")] = None,
):
    """Write the gym's splits as sample JSONL with PNG images, plus a data card."""
    from safevlm.gym.build import build
    from safevlm.gym.generate import SPLITS, GymConfig

    sizes = {"train": train_size, "test": test_size, "test-ood": test_ood_size, "test-para": test_para_size}
    unknown = sorted(set(split or []) - set(SPLITS))
    if unknown:
        raise ConfigError(f"unknown split(s) {unknown}; choose from {', '.join(SPLITS)}")
    if image_size < 28:
        raise ConfigError(f"--image-size {image_size} is too small (at least 28 px)")
    config = GymConfig(seed=seed, image_size=image_size, sizes=sizes)
    if mix:
        config.mix = _parse_mix(mix)
    with console.status("generating...", spinner="dots") as status:
        card = build(out, config, split or list(SPLITS),
                     progress=lambda s, n: status.update(f"writing {s} ({n} items, images as PNG)..."))
    for name, st in card["splits"].items():
        mix = ", ".join(f"{k} {v}" for k, v in st["expected"].items())
        console.print(f"{name}: {st['total']} items ({mix}) -> {out / st['file']}")
    console.print(f"data card: {out / 'README.md'}")


def _parse_mix(text: str) -> dict[str, float]:
    from safevlm.gym.generate import family_counts

    out = {}
    for name, value in parse_assignments([p for p in text.split(",") if p.strip()], "--mix").items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"--mix: expected FAMILY=SHARE, got {name}={value}")
        out[name] = float(value)
    family_counts(1, out)  # validates family names and shares
    return out


@app.command("pretrain")
@friendly_errors
def pretrain_cmd(
    out: Annotated[Path | None, typer.Option("--out", help="Checkpoint folder (default: the bundled gym model).")] = None,
    steps: Annotated[int, typer.Option(help="Optimiser steps (batch 32).")] = PretrainConfig.steps,
    seed: Annotated[int, typer.Option(help="Seed for data, weights and batches.")] = 0,
    train_size: Annotated[int, typer.Option("--train-size", help="Gym train items (distinct images).")] = \
        PretrainConfig.train_size,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 32,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 2e-3,
    threads: Annotated[int, typer.Option(help="torch threads (fixed for bit-for-bit rebuilds).")] = PretrainConfig.threads,
    eval_every: Annotated[int, typer.Option("--eval-every", help="Steps between quick gym:test evaluations (0: off).")] = 2000,
    eval_size: Annotated[int, typer.Option("--eval-size", help="Items per split in the final evaluation.")] = 600,
):
    """Pretrain the gym model (helpful, unaligned) on gym train data, then score it on gym:test / test-ood / test-para."""
    from safevlm.recipes.gym_pretrain import run_pretrain

    run_pretrain(out=out, steps=steps, seed=seed, train_size=train_size, batch_size=batch_size, lr=lr,
                 threads=threads, eval_every=eval_every, eval_size=eval_size)
