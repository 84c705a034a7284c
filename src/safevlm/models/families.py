"""The family registry: what safevlm knows about each VLM family, in one place.

A family is an architecture together with its prompt format. Every place that depends on
the family reads it from here: which processor class to load (offline, without
torchvision), the chat template and its training variant with ``{% generation %}``
markers, the vision tokens generation must suppress, where the language model sits (LoRA
adapters go there and nowhere else), how a pixel budget caps the images, and whether the
template accepts a system turn next to an image. The table of families, the papers'
checkpoints and the tests behind each claim is docs/models.md; "Adding a family" there says
what a new entry needs.

This module imports nothing heavy (processor classes are named, and imported on use), so
settings, the CLI and the docs can read the registry cheaply.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safevlm.errors import ConfigError

#: the language model's attention and MLP projections: SafeCoT's LoRA targets (docs/methods.md)
LORA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
QWEN_VISION_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")


@dataclass(frozen=True)
class Family:
    """What safevlm needs to know about one VLM family.

    Attributes:
        name: the registry key: ``config.model_type``, except ``pixtral`` (a ``llava``
            config whose vision tower is Pixtral, see :func:`family_name`).
        processor: ``module:Class`` of the processor to load (an offline subclass from
            :mod:`safevlm.models.processors` where upstream needs a video processor).
        template: the chat template of the real checkpoints, a file in
            ``safevlm/models/templates/`` or ``trl/chat_templates/`` (:func:`chat_template`).
        training_template: the same format with ``{% generation %}`` markers around what the
            model writes (the answer and its end-of-turn token), for ``assistant_only_loss``.
        vision_tokens: image/video placeholder tokens a weak model must never generate.
        language_model: module path of the language model inside the
            ``*ForConditionalGeneration`` model; LoRA targets are matched under it only.
        image_cap: how a pixel budget (``max_pixels``) limits the image tokens:
            ``pixels`` (Qwen: the resize area), ``side`` (the longest side), ``tiles``
            (Mllama: 560-px tiles), ``patches`` (InternVL: 448-px crops), ``pinpoints``
            (LLaVA-NeXT: the any-resolution grids) or ``fixed`` (one size for every image).
        system_with_images: False where the real template rejects a system turn in a
            conversation with an image (Llama 3.2 Vision); generation then folds the system
            text into the user turn.
        batch_text_with_images: False where a text-only chat answers differently when
            batched with image chats (Mllama: transformers lets text rows without an image
            attend to the batch's padded images, gating only the MLP branch); generation
            then batches the two apart, so a sample's output never depends on its batch.
        lora_targets: projection names of the language model that LoRA adapts by default.
        grpo_unsupported: why TRL's ``GRPOTrainer`` cannot train this family (None: it can).
    """

    name: str
    processor: str
    template: str
    training_template: str
    vision_tokens: tuple[str, ...]
    language_model: str = "model.language_model"
    image_cap: str = "fixed"
    system_with_images: bool = True
    batch_text_with_images: bool = True
    lora_targets: tuple[str, ...] = LORA_TARGETS
    grpo_unsupported: str | None = None

    @property
    def processor_cls(self) -> type:
        module, _, cls = self.processor.partition(":")
        return getattr(importlib.import_module(module), cls)


_OFFLINE = "safevlm.models.processors"
_FAMILIES = [
    Family("qwen2_vl", f"{_OFFLINE}:OfflineQwen2VLProcessor", "qwen2_5_vl", "qwen2_5_vl_training",
           QWEN_VISION_TOKENS, image_cap="pixels"),
    Family("qwen2_5_vl", f"{_OFFLINE}:OfflineQwen2_5_VLProcessor", "qwen2_5_vl", "qwen2_5_vl_training",
           QWEN_VISION_TOKENS, image_cap="pixels"),
    Family("qwen3_vl", f"{_OFFLINE}:OfflineQwen3VLProcessor", "qwen3_vl", "qwen3_vl_training",
           QWEN_VISION_TOKENS, image_cap="pixels"),
    Family("smolvlm", f"{_OFFLINE}:OfflineSmolVLMProcessor", "smolvlm", "smolvlm_training",
           ("<image>", "<fake_token_around_image>", "<global-img>", "<video>"), language_model="model.text_model",
           image_cap="side"),
    Family("llava", "transformers:LlavaProcessor", "llava", "llava_training", ("<image>",)),
    Family("llava_next", "transformers:LlavaNextProcessor", "llava_next", "llava_next_bos_training", ("<image>",),
           image_cap="pinpoints"),
    Family("mllama", "transformers:MllamaProcessor", "mllama", "mllama_training", ("<|image|>",),
           image_cap="tiles", system_with_images=False, batch_text_with_images=False,
           grpo_unsupported="TRL 1.16's GRPOTrainer does not pass Mllama's aspect_ratio_ids, aspect_ratio_mask "
                            "and cross_attention_mask to the policy's forward pass, so the loss cannot be computed"),
    Family("gemma3", "transformers:Gemma3Processor", "gemma3", "gemma3_training",
           ("<start_of_image>", "<end_of_image>", "<image_soft_token>")),
    Family("internvl", f"{_OFFLINE}:OfflineInternVLProcessor", "internvl", "internvl_training",
           ("<img>", "</img>", "<IMG_CONTEXT>", "<video>"), image_cap="patches"),
    Family("pixtral", f"{_OFFLINE}:PixtralProcessor", "pixtral", "pixtral_training",
           ("[IMG]", "[IMG_BREAK]", "[IMG_END]"), image_cap="side"),
]
FAMILIES: dict[str, Family] = {f.name: f for f in _FAMILIES}


class UnsupportedFamilyError(ConfigError):
    """A checkpoint of a family safevlm has no registry entry for."""


def family_name(config: Any) -> str:
    """The registry key for a model config: its ``model_type``, or ``pixtral`` for a LLaVA
    config with a Pixtral vision tower (Pixtral-12B is a ``llava`` checkpoint)."""
    vision = getattr(config, "vision_config", None)
    if config.model_type == "llava" and getattr(vision, "model_type", None) == "pixtral":
        return "pixtral"
    return config.model_type


def get_family(config_or_name: Any, *, source: str | Path | None = None) -> Family:
    """The family of a model config (or a registry key); an unknown one is an error that
    names the supported families and how to add one."""
    name = config_or_name if isinstance(config_or_name, str) else family_name(config_or_name)
    family = FAMILIES.get(name)
    if family is None:
        where = f"{source}: " if source else ""
        raise UnsupportedFamilyError(
            f"{where}model type {name!r} is not a supported VLM family; supported: {', '.join(FAMILIES)}. "
            "To add one, register its processor, chat template with generation markers, vision tokens, "
            "language-model path and image cap in safevlm.models.families and a tiny builder in "
            "safevlm.models.tiny (docs/models.md, \"Adding a family\")")
    return family


def chat_template(name: str) -> str:
    """A chat template by name: safevlm's own (``safevlm/models/templates/``), else TRL's
    (``trl/chat_templates/``), read from disk (no Hub)."""
    import trl

    trl_dir = Path(trl.__file__).parent / "chat_templates"
    for folder in (TEMPLATES_DIR, trl_dir):
        path = folder / f"{name}.jinja"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    known = sorted({p.stem for folder in (TEMPLATES_DIR, trl_dir) for p in folder.glob("*.jinja")})
    raise ConfigError(f"no chat template {name!r} in {TEMPLATES_DIR} or {trl_dir}; known: {', '.join(known)}")


def load_processor(path: str | Path, config_or_name: Any, **kwargs: Any):
    """The processor saved with a checkpoint, as the family's full processor class.

    Never ``AutoProcessor``: without torchvision it can silently return a bare tokenizer,
    and a model trained with one becomes text-only (docs/models.md, "Pitfalls").
    """
    family = get_family(config_or_name, source=path)
    try:
        return family.processor_cls.from_pretrained(str(path), **kwargs)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: cannot load the {family.name} processor "
                          f"({family.processor.partition(':')[2]}): {exc}") from exc


def cap_images(family: Family, image_processor: Any, max_pixels: int) -> None:
    """Lower ``image_processor``'s resolution so one image costs at most about ``max_pixels``
    pixels of vision input (never raises it). Each family has its own knob (``image_cap``)."""
    ip, kind = image_processor, family.image_cap
    size = dict(ip.size)  # a SizeDict: a copy, then assigned back
    if kind == "pixels":  # Qwen: size["longest_edge"] is the resize area in pixels
        ip.size = {**size, "longest_edge": min(size.get("longest_edge") or max_pixels, max_pixels)}
    elif kind == "side":  # the longest side; SmolVLM keeps a whole number of crops
        side = math.isqrt(max_pixels)
        crop = (getattr(ip, "max_image_size", None) or {}).get("longest_edge")
        if crop:
            side = max(crop, side // crop * crop)
        ip.size = {**size, "longest_edge": min(size.get("longest_edge") or side, side)}
    elif kind == "tiles":  # Mllama: up to max_image_tiles tiles of size x size
        tile = size["height"] * size["width"]
        ip.max_image_tiles = max(1, min(ip.max_image_tiles, max_pixels // tile))
    elif kind == "patches":  # InternVL: up to max_patches crops (plus a thumbnail)
        crop = size["height"] * size["width"]
        ip.max_patches = max(1, min(ip.max_patches, max_pixels // crop))
    elif kind == "pinpoints":  # LLaVA-NeXT: the any-resolution grids an image may be tiled into
        grids = sorted(ip.image_grid_pinpoints, key=lambda hw: hw[0] * hw[1])
        ip.image_grid_pinpoints = [hw for hw in grids if hw[0] * hw[1] <= max_pixels] or grids[:1]


def lora_target_modules(family: Family, names: Sequence[str] | None = None, scope: str = "language"):
    """PEFT ``target_modules``: the named projections inside the language model only.

    Vision towers and projectors reuse the same names (Qwen2.5-VL's vision MLP has
    ``gate_proj``, SigLIP/CLIP/Mllama vision attention has ``q_proj``...), so bare names
    would put adapters there too; SafeCoT adapts the language model (docs/methods.md).
    ``scope="all"`` gives the bare names (every module with that name).
    """
    names = list(names or family.lora_targets)
    if scope == "all":
        return names
    alternatives = "|".join(re.escape(n) for n in names)
    return rf"^{re.escape(family.language_model)}\..*\.(?:{alternatives})$"


def vision_token_ids(family: Family, tokenizer: Any, processor: Any = None, config: Any = None) -> list[int]:
    """Ids of the family's vision tokens, plus any image/video token the processor or the
    config names (a checkpoint may add its own): generation suppresses all of them."""
    tokens = set(family.vision_tokens)
    for attr in ("image_token", "video_token", "boi_token", "eoi_token", "start_image_token", "end_image_token",
                 "image_break_token", "image_end_token", "fake_image_token", "global_image_token"):
        tok = getattr(processor, attr, None)
        if isinstance(tok, str):
            tokens.add(tok)
    vocab = tokenizer.get_vocab()
    ids = {vocab[t] for t in tokens if t in vocab}
    for attr in ("image_token_id", "video_token_id", "image_token_index", "vision_start_token_id",
                 "vision_end_token_id", "boi_token_id", "eoi_token_id"):
        val = getattr(config, attr, None)
        if isinstance(val, int) and 0 <= val < len(tokenizer):
            ids.add(val)
    return sorted(ids)


def model_vision_token_ids(model: Any, processor: Any) -> list[int]:
    """:func:`vision_token_ids` for a loaded model and its processor (GRPO rollouts suppress them)."""
    return vision_token_ids(get_family(model.config), processor.tokenizer, processor, model.config)
