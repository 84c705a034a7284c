"""``safevlm_training.json``: what every training run saves beside its checkpoint.

The resolved settings, the data summary, the prompt wrapper the data was built with,
and the loss / reward history. Later stages read it back: a model fine-tuned on
wrapped prompts must be prompted the same way (evaluation, QI-Box selection, GRPO),
and :func:`prompt_wrapper_of` says how.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TRAINING_RECORD = "safevlm_training.json"


def read_training_record(model: str | Path) -> dict[str, Any]:
    """The record saved with a local checkpoint (``hf:DIR``, ``DIR``), or ``{}`` for anything else."""
    from safevlm.models.loading import resolve_model_path

    path = Path(resolve_model_path(str(model))) / TRAINING_RECORD
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def prompt_wrapper_of(model: str | Path) -> str | None:
    """The prompt wrapper a checkpoint was trained with (a preset name or a template), None if none."""
    wrapper = read_training_record(model).get("prompt_wrapper") or {}
    name = wrapper.get("name")
    if not name or name == "none":
        return None
    return wrapper.get("template") if name == "custom" else name
