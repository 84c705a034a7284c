"""``safevlm train sft``: supervised fine-tuning of a VLM with TRL's ``SFTTrainer``.

What it guarantees (docs/methods.md, "SafeCoT: training (SFT recipe)"):

- **loss on the assistant answer only**: ``assistant_only_loss=True`` with a training
  template (generation markers) checked to keep the inference prompt
  (:mod:`safevlm.train.chat_templates`), so the prompt, the system text, the image tokens
  and padding get label -100; tested for every family in ``tests/test_families.py``
  (the supervised token ids are exactly the answer and its end-of-turn tokens);
- LoRA (PEFT) on the language model's projections only (the family registry says where
  that is), or full fine-tuning; a preset for a GPU (the paper's recipe) and one for
  the gym on a CPU (:mod:`safevlm.train.sft_settings`); ``accelerate launch`` /
  DeepSpeed work because this is a plain ``SFTTrainer``;
- checkpoints every ``save_steps``; ``resume`` restores one exactly (weights, optimiser, schedule, RNG
  and data position) or stops (:mod:`safevlm.train.resume`);
- the resolved settings, the data card's summary and the prompt wrapper saved with the
  model as ``safevlm_training.json``; LoRA adapters merge with :func:`merge_adapter`;
- the data checked in full (:func:`check_sft_data`) before the model loads, every
  problem one ``path:line`` message.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safevlm.data.provenance import DataCard, TrainingRecord
from safevlm.errors import ConfigError
from safevlm.models.families import get_family
from safevlm.models.loading import resolve_model_path
from safevlm.train.base import load_for_training, lora_config, train_and_save
from safevlm.train.chat_templates import check_training_template, training_chat_template
from safevlm.train.model_card import write_model_card
from safevlm.train.resume import find_checkpoint
from safevlm.train.sft_data import ChatData, check_chat_data
from safevlm.train.sft_settings import SFTSettings

log = logging.getLogger(__name__)


def sft_config(settings: SFTSettings, out: str | Path, *, has_eval: bool = False):
    import torch
    from trl import SFTConfig

    on_gpu = torch.cuda.is_available()
    return SFTConfig(
        output_dir=str(out), assistant_only_loss=True, max_length=settings.max_length,
        learning_rate=settings.learning_rate, num_train_epochs=settings.num_train_epochs, max_steps=settings.max_steps,
        per_device_train_batch_size=settings.per_device_train_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps, lr_scheduler_type=settings.lr_scheduler_type,
        warmup_steps=settings.warmup_ratio, weight_decay=settings.weight_decay, max_grad_norm=settings.max_grad_norm,
        bf16=settings.bf16, use_cpu=not on_gpu, activation_checkpointing=settings.gradient_checkpointing,
        seed=settings.seed, data_seed=settings.seed, logging_steps=settings.logging_steps, logging_first_step=True,
        save_strategy="steps",
        save_steps=settings.save_steps, save_total_limit=settings.save_total_limit,
        eval_strategy="steps" if has_eval else "no", eval_steps=settings.save_steps if has_eval else None,
        per_device_eval_batch_size=settings.per_device_train_batch_size,
        dataloader_num_workers=settings.dataloader_num_workers, report_to=settings.report_to or "none",
        remove_unused_columns=False, disable_tqdm=True, deepspeed=settings.deepspeed)


def build_trainer(model: Any, processor: Any, train_dataset: Any, settings: SFTSettings, out: str | Path, *,
                  eval_dataset: Any = None, callbacks: list[Any] | None = None):
    """A configured ``SFTTrainer`` (tests use it to inspect batches without training).

    The processor's chat template is replaced by the training variant that keeps the
    prompt as at inference and supervises the answer and its end-of-turn token
    (:mod:`safevlm.train.chat_templates`); markers render nothing, so generation with the
    saved processor is unchanged.
    """
    from trl import SFTTrainer

    family = get_family(model.config)
    if settings.chat_template_path:
        path = Path(settings.chat_template_path)
        if not path.is_file():
            raise ConfigError(f"chat_template_path {path} not found")
        template: str | None = path.read_text(encoding="utf-8")
        why = check_training_template(processor, template)
        if why:
            raise ConfigError(f"chat_template_path {path}: {why}")
    else:
        template = training_chat_template(processor, family)
    if template is not None:
        processor.chat_template = template
    return SFTTrainer(model=model, args=sft_config(settings, out, has_eval=eval_dataset is not None),
                      train_dataset=train_dataset, eval_dataset=eval_dataset, processing_class=processor,
                      peft_config=lora_config(settings, family) if settings.mode == "lora" else None,
                      callbacks=callbacks)


def _data_summary(data: Path) -> dict[str, Any]:
    card = DataCard.read(data)
    if card is None:
        return {"path": str(data)}
    return {"path": str(data), "variant": card.get("variant"), "counts": card.counts,
            "prompt_wrapper": card.prompt_wrapper, "teacher": card.get("teacher")}


def train_file(data: str | Path) -> Path:
    """``DIR`` (a built set: ``DIR/train.jsonl``) or a JSONL file."""
    p = Path(data)
    if p.is_dir():
        p = p / "train.jsonl"
    if not p.is_file():
        raise ConfigError(f"training data {p} not found (give a folder written by `safevlm safecot build` "
                          "or a chat-format JSONL file)")
    return p


@dataclass
class SFTData:
    """Checked training data and, when there is one, its held-out split."""

    train: ChatData
    heldout: ChatData | None = None


def check_sft_data(data: str | Path, *, heldout: bool = True, image_roots: list[str] | None = None) -> SFTData:
    """Check ``DIR/train.jsonl`` (or a JSONL file) and ``heldout.jsonl`` beside it; fast, no model.
    ``image_roots``: folders the images may be in besides the data's own and the data root."""
    path = train_file(data)
    held = path.parent / "heldout.jsonl"
    use_held = heldout and held.is_file() and held.stat().st_size > 0
    roots = image_roots or []
    return SFTData(check_chat_data(path, extra_image_roots=roots),
                   check_chat_data(held, extra_image_roots=roots) if use_held else None)


