"""SFT settings: presets, a YAML file and ``key=value`` overrides, resolved in that order
(by the shared resolver, :mod:`safevlm.train.settings`).

Presets (``preset: gpu | cpu | cpu-lora``; ``auto`` picks by the machine and the model,
:func:`safevlm.train.settings.auto_preset`: ``gpu`` with CUDA, else ``cpu`` for the gym
model and ``cpu-lora`` for any other checkpoint):

- **gpu**, SafeCoT's published recipe (docs/methods.md, "SafeCoT: training"): LoRA r=64, alpha=16 on
  every attention and MLP projection of the language model, lr 2e-5, linear schedule, 3 epochs (the paper
  says 2-3), global batch 8 (2 per device x 4 accumulation on one GPU; with N GPUs
  lower the accumulation to keep 8), bf16, max length 1024, gradient checkpointing,
  images capped at 448x448 pixels so image tokens fit in 1024 (each family's rule:
  docs/models.md, "Families").
- **cpu**, for the gym model on a laptop-class CPU: full fine-tuning (the model has
  1 M parameters, so LoRA saves nothing), fp32 (bf16 autocast is 9x slower for this
  model on our CPU), no gradient checkpointing (40-50 % slower on a CPU), batch 32,
  lr 3e-3 with cosine decay, 3 epochs (docs/benchmarks.md, "SafeCoT on the gym"). On the gym, 300
  steps of SafeCoT v1 data reached CRR 0.79 at lr 1e-3, 0.87 at 2e-3 and 0.95 at 3e-3
  (docs/benchmarks.md, "SafeCoT on the gym").
- **cpu-lora**, for a real checkpoint without a GPU (ours): the paper's LoRA recipe (r=64,
  alpha=16, lr 2e-5, 3 epochs, max length 1024, images capped) in float32 (no bf16 on a
  CPU), global batch 8 as 1 x 8 accumulation, gradient checkpointing kept (memory is the
  limit for a real model). Slow, but it changes the model as the paper's recipe would.

Every field maps onto TRL's ``SFTConfig`` / PEFT's ``LoraConfig`` (see
:func:`safevlm.train.sft.sft_config`); the resolved settings are saved with the
checkpoint as ``safevlm_training.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safevlm.train.base import TrainerSettings
from safevlm.train.settings import resolve_settings


@dataclass(kw_only=True)
class SFTSettings(TrainerSettings):
    """SFT's settings: the shared ones (:class:`~safevlm.train.base.TrainerSettings`) with SafeCoT's
    recipe as defaults, and SFT's own (length, chat template, workers, held-out loss)."""

    mode: str = "lora"
    learning_rate: float = 2e-5
    num_train_epochs: float = 3.0
    per_device_train_batch_size: int = 2
    gradient_accumulation_steps: int = 4
    lr_scheduler_type: str = "linear"
    warmup_ratio: float = 0.03
    logging_steps: int = 10
    save_steps: int = 500
    max_length: int | None = 1024
    chat_template_path: str | None = None  # a .jinja with {% generation %} markers (default: chosen and checked)
    dataloader_num_workers: int = 0
    eval_heldout: bool = False  # evaluate loss on heldout.jsonl at each save


PRESETS: dict[str, dict[str, Any]] = {
    "gpu": {},  # the dataclass defaults are the paper's recipe
    "cpu": {"mode": "full", "learning_rate": 3e-3, "num_train_epochs": 3.0, "per_device_train_batch_size": 32,
            "gradient_accumulation_steps": 1, "lr_scheduler_type": "cosine", "warmup_ratio": 0.05,
            "max_length": None, "bf16": False, "gradient_checkpointing": False, "max_pixels": None,
            "logging_steps": 10, "save_steps": 200},
    "cpu-lora": {"mode": "lora", "bf16": False, "dtype": "float32", "per_device_train_batch_size": 1,
                 "gradient_accumulation_steps": 8},
}


def resolve_sft_settings(preset: str = "auto", config_file: str | Path | None = None,
                         overrides: list[str] | dict[str, Any] | None = None, *, model: str | None = None,
                         **explicit: Any) -> SFTSettings:
    """Preset, then the YAML file, then ``overrides``, then ``explicit`` (CLI flags such as ``mode``).

    ``model``: the checkpoint to train, which ``auto`` looks at. See
    :func:`safevlm.train.settings.resolve_settings` for the rules.
    """
    return resolve_settings(SFTSettings, PRESETS, preset, config_file, overrides, model=model, **explicit)
