"""A checkpoint's ``safevlm_training.json`` (:class:`safevlm.data.provenance.TrainingRecord`), found by model spec.

The resolved settings, the data summary, the prompt wrapper the data was built with,
and the loss / reward history. Later stages read it back: a model fine-tuned on
wrapped prompts must be prompted the same way (evaluation, QI-Box selection, GRPO),
and :func:`prompt_wrapper_of` says how.
"""

from __future__ import annotations

from pathlib import Path

from safevlm.data.provenance import TrainingRecord


def read_training_record(model: str | Path) -> TrainingRecord | None:
    """The record saved with a local checkpoint (``hf:DIR``, ``DIR``), or None for anything else."""
    from safevlm.models.loading import resolve_model_path

    return TrainingRecord.read(resolve_model_path(str(model)))


def prompt_wrapper_of(model: str | Path) -> str | None:
    """The prompt wrapper a checkpoint was trained with (a preset name or a template), None if none."""
    record = read_training_record(model)
    wrapper = (record.prompt_wrapper if record is not None else None) or {}
    name = wrapper.get("name")
    if not name or name == "none":
        return None
    return wrapper.get("template") if name == "custom" else name
