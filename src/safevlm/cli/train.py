"""``safevlm train sft|grpo`` and ``safevlm merge``: fine-tuning with TRL, adapter merging."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from safevlm.cli.common import console, friendly_errors
from safevlm.train.progress import progress_callback

app = typer.Typer(help="Fine-tune a VLM with TRL: SFT (SafeCoT) or GRPO (SaFeR-VLM).", no_args_is_help=True)


def loss_summary(history: list[dict]) -> str:
    """``loss 6.347 (step 1) -> 5.912 (step 5)``, or one value when only one step was logged."""
    if not history:
        return "no loss logged"
    first, last = history[0], history[-1]
    if len(history) == 1 or first["step"] == last["step"]:
        return f"loss {last['loss']:.3f} (step {last['step']}, the only one logged)"
    return f"loss {first['loss']:.3f} (step {first['step']}) -> {last['loss']:.3f} (step {last['step']})"


def _say_auto(asked: str, chosen: str, model: str) -> None:
    """Say which preset ``auto`` chose and why (a real checkpoint on a CPU gets a notice in yellow)."""
    if asked != "auto":
        return
    from safevlm.train.settings import auto_preset

    name, why = auto_preset(model)
    if name == chosen:
        colour = "yellow" if chosen == "cpu-lora" else "dim"
        console.print(f"[{colour}]preset auto -> {chosen}: {escape(why)}[/]", highlight=False)


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
    preset: Annotated[str, typer.Option("--preset", help="auto (gpu with CUDA; without: cpu for the gym model, "
                                        "cpu-lora for any other) | gpu (the paper's recipe) | cpu (the gym on a "
                                        "CPU) | cpu-lora (a real checkpoint on a CPU: LoRA, float32, batch "
                                        "1x8).")] = "auto",
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
    settings = resolve_sft_settings(preset, config, overrides or [], model=model,
                                    mode="lora" if lora else "full" if full else None)
    _say_auto(preset, settings.preset, model)
    checked = check_sft_data(data, image_roots=settings.image_roots)  # before the model: a data error in seconds
    console.print(f"preset [bold]{settings.preset}[/], {settings.mode} fine-tuning, lr {settings.learning_rate:g}, "
                  f"batch {settings.per_device_train_batch_size}x{settings.gradient_accumulation_steps}, "
                  + (f"{settings.max_steps} steps" if settings.max_steps > 0 else f"{settings.num_train_epochs:g} epochs"))
    record = run_sft(model, checked, out, settings, resume=str(resume_from) if resume_from else resume,
                     callbacks=[progress_callback(console)])
    console.print(f"{record['global_steps']} steps, {loss_summary(record.get('loss_history') or [])}, "
                  f"{record['samples_per_s']:.1f} samples/s, {record['wall_s']:.0f} s; saved to {out}")
    wrapper = (record.get("prompt_wrapper") or {}).get("name")
    if wrapper and wrapper != "none":
        flag = wrapper if wrapper != "custom" else repr(record["prompt_wrapper"]["template"])
        console.print(f"the data was wrapped ({wrapper}); evaluate with the same wrapper: safevlm eval --model "
                      f"hf:{out} --prompt-wrapper {flag} ...")
    if record["mode"] == "lora":
        from safevlm.models.loading import MERGE_HINT

        console.print(f"LoRA adapter saved; merge it with: {MERGE_HINT.format(adapter=out)}")


@app.command("grpo")
@friendly_errors
def grpo_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="The starting policy: gym, hf:PATH_OR_ID (e.g. a "
                                       "SafeCoT fine-tune).")],
    data: Annotated[Path, typer.Option("--data", "-d", help="A folder from `safevlm safer select` or a sample "
                                       "JSONL file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where checkpoints and the final model go.")],
    overrides: Annotated[list[str] | None, typer.Argument(help="Settings as key=value (e.g. max_steps=100 "
                                                             "reward.weights.task=0.4); see "
                                                             "safevlm.train.grpo_settings, "
                                                             "safevlm.methods.safer.settings.")] = None,
    reward: Annotated[str, typer.Option("--reward", help="oracle (gym truth), rubric:MODEL_SPEC, or a public preset: "
                                        "safegrpo, proguard, saferkit:MODEL_SPEC (docs/methods.md).")] = "oracle",
    rollout: Annotated[str | None, typer.Option("--rollout", help="plain (TRL's generation) | reflective "
                                                "(SaFeR-VLM's safety-aware rollout).")] = None,
    lora: Annotated[bool, typer.Option("--lora", help="LoRA adapters (PEFT).")] = False,
    full: Annotated[bool, typer.Option("--full", help="Full fine-tuning.")] = False,
    preset: Annotated[str, typer.Option("--preset", help="auto (as for sft) | gpu (the sibling EasyR1 recipe) | "
                                        "cpu (the gym) | cpu-lora (a real checkpoint on a CPU).")] = "auto",
    config: Annotated[Path | None, typer.Option("--config", help="YAML file of settings (over the preset).")] = None,
    prompt_wrapper: Annotated[str | None, typer.Option("--prompt-wrapper", help="Default: the model's own.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")] = False,
    resume_from: Annotated[Path | None, typer.Option("--resume-from", help="Continue from this checkpoint.")] = None,
):
    """GRPO with the structured reward (SaFeR-VLM); saves the model and safevlm_training.json."""
    from safevlm.errors import ConfigError
    from safevlm.methods.safer.rollout import rollout_factory
    from safevlm.methods.safer.settings import resolve_safer_settings
    from safevlm.train.grpo import run_grpo

    if lora and full:
        raise ConfigError("choose one of --lora and --full")
    settings = resolve_safer_settings(preset, config, overrides or [], rollout=rollout, model=model,
                                      mode="lora" if lora else "full" if full else None)
    _say_auto(preset, settings.preset, model)
    factory = rollout_factory(settings)
    console.print(f"preset [bold]{settings.preset}[/], {settings.mode}, rollout {settings.rollout}, reward {reward}, "
                  f"lr {settings.learning_rate:g}, G {settings.num_generations}, KL {settings.beta:g}")
    record = run_grpo(model, data, out, settings, reward=reward, prompt_wrapper=prompt_wrapper,
                      resume=str(resume_from) if resume_from else resume, callbacks=[progress_callback(console)],
                      rollout=factory)
    first, last = record["first_reward"], record["last_reward"]
    console.print(f"{record['global_steps']} steps, reward {first if first is None else round(first, 3)} -> "
                  f"{last if last is None else round(last, 3)}, {record['s_per_step']} s/step; saved to {out}")
    if record["judge_failures"]:
        console.print(f"[yellow]{record['judge_failures']} completion(s) the reward could not score were left out "
                      "of their groups[/]")


BaseOpt = Annotated[str | None, typer.Option("--base", help="Base model (default: the one recorded at training).")]


@friendly_errors
def merge_cmd(
    adapter: Annotated[Path, typer.Argument(help="LoRA adapter folder (from `safevlm train sft|grpo --lora`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the merged checkpoint goes.")],
    base: BaseOpt = None,
):
    """Merge a LoRA adapter into its base model: a plain checkpoint every command loads as hf:OUT."""
    from safevlm.train.sft import merge_adapter

    path = merge_adapter(adapter, out, base=base)
    console.print(f"merged checkpoint written to {path}; evaluate it with --model hf:{path}")


@friendly_errors
def export_cmd(
    adapter: Annotated[Path, typer.Option("--merge", help="LoRA adapter folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the merged checkpoint goes.")],
    base: BaseOpt = None,
):
    """Old name of `safevlm merge ADAPTER --out OUT` (kept so existing scripts run)."""
    merge_cmd(adapter, out, base)