def run_sft(model: str, data: str | Path | SFTData, out: str | Path, settings: SFTSettings, *,
            resume: bool | str = False, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Train and save to ``out``; return the training record (also in ``out/safevlm_training.json``).

    ``data``: a folder or file (checked here, before the model loads) or what
    :func:`check_sft_data` returned. ``resume``: ``True`` continues from the last
    ``checkpoint-*`` in ``out``; a path continues from that checkpoint.
    """
    out = Path(out)
    find_checkpoint(out, resume)  # a missing checkpoint fails before the data and the model load
    checked = data if isinstance(data, SFTData) else check_sft_data(data, heldout=settings.eval_heldout,
                                                                    image_roots=settings.image_roots)
    path = checked.train.path
    train_ds = checked.train.to_dataset()
    eval_ds = checked.heldout.to_dataset() if checked.heldout is not None and settings.eval_heldout else None
    m, processor = load_for_training(model, settings)
    n_params = sum(p.numel() for p in m.parameters())
    trainer = build_trainer(m, processor, train_ds, settings, out, eval_dataset=eval_ds, callbacks=callbacks)
    result, wall = train_and_save(trainer, processor, out, resume=resume, quiet=bool(callbacks))
    history = [h for h in trainer.state.log_history if "loss" in h]
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    data_summary = _data_summary(path.parent)
    record = TrainingRecord.from_dict({
        "base_model": model, "base_model_path": resolve_model_path(model), "mode": settings.mode,
        "settings": settings.to_dict(), "data": data_summary,
        "prompt_wrapper": data_summary.get("prompt_wrapper") or {"name": "none", "template": "{question}"},
        "examples": len(train_ds), "parameters": n_params, "trainable_parameters": trainable,
        "global_steps": trainer.state.global_step, "train_loss": result.training_loss,
        "first_loss": history[0]["loss"] if history else None, "last_loss": history[-1]["loss"] if history else None,
        "wall_s": round(wall, 2), "samples_per_s": round(result.metrics.get("train_samples_per_second", 0.0), 2),
        "loss_history": [{"step": h["step"], "loss": h["loss"]} for h in history],
    })
    record.write(out)
    write_model_card(out, record)
    return record.to_dict()


def merge_adapter(adapter_dir: str | Path, out: str | Path, *, base: str | None = None) -> Path:
    """Merge a LoRA adapter into its base model and save a plain checkpoint (with processor)."""
    adapter_dir, out = Path(adapter_dir), Path(out)
    cfg_file = adapter_dir / "adapter_config.json"
    if not cfg_file.is_file():
        raise ConfigError(f"{adapter_dir} is not a LoRA adapter (no adapter_config.json); full fine-tunes are "
                          "already plain checkpoints")
    from peft import PeftModel

    from safevlm.models.loading import load_vlm, save_vlm

    record = TrainingRecord.read(adapter_dir)
    base_path = base or (record.base_model_path if record else None) or \
        json.loads(cfg_file.read_text())["base_model_name_or_path"]
    model, processor = load_vlm(resolve_model_path(str(base_path)), dtype="float32", device="cpu")
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    from safevlm.models.families import load_processor

    try:  # the adapter folder holds the processor the model was trained with
        processor = load_processor(adapter_dir, model.config)
    except Exception:  # noqa: BLE001 - fall back on the base model's processor
        log.info("%s has no processor; using the base model's", adapter_dir)
    save_vlm(merged, processor, out)
    if record is not None:
        record = record.with_extra(merged_from=str(adapter_dir))
        record.write(out)
        write_model_card(out, record)
    return out
