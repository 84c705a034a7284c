"""``safevlm train sft`` and ``safevlm export``: fine-tuning with TRL, adapter merging."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from safevlm.cli.common import console, friendly_errors
from safevlm.train.progress import progress_callback

app = typer.Typer(help="Fine-tune a VLM (TRL).", no_args_is_help=True)


@app.command("sft")
@friendly_errors
def sft_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="gym, hf:PATH_OR_ID, a checkpoint folder or a Hub id "
                                       "in the local cache.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="A folder from `safevlm safecot build` or a "
                                       "chat-format JSONL file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where checkpoints and the final model go.")],
    overrides: Annotated[list[str] | None, typer.Argument(help="Settings as key=value (e.g. learning_rate=1e-4 "
                                                             "max_steps=200); see safevlm.train.sft_settings.")] = None,
    lora: Annotated[bool, typer.Option("--lora", help="LoRA adapters (PEFT).")] = False,
    full: Annotated[bool, typer.Option("--full", help="Full fine-tuning.")] = False,
    preset: Annotated[str, typer.Option("--preset", help="auto (gpu if CUDA is visible, else cpu) | gpu (the "
                                        "paper's recipe) | cpu (the gym on a CPU).")] = "auto",
    config: Annotated[Path | None, typer.Option("--config", help="YAML file of settings (over the "
                                                   "preset).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")] = False,
    resume_from: Annotated[Path | None, typer.Option("--resume-from", help="Continue from this "
                                                        "checkpoint folder.")] = None,
):
    """Supervised fine-tuning, loss on the assistant answer only; saves the model and safevlm_training.json."""
    from safevlm.errors import ConfigError
    from safevlm.train.sft import check_sft_data, run_sft
    from safevlm.train.sft_settings import resolve_sft_settings

    if lora and full:
        raise ConfigError("choose one of --lora and --full")
    settings = resolve_sft_settings(preset, config, overrides or [], mode="lora" if lora else "full" if full else None)
    checked = check_sft_data(data)  # before transformers and the model load: a data error shows in seconds
    console.print(f"preset [bold]{settings.preset}[/], {settings.mode} fine-tuning, lr {settings.learning_rate:g}, "
                  f"batch {settings.per_device_train_batch_size}x{settings.gradient_accumulation_steps}, "
                  + (f"{settings.max_steps} steps" if settings.max_steps > 0 else f"{settings.num_train_epochs:g} epochs"))
    record = run_sft(model, checked, out, settings, resume=str(resume_from) if resume_from else resume,
                     callbacks=[progress_callback(console)])
    console.print(f"{record['global_steps']} steps, loss {record['first_loss']:.3f} -> {record['last_loss']:.3f}, "
                  f"{record['samples_per_s']:.1f} samples/s, {record['wall_s']:.0f} s; saved to {out}")
    wrapper = (record.get("prompt_wrapper") or {}).get("name")
    if wrapper and wrapper != "none":
        flag = wrapper if wrapper != "custom" else repr(record["prompt_wrapper"]["template"])
        console.print(f"the data was wrapped ({wrapper}); evaluate with the same wrapper: safevlm eval --model "
                      f"hf:{out} --prompt-wrapper {flag} ...")
    if record["mode"] == "lora":
        console.print(f"LoRA adapter saved; merge it with: safevlm export --merge {out} --out {out}-merged")


@friendly_errors
def export_cmd(
    adapter: Annotated[Path, typer.Option("--merge", help="LoRA adapter folder (from `safevlm train sft --lora`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the merged checkpoint goes.")],
    base: Annotated[str | None, typer.Option("--base", help="Base model (default: the one recorded at "
                                                "training).")] = None,
):
    """Merge a LoRA adapter into its base model: a plain checkpoint any tool loads."""
    from safevlm.train.sft import merge_adapter

    path = merge_adapter(adapter, out, base=base)
    console.print(f"merged checkpoint written to {path}")
