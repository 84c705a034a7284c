"""VLM checkpoints: the family registry, tiny offline builders, loading/saving, the bundled gym model.

Submodules import transformers, so names are resolved lazily here (PEP 562):
``import safevlm.models`` stays cheap and the cost is paid on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_tiny_vlm": "safevlm.models.tiny",
    "train_bpe_tokenizer": "safevlm.models.tokenizer",
    "load_vlm": "safevlm.models.loading",
    "save_vlm": "safevlm.models.loading",
    "gym_model_path": "safevlm.models.loading",
    "ModelNotFoundError": "safevlm.models.loading",
    "load_processor": "safevlm.models.families",
    "chat_template": "safevlm.models.families",
    "get_family": "safevlm.models.families",
    "qwen_image_processor": "safevlm.models.processors",
    "smolvlm_image_processor": "safevlm.models.processors",
    "FAMILIES": "safevlm.models.families",
}

__all__ = ["FAMILIES", "ModelNotFoundError", "build_tiny_vlm", "chat_template", "get_family", "gym_model_path",
           "load_processor", "load_vlm", "qwen_image_processor", "save_vlm", "smolvlm_image_processor",
           "train_bpe_tokenizer"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'safevlm.models' has no attribute {name!r}")
