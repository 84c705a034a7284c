"""``safevlm safer select | export``: SaFeR-VLM's data selection and the scale-out bridge.

Training is ``safevlm train grpo`` (see :mod:`safevlm.cli.train`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from safevlm.cli.common import DataRootOpt, SpecOpt, console, friendly_errors
from safevlm.errors import ConfigError
from safevlm.progress import progress_bar

app = typer.Typer(help="SaFeR-VLM: QI-Box data selection and export for EasyR1 / verl (docs/methods.md).",
                  no_args_is_help=True)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _band(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(":"))
    except ValueError:
        raise ConfigError(f"--quality {text!r}: expected LOW:HIGH, e.g. 0.1:0.9") from None
    return lo, hi


@app.command("select")
@friendly_errors
def select_cmd(
    pool: Annotated[list[str], typer.Option("--pool", help="Benchmarks to select prompts from: NAME[:VARIANT][,...] "
                                            "(repeatable).")],
    model: Annotated[str, typer.Option("--model", "-m", help="The starting policy: gym, hf:PATH, openai:URL#MODEL...")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (selected.jsonl + data card).")],
    k: Annotated[int, typer.Option("--k", min=2, help="Samples per prompt.")] = 8,
    reward: Annotated[str, typer.Option("--reward", help="oracle (gym truth), rubric:MODEL_SPEC, or a public preset: "
                                        "safegrpo, proguard, saferkit:MODEL_SPEC (docs/methods.md).")] = "oracle",
    quality: Annotated[str, typer.Option("--quality", help="Keep prompts whose mean reward is in LOW:HIGH.")] = "0.1:0.9",
    min_std: Annotated[float, typer.Option("--min-std", min=0.0, help="...and whose reward std is at least this.")] = 0.1,
    max_prompts: Annotated[int | None, typer.Option("--max-prompts", min=1, help="Keep at most N (the most "
                                                     "unstable).")] = None,
    max_pool: Annotated[int | None, typer.Option("--max-pool", min=1, help="Score a seeded subset of N pool "
                                                  "prompts.")] = None,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0)] = 1.0,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1)] = 128,
    prompt_wrapper: Annotated[str | None, typer.Option("--prompt-wrapper", help="Default: the model's own "
                                                       "(from its safevlm_training.json).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    data_root: DataRootOpt = None, spec: SpecOpt = None,
):
    """QI-Box: sample k responses per prompt, score them, keep moderate-quality, high-instability prompts."""
    from safevlm.methods.safer.select import SelectConfig, select

    cfg = SelectConfig(pool=_split(pool), model=model, k=k, reward=reward, quality=_band(quality), min_std=min_std,
                       max_prompts=max_prompts, max_pool=max_pool, temperature=temperature,
                       max_new_tokens=max_new_tokens, prompt_wrapper=prompt_wrapper, seed=seed, batch_size=batch_size,
                       data_root=str(data_root) if data_root else None, extra_specs=[str(p) for p in spec or []])
    with progress_bar(console=console) as bar:
        task = bar.add_task(f"sampling {k} per prompt", total=None)
        card = select(cfg, out, progress=lambda n: bar.advance(task, n))
    c, zv = card["counts"], card["zero_variance_share"]
    console.print(f"kept {c['kept']} of {c['pool']} prompts; zero-variance groups: pool "
                  f"{zv['pool'] or 0:.2f} -> selected {zv['selected'] or 0:.2f}; data card: {out / 'README.md'}")
    console.print(f"train on it: safevlm train grpo --model {model} --data {out} --reward {reward}")


@app.command("export")
@friendly_errors
def export_cmd(
    data: Annotated[Path, typer.Option("--data", "-d", help="A selection folder (or a sample JSONL file).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (train.parquet + reward_function.py).")],
    fmt: Annotated[str, typer.Option("--format", help="verl (EasyR1 and verl parquet layout).")] = "verl",
    reward: Annotated[str, typer.Option("--reward", help="The reward the exported function calls: oracle, "
                                        "rubric:SPEC, safegrpo, proguard, saferkit:SPEC.")] = "oracle",
    prompt_wrapper: Annotated[str | None, typer.Option("--prompt-wrapper", help="Wrap prompts as the policy was "
                                                       "fine-tuned (default: none).")] = None,
):
    """Write the selected prompts as EasyR1 / verl parquet and a compute_score file calling safevlm's reward."""
    from safevlm.methods.safer.export import export

    summary = export(data, out, fmt=fmt, reward=reward, prompt_wrapper=prompt_wrapper)
    console.print(f"{summary['rows']} prompts -> {summary['parquet']}; reward: {summary['reward_function']}")
