"""The training base every trainer on TRL shares: :class:`TrainerSettings` and the steps around ``train()``.

The SFT and GRPO settings (:mod:`.sft_settings`, :mod:`.grpo_settings`) extend
:class:`TrainerSettings`, as TRL's ``SFTConfig`` and ``GRPOConfig`` extend one
``TrainingArguments``: the fields every trainer has (optimiser, schedule, batch, precision,
LoRA, image cap, seed, saving) are declared here once, with their checks; a trainer
declares only its own fields and the defaults of its recipe. The helpers load the model
for training (:func:`load_for_training`), place LoRA (:func:`lora_config`) and run, resume
and save (:func:`train_and_save`). Nothing here knows a method: a method's settings extend
a trainer's (SaFeR-VLM's rollout and reflection: :mod:`safevlm.methods.safer.settings`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safevlm.errors import ConfigError
from safevlm.models.families import Family, cap_images, get_family, lora_target_modules
from safevlm.models.loading import resolve_model_path
from safevlm.train.resume import find_checkpoint, strict_resume


@dataclass(kw_only=True)
class TrainerSettings:
    """The fields every trainer shares; those without a default here are set by each trainer's recipe."""

    preset: str = "auto"
    mode: str  # lora | full
    learning_rate: float
    num_train_epochs: float
    max_steps: int = -1  # > 0 overrides epochs
    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    lr_scheduler_type: str
    warmup_ratio: float
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    bf16: bool = True
    gradient_checkpointing: bool = True
    lora_r: int = 64
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | None = None  # None: the family's (the language model's projections)
    lora_scope: str = "language"  # language: adapters in the language model only | all: every module so named
    max_pixels: int | None = 448 * 448  # image cap per image, by the family's rule (None: the processor's own)
    image_roots: list[str] = field(default_factory=list)  # folders images may be in besides the data's and data root
    dtype: str = "auto"  # weights: auto = bf16 for LoRA on GPU, else float32
    seed: int = 0
    logging_steps: int
    save_steps: int
    save_total_limit: int | None = 2
    deepspeed: str | None = None  # a DeepSpeed JSON config (run under `accelerate launch` / `deepspeed`)
    report_to: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.lora_scope not in ("language", "all"):
            raise ConfigError(f"lora_scope must be 'language' or 'all', got {self.lora_scope!r}")
        if self.mode not in ("lora", "full"):
            raise ConfigError(f"mode must be 'lora' or 'full', got {self.mode!r}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.per_device_train_batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ConfigError("batch size and gradient accumulation must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_for_training(spec: str, settings: TrainerSettings) -> tuple[Any, Any]:
    """Model and processor for training, images capped at ``max_pixels`` by the family's rule
    (:func:`safevlm.models.families.cap_images`)."""
    import torch

    from safevlm.models.loading import load_vlm

    dtype = settings.dtype
    if dtype == "auto":
        dtype = "bfloat16" if settings.mode == "lora" and torch.cuda.is_available() and settings.bf16 else "float32"
    model, processor = load_vlm(resolve_model_path(spec), dtype=dtype, device="cpu")
    ip = getattr(processor, "image_processor", None)
    if settings.max_pixels and ip is not None:
        cap_images(get_family(model.config), ip, settings.max_pixels)
    return model, processor


def train_and_save(trainer: Any, processor: Any, out: Path, *, resume: bool | str | None, quiet: bool
                   ) -> tuple[Any, float]:
    """Train (from a checkpoint when ``resume``), save the model and processor to ``out``; SFT and GRPO share it.

    ``resume``: ``True`` (the last ``checkpoint-*`` in ``out``) or a checkpoint folder;
    its weights are restored exactly or the run stops (:mod:`safevlm.train.resume`), and
    the trainer restores the optimiser, scheduler, RNG states and data position.
    ``quiet``: the caller reports progress itself, so transformers' printer (every log dict) is removed.
    Returns TRL's train output and the wall seconds of training.
    """
    if quiet:
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    from safevlm.train.progress import log_last_step

    trainer.add_callback(log_last_step())  # the history ends where training ended
    checkpoint = find_checkpoint(out, resume or False)
    strict_resume(trainer)
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    wall = time.perf_counter() - t0
    trainer.save_model(str(out))
    processor.save_pretrained(str(out))
    return result, wall


def lora_config(settings: TrainerSettings, family: Family):
    """LoRA on the family's language-model projections (or ``lora_target_modules``), never in the
    vision tower or the projector unless ``lora_scope=all`` (docs/models.md, "Families")."""
    from peft import LoraConfig

    return LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                      target_modules=lora_target_modules(family, settings.lora_target_modules, settings.lora_scope),
                      task_type="CAUSAL_LM")
