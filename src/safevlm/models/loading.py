"""Load and save image-text-to-text checkpoints together with the right processor.

``load_vlm`` takes a Hugging Face VLM checkpoint of a supported family (a folder or a
Hub id already in the cache). The model goes through ``AutoModelForImageTextToText``;
the processor is the family's (:mod:`safevlm.models.families`; see
:mod:`safevlm.models.processors` for why ``AutoProcessor`` cannot be trusted without
torchvision). A checkpoint of an unknown family fails before its weights are read.
"""

from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path
from typing import Any

from safevlm.errors import ConfigError, SafeVLMError

log = logging.getLogger(__name__)

GYM_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "gym_model"


class ModelNotFoundError(SafeVLMError):
    """A model checkpoint is missing or is not an image-text-to-text model."""


def gym_model_path() -> Path:
    """The bundled gym model's folder; a clear error if it has not been built yet."""
    if not (GYM_MODEL_DIR / "config.json").is_file():
        raise ModelNotFoundError(f"the bundled gym model is missing ({GYM_MODEL_DIR} has no config.json); "
                                 "run `safevlm gym pretrain` to build it")
    return GYM_MODEL_DIR


def resolve_model_path(spec: str) -> str:
    """The one model-spec resolver for local checkpoints: ``gym`` -> the bundled gym model's
    folder; ``hf:X`` -> ``X``; anything else as given (a folder or a Hub id in the cache)."""
    if spec == "gym":
        return str(gym_model_path())
    return spec.removeprefix("hf:")


#: How to turn a LoRA adapter folder into a checkpoint every backend loads (the CLI command).
MERGE_HINT = "safevlm merge {adapter} --out {adapter}-merged"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _looks_like_path(name: str) -> bool:
    """A Hub id is ``NAME`` or ``ORG/NAME``; anything else with a separator (``./x``, ``/abs``, ``~/x``,
    ``a/b/c``), or whose first part is a local folder (``ckpt/x`` with ``ckpt/`` here), is meant as a path."""
    if name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1:
        return True
    head = name.partition("/")[0]
    return "/" in name and Path(head).is_dir()


def check_model_source(name: str) -> str:
    """``name`` (expanded) when it can hold a checkpoint; a :class:`ModelNotFoundError` that says
    what is wrong otherwise, before transformers answers with a message about connecting to the Hub:

    - a LoRA adapter folder (``adapter_config.json``, no ``config.json``): merge it first;
    - a folder without ``config.json``: not a checkpoint;
    - a path that does not exist: says so, with the closest names beside it.
    """
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            if (path / "adapter_config.json").is_file():
                raise ModelNotFoundError(f"{path} is a LoRA adapter, not a full checkpoint; merge it into its base "
                                         f"model first: {MERGE_HINT.format(adapter=path)}")
            raise ModelNotFoundError(f"{path}: not a model checkpoint (no config.json)")
        return str(path)
    if _looks_like_path(name):
        parent = path.parent
        here = sorted(p.name for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else []
        near = difflib.get_close_matches(path.name, here, n=3, cutoff=0.5)
        if near:
            hint = f" (did you mean {' or '.join(str(parent / n) for n in near)}?)"
        elif not parent.is_dir():
            hint = f" ({parent} does not exist either)"
        else:
            hint = f" ({parent} holds {', '.join(here[:8]) or 'no folder'}{' ...' if len(here) > 8 else ''})"
        raise ModelNotFoundError(f"{path}: no such folder{hint}")
    return name


def _fingerprint(config: dict[str, Any]) -> tuple:
    """What makes two configs the same architecture and size (a fine-tune keeps all of it)."""
    text = config.get("text_config") or config
    vision = config.get("vision_config") or {}
    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads")
    return (config.get("model_type"), *(text.get(k) for k in keys), vision.get("hidden_size"), vision.get("depth"))


def is_gym_model(spec: str) -> bool:
    """The bundled gym model, or a checkpoint of its exact architecture (a fine-tune of it, merged or a
    LoRA adapter on it): the models the gym's CPU training recipes were measured on."""
    import json

    if spec.strip() == "gym":
        return True
    path = Path(resolve_model_path(spec.strip())).expanduser()
    try:
        if not (path / "config.json").is_file() and (path / "adapter_config.json").is_file():
            base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
            return bool(base) and Path(str(base)).resolve() != path.resolve() and is_gym_model(str(base))
        mine = json.loads((path / "config.json").read_text(encoding="utf-8"))
        gym = json.loads((GYM_MODEL_DIR / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return _fingerprint(mine) == _fingerprint(gym)


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else as given."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str | Any = "auto", device: str = "cpu"):
    """``auto`` -> bfloat16 on a CUDA device that supports it, float32 elsewhere.

    float32 is the CPU default because generation with tiny models is dominated by
    per-token overhead, and greedy outputs should not change with the machine.
    """
    import torch

    if not isinstance(dtype, str):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    try:
        value = getattr(torch, {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}.get(dtype, dtype))
    except AttributeError:
        value = None
    if not isinstance(value, torch.dtype):
        raise ConfigError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
    return value


def load_vlm(path_or_id: str | Path, *, dtype: str | Any = "auto", device: str = "auto",
             processor_kwargs: dict[str, Any] | None = None, **model_kwargs: Any) -> tuple[Any, Any]:
    """Load ``(model, processor)`` for generation: eval mode, left padding.

    Args:
        path_or_id: a checkpoint folder or a Hub id present in the local cache.
        dtype: ``auto`` | ``float32`` | ``bfloat16`` | ``float16`` or a ``torch.dtype``.
        device: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:1``...
        processor_kwargs: passed to the processor's ``from_pretrained`` (e.g. image
            processor bounds such as ``max_pixels``).
        model_kwargs: passed to ``AutoModelForImageTextToText.from_pretrained``
            (e.g. ``attn_implementation``).
    """
    from transformers import AutoConfig, AutoModelForImageTextToText
    from transformers.utils import logging as hf_logging

    from safevlm.models.families import get_family, load_processor

    hf_logging.disable_progress_bar()  # its per-shard loading bars would break safevlm's own progress display
    name = check_model_source(str(path_or_id))
    try:
        config = AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        if Path(name).is_dir():
            raise ModelNotFoundError(f"cannot load a model config from {name!r}: {exc}") from exc
        raise ModelNotFoundError(f"{name}: no such folder, and no Hub model of that id in the local cache "
                                 f"(nothing is downloaded{' with HF_HUB_OFFLINE=1' if _offline() else ''}); give "
                                 f"a checkpoint folder, or fetch it first: huggingface-cli download {name}") from exc
    get_family(config, source=name)  # an unsupported family fails here, before the weights are read
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    try:
        model = AutoModelForImageTextToText.from_pretrained(name, dtype=torch_dtype, **model_kwargs)
    except ValueError as exc:  # raised for configs that have no image-text-to-text class
        raise ModelNotFoundError(f"{name}: model type {config.model_type!r} is not an image-text-to-text "
                                 f"model ({exc})") from exc
    processor = load_processor(name, config, **(processor_kwargs or {}))
    processor.tokenizer.padding_side = "left"
    if "device_map" not in model_kwargs:  # with a device map, accelerate has placed the weights already
        model.to(dev)
    model.eval()
    log.info("loaded %s (%s, %s, %.1f M params) on %s", name, config.model_type, torch_dtype,
             sum(p.numel() for p in model.parameters()) / 1e6, dev)
    return model, processor


def save_vlm(model: Any, processor: Any, path: str | Path) -> Path:
    """Write model weights (safetensors) and processor files so :func:`load_vlm` restores both."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
