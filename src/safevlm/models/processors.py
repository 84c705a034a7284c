"""Processors that work without torchvision (the family registry that picks them is
:mod:`safevlm.models.families`).

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
  processors (pitfall 7), so :func:`safevlm.models.families.load_processor` picks the
  class from the model's family instead of trusting ``AutoProcessor``.
- LLaVA, LLaVA-NeXT, Mllama, Gemma 3 and Pixtral processors take no video processor,
  so the upstream classes are used as they are. ``PixtralProcessor``'s module, though,
  imports the torchvision image processor for one helper (the token count vLLM asks
  for), which the PIL image processor module also defines; :func:`_pixtral_processor`
  imports the upstream class with that helper taken from the PIL module.

Saved processors record the upstream class name (``Qwen2_5_VLProcessor``...), so a
checkpoint written here loads with plain transformers/vLLM where torchvision exists.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType, SimpleNamespace
from typing import Any

from transformers import (
    InternVLProcessor,
    Qwen2_5_VLProcessor,
    Qwen2VLProcessor,
    Qwen3VLProcessor,
    SmolVLMProcessor,
)
from transformers.image_processing_utils import BaseImageProcessor


def _pixtral_processor() -> type:
    """The upstream ``PixtralProcessor``, importable without torchvision.

    ``processing_pixtral`` imports ``get_resize_output_image_size`` from
    ``image_processing_pixtral`` (a torchvision module); while it is imported, that name
    resolves to a stand-in holding the PIL module's function of the same name and
    behaviour. The stand-in is removed afterwards, so nothing else ever sees it.
    """
    name = "transformers.models.pixtral.image_processing_pixtral"
    try:
        importlib.import_module(name)
    except ImportError:
        from transformers.models.pixtral import image_processing_pil_pixtral as pil

        stand_in = ModuleType(name)
        stand_in.get_resize_output_image_size = pil.get_resize_output_image_size  # type: ignore[attr-defined]
        sys.modules[name] = stand_in
        try:
            module = importlib.import_module("transformers.models.pixtral.processing_pixtral")
        finally:
            del sys.modules[name]
        return module.PixtralProcessor
    return importlib.import_module("transformers.models.pixtral.processing_pixtral").PixtralProcessor


PixtralProcessor = _pixtral_processor()


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


class OfflineInternVLProcessor(_UpstreamName, InternVLProcessor):
    """InternVL processor without the (torchvision-only) video processor."""

    upstream = InternVLProcessor

    def __init__(self, image_processor=None, tokenizer=None, image_seq_length: int = 256, chat_template=None,
                 **kwargs):
        super().__init__(image_processor, tokenizer, None, image_seq_length=image_seq_length,
                         chat_template=chat_template, **kwargs)


class OfflineSmolVLMProcessor(_UpstreamName, SmolVLMProcessor):
    """SmolVLM processor without a video processor, plus the ``num_frames``/``fps`` stub
    that ``SmolVLMProcessor.apply_chat_template`` reads even for image-only chats."""

    upstream = SmolVLMProcessor

    def __init__(self, image_processor=None, tokenizer=None, image_seq_len: int = 169, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, image_seq_len=image_seq_len,
                         chat_template=chat_template, **kwargs)
        self.video_processor = SimpleNamespace(num_frames=64, fps=1)


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


class OfflineLlama4ImageProcessor(BaseImageProcessor):
    """Llama 4's image preprocessing without torchvision, for one tile per image (tiny test models).

    Upstream's ``Llama4ImageProcessor`` imports torchvision. This one resizes each image to one
    ``size`` x ``size`` tile (Llama 4's layout when ``max_patches`` is 1: no extra tiles, no global
    tile), rescales and normalises with mean = std = 0.5, and returns what ``Llama4Processor`` reads:
    ``pixel_values`` (tiles of all images, concatenated) and ``aspect_ratios`` (1, 1) per image. Real
    Llama Guard 4 checkpoints load upstream's processor (with torchvision) through ``AutoProcessor``.
    """

    model_input_names = ["pixel_values"]

    def __init__(self, size: int = 28, **kwargs: Any):
        super().__init__(**kwargs)
        self.size = {"height": size, "width": size}

    def __call__(self, images: Any, **kwargs: Any) -> Any:
        return self.preprocess(images, **kwargs)

    def preprocess(self, images: Any, return_tensors: Any = None, **_kwargs: Any) -> Any:
        import numpy as np
        import torch
        from PIL import Image
        from transformers.image_processing_utils import BatchFeature

        images = images if isinstance(images, (list, tuple)) else [images]
        side = self.size["height"]
        tiles = [(np.asarray(im.convert("RGB").resize((side, side), Image.BILINEAR), dtype=np.float32) / 255.0 - 0.5)
                 / 0.5 for im in images]
        pixel_values = torch.tensor(np.stack([t.transpose(2, 0, 1) for t in tiles]))
        return BatchFeature({"pixel_values": pixel_values, "aspect_ratios": torch.tensor([[1, 1]] * len(images))})
