"""Resuming a training run: restore exactly what the checkpoint holds, or stop.

transformers' ``Trainer`` restores the optimiser, the scheduler, the RNG states and the
data position itself, but it loads a full checkpoint's weights with
``model.load_state_dict(..., strict=False)`` and only *warns* about keys that do not
match. The weights a model saves are not always named like its parameters: recent
transformers rename keys between the checkpoint format and the module tree (Qwen2.5-VL's
``model.layers.*`` on disk is ``model.language_model.layers.*`` in memory; converters may
also fuse or split tensors), and ``save_pretrained`` writes the checkpoint format. So a
resumed run used to start again from the *base* weights with the optimiser and
schedule of the checkpoint, after a warning nobody reads.

:func:`load_checkpoint_weights` replaces that step for SFT and GRPO (LoRA and full):

- **full**: the checkpoint is read back with ``from_pretrained`` (the same key mapping
  and conversions that wrote it), any missing, unexpected or mismatched key is an
  error, and the tensors are copied into the training model with a strict
  ``load_state_dict``;
- **LoRA**: PEFT's ``load_adapter`` with ``strict_adapter_check="error"``;
- a checkpoint of the other kind (an adapter for a full run, full weights for a LoRA
  run) is an error naming both.

Distributed set-ups whose checkpoints the trainer owns (DeepSpeed, FSDP, SageMaker
MP) keep the trainer's own loader.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

from safevlm.errors import ConfigError

#: what the Trainer writes into every checkpoint besides the weights (step and data position, optimiser,
#: schedule); the RNG states are ``rng_state.pth`` or one ``rng_state_N.pth`` per process
STATE_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt")


class ResumeError(ConfigError):
    """A checkpoint cannot be restored exactly (missing or unexpected weights, the wrong kind)."""


def find_checkpoint(out: Path, resume: bool | str) -> str | None:
    """The checkpoint folder ``resume`` names: ``True`` -> the last ``checkpoint-*`` in ``out``; a path -> it."""
    if not resume:
        return None
    if resume is True:
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(str(out)) if out.is_dir() else None
        if last is None:
            raise ConfigError(f"--resume: no checkpoint-* folder in {out} to resume from")
        path = Path(last)
    else:
        path = Path(resume)
    if not path.is_dir():
        raise ConfigError(f"--resume-from: {path} is not a folder")
    missing = [name for name in STATE_FILES if not (path / name).is_file()]
    if any(path.glob("global_step*")):  # DeepSpeed keeps the optimiser in its own folder
        missing = [name for name in missing if name == "trainer_state.json"]
    if not any(path.glob("rng_state*.pth")):
        missing.append("rng_state.pth")
    if missing:
        raise ConfigError(f"--resume: {path} is not a complete training checkpoint (no {', '.join(missing)}); "
                          "give a checkpoint-* folder written during training (not one saved with "
                          "save_only_model)")
    return str(path)


def _is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "load_adapter")


def _has_full_weights(path: Path) -> bool:
    return any((path / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json",
                                                    "pytorch_model.bin", "pytorch_model.bin.index.json"))


def _has_adapter(path: Path) -> bool:
    return any((path / name).is_file() for name in ("adapter_model.safetensors", "adapter_model.bin"))


def load_checkpoint_weights(model: Any, checkpoint: str | Path) -> None:
    """Put the weights saved in ``checkpoint`` into ``model`` exactly; :class:`ResumeError` otherwise."""
    path = Path(checkpoint)
    if _is_peft(model):
        if not _has_adapter(path):
            raise ResumeError(f"{path} holds no LoRA adapter (adapter_model.safetensors), but this run trains LoRA "
                              "adapters; resume a LoRA run from its own checkpoints, or train with --full")
        active = model.active_adapters[0] if getattr(model, "active_adapters", None) else "default"
        try:
            model.load_adapter(str(path), active, is_trainable=True, strict_adapter_check="error")
        except RuntimeError as exc:
            raise ResumeError(f"cannot resume from {path}: {exc}") from exc
        return
    if not _has_full_weights(path):
        what = "a LoRA adapter" if _has_adapter(path) else "no model weights"
        raise ResumeError(f"{path} holds {what}, but this run fine-tunes the full model; resume it with --lora, "
                          "or from a checkpoint of a full run")
    import torch

    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    saved, info = type(model).from_pretrained(str(path), dtype=dtype, output_loading_info=True)
    problems = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    if problems:
        detail = "; ".join(f"{k.replace('_', ' ')}: {sorted(map(str, v))[:8]}"
                           + (f" (+{len(v) - 8} more)" if len(v) > 8 else "") for k, v in problems.items())
        raise ResumeError(f"cannot resume from {path}: its weights do not match the model ({detail})")
    try:
        model.load_state_dict(saved.state_dict(), strict=True)
    except RuntimeError as exc:
        raise ResumeError(f"cannot resume from {path}: {exc}") from exc
    del saved


def strict_resume(trainer: Any) -> None:
    """Make ``trainer`` load checkpoint weights with :func:`load_checkpoint_weights` (see the module docstring)."""
    original = trainer._load_from_checkpoint

    def load(self: Any, resume_from_checkpoint: str, model: Any = None) -> None:
        from transformers.utils import is_sagemaker_mp_enabled

        if self.is_deepspeed_enabled or self.is_fsdp_enabled or is_sagemaker_mp_enabled():
            return original(resume_from_checkpoint, model)
        load_checkpoint_weights(model if model is not None else self.model, resume_from_checkpoint)

    trainer._load_from_checkpoint = types.MethodType(load, trainer)
