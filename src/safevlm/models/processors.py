"""Processors that work without torchvision, and the registry of supported families.

Why these subclasses exist (docs/models.md, "Pitfalls"):

- Every VLM processor in transformers 5 takes a ``video_processor``, and every video
  processor imports torchvision, which we cannot install next to the CPU torch.
  ``ProcessorMixin.get_attributes()`` reads the sub-processor list from the
  ``__init__`` *signature*, so a subclass whose ``__init__`` leaves
  ``video_processor`` out no longer needs one (it passes ``None`` to the parent).
- SmolVLM's ``apply_chat_template`` reads ``video_processor.num_frames``/``fps``
  unconditionally, so it gets a stub with those two fields.
- The default ``*ImageProcessor`` classes are torchvision backends; the
  ``*ImageProcessorPil`` classes are used instead. ``AutoImageProcessor`` falls back
  to them on its own when torchvision is missing, so loading a saved or real
  checkpoint needs nothing special for the image processor.
- ``AutoProcessor.from_pretrained`` silently returns a bare tokenizer for these
  processors (pitfall 7), so :func:`load_processor` picks the class from the
  model's ``config.model_type`` instead of trusting ``AutoProcessor``.

Saved processors record the upstream class name (``Qwen2_5_VLProcessor``...), so a
checkpoint written here loads with plain transformers/vLLM where torchvision exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from transformers import (
    AutoProcessor,
    ProcessorMixin,
    Qwen2_5_VLProcessor,
    Qwen2VLProcessor,
    Qwen3VLProcessor,
    SmolVLMProcessor,
)

from safevlm.errors import ConfigError


class _UpstreamName:
    """Write the upstream processor class into ``processor_config.json``."""

    upstream: type

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()  # type: ignore[misc]
        out["processor_class"] = self.upstream.__name__
        return out


class OfflineQwen2VLProcessor(_UpstreamName, Qwen2VLProcessor):
    """Qwen2-VL processor without the (torchvision-only) video processor."""

    upstream = Qwen2VLProcessor

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class OfflineQwen2_5_VLProcessor(_UpstreamName, Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor without the (torchvision-only) video processor."""

    upstream = Qwen2_5_VLProcessor

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class OfflineQwen3VLProcessor(_UpstreamName, Qwen3VLProcessor):
    """Qwen3-VL processor without the (torchvision-only) video processor."""

    upstream = Qwen3VLProcessor

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class OfflineSmolVLMProcessor(_UpstreamName, SmolVLMProcessor):
    """SmolVLM processor without a video processor, plus the ``num_frames``/``fps`` stub
    that ``SmolVLMProcessor.apply_chat_template`` reads even for image-only chats."""

    upstream = SmolVLMProcessor

    def __init__(self, image_processor=None, tokenizer=None, image_seq_len: int = 169, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, image_seq_len=image_seq_len,
                         chat_template=chat_template, **kwargs)
        self.video_processor = SimpleNamespace(num_frames=64, fps=1)


@dataclass(frozen=True)
class Family:
    """What safevlm needs to know about one VLM family."""

    model_type: str
    processor_cls: type[ProcessorMixin]
    template: str  # name of the file in trl/chat_templates
    vision_tokens: tuple[str, ...]  # tokens a weak model must never generate (pitfall 5)


FAMILIES: dict[str, Family] = {
    "qwen2_vl": Family("qwen2_vl", OfflineQwen2VLProcessor, "qwen2_5_vl",
                       ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")),
    "qwen2_5_vl": Family("qwen2_5_vl", OfflineQwen2_5_VLProcessor, "qwen2_5_vl",
                         ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")),
    "qwen3_vl": Family("qwen3_vl", OfflineQwen3VLProcessor, "qwen3_vl",
                       ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")),
    "smolvlm": Family("smolvlm", OfflineSmolVLMProcessor, "smolvlm",
                      ("<image>", "<fake_token_around_image>", "<global-img>", "<video>")),
}


def chat_template(name: str) -> str:
    """A chat template shipped by TRL (``trl/chat_templates/NAME.jinja``), read from disk (no Hub)."""
    import trl

    path = Path(trl.__file__).parent / "chat_templates" / f"{name}.jinja"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.jinja"))
        raise ConfigError(f"no chat template {name!r} in {path.parent}; known: {', '.join(known)}")
    return path.read_text(encoding="utf-8")


def qwen_image_processor(*, min_pixels: int = 56 * 56, max_pixels: int = 224 * 224, patch_size: int = 14,
                         merge_size: int = 2, mean_std: tuple[float, float] | None = None):
    """A PIL Qwen-VL image processor with capped resolution.

    Qwen resizes every image to a multiple of ``patch_size * merge_size`` with an
    area between ``min_pixels`` and ``max_pixels``; the default cap (12.8 M pixels)
    gives ~1000 image tokens for a photo, far too many on a CPU (docs/models.md, "Pitfalls").
    ``mean_std=(0.5, 0.5)`` gives Qwen3-VL's normalisation.
    """
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    kw: dict[str, Any] = {}
    if mean_std is not None:
        kw = {"image_mean": [mean_std[0]] * 3, "image_std": [mean_std[1]] * 3}
    return Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels, patch_size=patch_size,
                                    merge_size=merge_size, **kw)


def smolvlm_image_processor(*, image_size: int = 224):
    """A PIL SmolVLM image processor: no splitting, longest edge ``image_size``.

    The default (splitting on, 1456-px edge) turns a 224² image into 17 crops of 364²
    (docs/models.md, "Pitfalls"); with splitting off every image costs exactly
    ``(image_size // patch) ** 2 // scale_factor ** 2`` tokens.
    """
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

    return SmolVLMImageProcessorPil(do_image_splitting=False, size={"longest_edge": image_size},
                                    max_image_size={"longest_edge": image_size})


def load_processor(path: str | Path, model_type: str, **kwargs: Any) -> ProcessorMixin:
    """The processor saved with a checkpoint, as a full processor (never a bare tokenizer).

    Known families use the offline subclass; anything else goes through
    ``AutoProcessor``, and a result without an image processor is an error rather
    than a model that silently becomes text-only.
    """
    family = FAMILIES.get(model_type)
    if family is not None:
        return family.processor_cls.from_pretrained(str(path), **kwargs)
    try:
        proc = AutoProcessor.from_pretrained(str(path), **kwargs)
    except (ImportError, OSError, ValueError) as exc:
        raise ConfigError(f"cannot load a processor for {path} (model type {model_type!r}): {exc}") from exc
    if not isinstance(proc, ProcessorMixin) or getattr(proc, "image_processor", None) is None:
        raise ConfigError(f"{path}: AutoProcessor gave {type(proc).__name__}, not an image-text processor, for model "
                          f"type {model_type!r}; families with offline support: {', '.join(sorted(FAMILIES))}")
    return proc
