"""Tiny random-weight VLMs of real Hugging Face architectures, built offline.

Used by the tests and as the gym model's starting point (``safevlm gym pretrain``
trains one of these). Each is a real ``*ForConditionalGeneration`` with the family's
processor, special tokens and chat template (the family registry,
:mod:`safevlm.models.families`), so every code path (processors, SFT masking, LoRA,
GRPO, generation, serving) is the one a 7B checkpoint of the same family takes; saved,
it loads with plain transformers as the upstream classes. Recipe and measured costs:
docs/models.md, "Tiny models offline"; the pitfalls this code handles are cited inline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from safevlm.errors import ConfigError

Arch = Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl", "smolvlm", "llava", "llava_next", "mllama", "gemma3",
               "internvl", "pixtral"]

QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                 "<|image_pad|>", "<|video_pad|>"]
SMOLVLM_SPECIALS = (["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>",
                     "<global-img>"] + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)])
#: Llama-2/Vicuna (LLaVA-1.5) and Mistral (LLaVA-NeXT 1.6) vocabularies, plus llava-hf's <image> and <pad>
LLAVA_SPECIALS = ["<unk>", "<s>", "</s>", "<image>", "<pad>"]
MLLAMA_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                   "<|eom_id|>", "<|python_tag|>", "<|finetune_right_pad_id|>", "<|image|>"]
GEMMA3_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>",
                   "<end_of_image>", "<image_soft_token>"]
INTERNVL_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>"]
PIXTRAL_SPECIALS = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[IMG]", "[IMG_BREAK]", "[IMG_END]", "<pad>"]


@dataclass
class _Sizes:
    """The size arguments of :func:`build_tiny_vlm`, passed to every family's builder."""

    text_hidden: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    text_intermediate: int
    vision_hidden: int
    vision_layers: int
    vision_heads: int
    vision_intermediate: int
    patch_size: int | None
    image_size: int | None
    min_pixels: int | None
    max_pixels: int | None
    fullatt_block_indexes: list[int] | None
    max_position_embeddings: int

    def text(self, tok: Any, **extra: Any) -> dict[str, Any]:
        """The language model's config: sized from ``len(tokenizer)`` (pitfall 8)."""
        return dict(vocab_size=len(tok), hidden_size=self.text_hidden, intermediate_size=self.text_intermediate,
                    num_hidden_layers=self.text_layers, num_attention_heads=self.text_heads,
                    num_key_value_heads=self.text_kv_heads, max_position_embeddings=self.max_position_embeddings,
                    eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **extra)

    def vision(self, **extra: Any) -> dict[str, Any]:
        """A ViT config (CLIP, SigLIP, Pixtral, InternViT field names)."""
        return dict(hidden_size=self.vision_hidden, intermediate_size=self.vision_intermediate,
                    num_hidden_layers=self.vision_layers, num_attention_heads=self.vision_heads, **extra)


def _mrope_section(head_dim: int) -> list[int]:
    """Qwen's multimodal RoPE sections (t, h, w) must sum to ``head_dim / 2`` (pitfall 8)."""
    half = head_dim // 2
    return [half - 2 * (half // 3), half // 3, half // 3]


def _ids(tok: Any, *tokens: str) -> list[int]:
    return [tok.convert_tokens_to_ids(t) for t in tokens]


# -- Qwen-VL ---------------------------------------------------------------------------------------


def _qwen(arch: str, tok: Any, s: _Sizes, template: str):
    from safevlm.models.processors import qwen_image_processor

    image_pad, video_pad, start, end = _ids(tok, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>",
                                            "<|vision_end|>")
    tokens = {"image_token_id": image_pad, "video_token_id": video_pad, "vision_start_token_id": start,
              "vision_end_token_id": end}
    head_dim = s.text_hidden // s.text_heads
    rope = {"rope_type": "default", "rope_theta": 1e6, "mrope_section": _mrope_section(head_dim)}
    side = s.image_size or 224
    if arch == "qwen3_vl":
        from transformers import Qwen3VLConfig as Config
        from transformers import Qwen3VLForConditionalGeneration as Model

        patch = s.patch_size or 16
        grid = max(side // patch, 16)  # learned position table must cover the largest patch grid
        cfg = Config(text_config=s.text(tok, head_dim=head_dim, rope_parameters={
                         **rope, "rope_theta": 5e6, "mrope_interleaved": True}),
                     vision_config={"depth": s.vision_layers, "hidden_size": s.vision_hidden,
                                    "intermediate_size": s.vision_intermediate, "num_heads": s.vision_heads,
                                    "out_hidden_size": s.text_hidden, "patch_size": patch, "spatial_merge_size": 2,
                                    "temporal_patch_size": 2, "num_position_embeddings": grid * grid,
                                    "deepstack_visual_indexes": [0]}, **tokens)
        ip = qwen_image_processor(min_pixels=s.min_pixels or min(64 * 64, side * side),
                                  max_pixels=s.max_pixels or side * side, patch_size=patch, mean_std=(0.5, 0.5))
    else:
        patch = s.patch_size or 14
        if arch == "qwen2_5_vl":
            from transformers import Qwen2_5_VLConfig as Config
            from transformers import Qwen2_5_VLForConditionalGeneration as Model

            vision = {"depth": s.vision_layers, "hidden_size": s.vision_hidden,
                      "intermediate_size": s.vision_intermediate, "num_heads": s.vision_heads,
                      "out_hidden_size": s.text_hidden, "patch_size": patch, "spatial_merge_size": 2,
                      "temporal_patch_size": 2, "window_size": patch * 8,
                      "fullatt_block_indexes": s.fullatt_block_indexes or [s.vision_layers - 1]}
        else:
            from transformers import Qwen2VLConfig as Config
            from transformers import Qwen2VLForConditionalGeneration as Model

            vision = {"depth": s.vision_layers, "embed_dim": s.vision_hidden, "hidden_size": s.text_hidden,
                      "mlp_ratio": s.vision_intermediate // s.vision_hidden, "num_heads": s.vision_heads,
                      "patch_size": patch, "spatial_merge_size": 2, "temporal_patch_size": 2}
        cfg = Config(text_config=s.text(tok, bos_token_id=tok.pad_token_id, rope_parameters=rope),
                     vision_config=vision, **tokens)
        ip = qwen_image_processor(min_pixels=s.min_pixels or min(56 * 56, side * side),
                                  max_pixels=s.max_pixels or side * side, patch_size=patch)
    return Model(cfg), {"image_processor": ip, "tokenizer": tok, "chat_template": template}


# -- SmolVLM ---------------------------------------------------------------------------------------


def _smolvlm(tok: Any, s: _Sizes, template: str):
    from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration

    from safevlm.models.processors import smolvlm_image_processor

    patch, side, scale = s.patch_size or 14, s.image_size or 224, 2
    if (side // patch) % scale:
        raise ConfigError(f"SmolVLM image_size/patch_size ({side}/{patch}) must be a multiple of {scale}")
    cfg = SmolVLMConfig(text_config=s.text(tok, model_type="llama", bos_token_id=tok.bos_token_id),
                        vision_config=s.vision(image_size=side, patch_size=patch),
                        scale_factor=scale, image_token_id=tok.convert_tokens_to_ids("<image>"))
    return SmolVLMForConditionalGeneration(cfg), {
        "image_processor": smolvlm_image_processor(image_size=side), "tokenizer": tok,
        "image_seq_len": (side // patch) ** 2 // scale**2, "chat_template": template}


# -- LLaVA-1.5, LLaVA-NeXT and Pixtral (LLaVA with a Pixtral tower) -------------------------------


def _llava(arch: str, tok: Any, s: _Sizes, template: str):
    """A CLIP tower (its second-to-last layer, CLS dropped: ``default``) and a Llama/Mistral LM,
    as llava-1.5-7b-hf and llava-v1.6-mistral-7b-hf; LLaVA-NeXT adds any-resolution tiling."""
    from transformers import (
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    patch, side = s.patch_size or 14, s.image_size or 56
    common = {"text_config": s.text(tok, model_type="llama" if arch == "llava" else "mistral",
                                    bos_token_id=tok.bos_token_id),
              "vision_config": s.vision(model_type="clip_vision_model", image_size=side, patch_size=patch,
                                        projection_dim=s.vision_hidden),
              "image_token_index": tok.convert_tokens_to_ids("<image>"), "vision_feature_layer": -2,
              "vision_feature_select_strategy": "default", "image_seq_length": (side // patch) ** 2}
    size = {"size": {"shortest_edge": side}, "crop_size": {"height": side, "width": side}}
    if arch == "llava":
        model = LlavaForConditionalGeneration(LlavaConfig(**common))
        ip = CLIPImageProcessorPil(**size)
    else:
        pinpoints = [[side, 2 * side], [2 * side, side], [2 * side, 2 * side]]  # 1.6: 336 x {2x1, 1x2, 2x2, ...}
        model = LlavaNextForConditionalGeneration(LlavaNextConfig(**common, image_grid_pinpoints=pinpoints))
        ip = LlavaNextImageProcessorPil(**size, image_grid_pinpoints=pinpoints)
    return model, {"image_processor": ip, "tokenizer": tok, "patch_size": patch,
                   "vision_feature_select_strategy": "default", "num_additional_image_tokens": 1,
                   "chat_template": template}


def _pixtral(tok: Any, s: _Sizes, template: str):
    """Pixtral-12B: a LLaVA config with a Pixtral tower (native resolution, 2D RoPE, rows of
    [IMG] closed by [IMG_BREAK]/[IMG_END]) and a Mistral language model."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration
    from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil

    patch, side = s.patch_size or 16, s.image_size or 64
    cfg = LlavaConfig(text_config=s.text(tok, model_type="mistral", bos_token_id=tok.bos_token_id,
                                         head_dim=s.text_hidden // s.text_heads),
                      vision_config=s.vision(model_type="pixtral", image_size=side, patch_size=patch,
                                             head_dim=s.vision_hidden // s.vision_heads),
                      image_token_index=tok.convert_tokens_to_ids("[IMG]"), vision_feature_layer=-1,
                      vision_feature_select_strategy="full", projector_hidden_act="gelu",
                      multimodal_projector_bias=True)
    ip = PixtralImageProcessorPil(size={"longest_edge": side}, patch_size={"height": patch, "width": patch})
    return LlavaForConditionalGeneration(cfg), {"image_processor": ip, "tokenizer": tok, "patch_size": patch,
                                                    "spatial_merge_size": 1, "chat_template": template}


# -- Llama 3.2 Vision (Mllama) ---------------------------------------------------------------------


def _mllama(tok: Any, s: _Sizes, template: str):
    """Llama 3.2 Vision: the image enters through cross-attention layers (one here, the last)
    over a tiled ViT; the sequence holds a single <|image|> token per image."""
    import torch
    from transformers import MllamaConfig, MllamaForConditionalGeneration
    from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

    patch, side, tiles = s.patch_size or 14, s.image_size or 28, 2
    cfg = MllamaConfig(
        text_config=s.text(tok, bos_token_id=tok.bos_token_id, cross_attention_layers=[s.text_layers - 1],
                           rope_parameters={"rope_type": "default", "rope_theta": 5e5}),
        vision_config={"hidden_size": s.vision_hidden, "intermediate_size": s.vision_intermediate,
                       "num_hidden_layers": s.vision_layers, "num_global_layers": 1, "attention_heads": s.vision_heads,
                       "image_size": side, "patch_size": patch, "max_num_tiles": tiles,
                       "supported_aspect_ratios": [[1, 1], [1, 2], [2, 1]], "intermediate_layers_indices": [0],
                       "vision_output_dim": 2 * s.vision_hidden},
        image_token_index=tok.convert_tokens_to_ids("<|image|>"))
    ip = MllamaImageProcessorPil(size={"height": side, "width": side}, max_image_tiles=tiles)
    model = MllamaForConditionalGeneration(cfg)
    # transformers initialises the cross-attention gates at 0 (tanh 0 = 0: the image has no
    # effect, and the vision tower gets no gradient); a trained checkpoint has them open
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("cross_attn_attn_gate", "cross_attn_mlp_gate")):
                param.fill_(math.pi / 4)
    return model, {"image_processor": ip, "tokenizer": tok, "chat_template": template}


# -- Gemma 3 ---------------------------------------------------------------------------------------


def _gemma3(tok: Any, s: _Sizes, template: str):
    """Gemma 3: SigLIP at one fixed size, pooled to ``mm_tokens_per_image`` soft tokens between
    <start_of_image> and <end_of_image>; sliding-window and global attention layers."""
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    patch, side = s.patch_size or 14, s.image_size or 56
    tokens_per_image = ((side // patch) // 2) ** 2  # 2x2 average pooling of the patch grid
    head_dim = s.text_hidden // s.text_heads
    boi, eoi, soft = _ids(tok, "<start_of_image>", "<end_of_image>", "<image_soft_token>")
    cfg = Gemma3Config(
        text_config=s.text(tok, bos_token_id=tok.bos_token_id, head_dim=head_dim, query_pre_attn_scalar=head_dim,
                           sliding_window=64, layer_types=["sliding_attention", "full_attention"][-s.text_layers:]
                           if s.text_layers <= 2 else None),
        vision_config=s.vision(model_type="siglip_vision_model", image_size=side, patch_size=patch,
                               vision_use_head=False),
        mm_tokens_per_image=tokens_per_image, boi_token_index=boi, eoi_token_index=eoi, image_token_index=soft)
    ip = Gemma3ImageProcessorPil(size={"height": side, "width": side})
    model = Gemma3ForConditionalGeneration(cfg)
    # transformers initialises the projection into the language model at 0 (the image has no
    # effect, and the vision tower gets no gradient); a trained checkpoint's is not
    with torch.no_grad():
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(std=s.vision_hidden ** -0.5)
    return model, {"image_processor": ip, "tokenizer": tok, "image_seq_length": tokens_per_image,
                   "chat_template": template}


# -- InternVL --------------------------------------------------------------------------------------


def _internvl(tok: Any, s: _Sizes, template: str):
    """InternVL2.5: InternViT crops (a grid of fixed-size crops plus a thumbnail), pixel-shuffled
    to a quarter of the patches, and a Qwen2 language model."""
    from transformers import InternVLConfig, InternVLForConditionalGeneration
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    patch, side = s.patch_size or 14, s.image_size or 56
    seq = (side // patch) ** 2 // 4  # downsample_ratio 0.5 in each direction
    cfg = InternVLConfig(text_config=s.text(tok, model_type="qwen2", bos_token_id=tok.pad_token_id),
                         vision_config=s.vision(image_size=[side, side], patch_size=[patch, patch]),
                         image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"), image_seq_length=seq,
                         downsample_ratio=0.5)
    ip = GotOcr2ImageProcessorPil(size={"height": side, "width": side}, crop_to_patches=True, min_patches=1,
                                  max_patches=2, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    return InternVLForConditionalGeneration(cfg), {"image_processor": ip, "tokenizer": tok,
                                                   "image_seq_length": seq, "chat_template": template}


# -- the builder -----------------------------------------------------------------------------------

#: per family: special tokens (added first), named tokens, whether the tokenizer adds the BOS itself
#: (Llama, Mistral and Gemma tokenizers do), and extra tokens the processor reads by name
_LLAMA_STYLE = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "add_bos": True}
_TOKENIZERS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "qwen": (QWEN_SPECIALS, {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}),
    "smolvlm": (SMOLVLM_SPECIALS, {"eos_token": "<end_of_utterance>", "pad_token": "<|endoftext|>",
                                   "bos_token": "<|im_start|>"}),
    "llava": (LLAVA_SPECIALS, _LLAMA_STYLE),
    "mllama": (MLLAMA_SPECIALS, {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
                                 "pad_token": "<|finetune_right_pad_id|>", "add_bos": True}),
    "gemma3": (GEMMA3_SPECIALS, {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
                                 "add_bos": True, "extra_special_tokens": {
                                     "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                                     "image_token": "<image_soft_token>"}}),
    "internvl": (INTERNVL_SPECIALS, {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "extra_special_tokens": {
        "start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>"}}),
    "pixtral": (PIXTRAL_SPECIALS, _LLAMA_STYLE),
}
_TOKENIZER_OF = {"qwen2_vl": "qwen", "qwen2_5_vl": "qwen", "qwen3_vl": "qwen", "llava_next": "llava"}
#: end-of-turn tokens generation stops at, where the checkpoints list more than the tokenizer's eos
_STOP_TOKENS = {"mllama": ["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"], "gemma3": ["<eos>", "<end_of_turn>"]}


def build_tiny_vlm(arch: Arch = "qwen2_5_vl", corpus: Iterable[str] | None = None, *, vocab_size: int = 1024,
                   text_hidden: int = 64, text_layers: int = 2, text_heads: int = 4, text_kv_heads: int = 2,
                   text_intermediate: int | None = None, vision_hidden: int = 64, vision_layers: int = 2,
                   vision_heads: int = 4, vision_intermediate: int | None = None, patch_size: int | None = None,
                   image_size: int | None = None, min_pixels: int | None = None, max_pixels: int | None = None,
                   fullatt_block_indexes: list[int] | None = None, max_position_embeddings: int = 4096,
                   seed: int = 0) -> tuple[Any, Any]:
    """Build ``(model, processor)`` with random weights and a BPE tokenizer trained on ``corpus``.

    Args:
        arch: a family of the registry (:data:`safevlm.models.families.FAMILIES`).
        corpus: texts for the tokenizer (default: a few safety sentences, see
            :mod:`safevlm.models.tokenizer`); the gym passes its own data.
        text_* / vision_*: sizes; intermediate sizes default to 2x hidden.
        patch_size: vision patch (default: the family's, 14; 16 for Qwen3-VL and Pixtral).
        image_size: the image side the processor targets. Qwen families: the area cap
            (``max_pixels = image_size**2`` unless given), so a 112-px image gives
            (112/14/2)^2 = 16 tokens; the others: the vision tower's input side (SmolVLM
            224; LLaVA, LLaVA-NeXT, Gemma 3, InternVL 56; Mllama 28 per tile; Pixtral's
            longest side 64).
        min_pixels / max_pixels: Qwen image processor bounds (override ``image_size``).
        fullatt_block_indexes: Qwen2.5-VL vision blocks with full attention
            (default: the last one; must be < ``vision_layers``).
        seed: torch seed for the weights; same arguments + seed => identical model.
    """
    import torch

    from safevlm.models.families import FAMILIES, chat_template
    from safevlm.models.tokenizer import train_bpe_tokenizer

    if arch not in FAMILIES:
        raise ConfigError(f"unknown tiny VLM architecture {arch!r}; choose one of {', '.join(FAMILIES)}")
    if text_hidden % text_heads or text_heads % text_kv_heads:
        raise ConfigError(f"text_hidden ({text_hidden}) must divide by text_heads ({text_heads}), "
                          f"and text_heads by text_kv_heads ({text_kv_heads})")
    family = FAMILIES[arch]
    template = chat_template(family.template)
    sizes = _Sizes(text_hidden, text_layers, text_heads, text_kv_heads, text_intermediate or 2 * text_hidden,
                   vision_hidden, vision_layers, vision_heads, vision_intermediate or 2 * vision_hidden, patch_size,
                   image_size, min_pixels, max_pixels, fullatt_block_indexes, max_position_embeddings)
    specials, named = _TOKENIZERS[_TOKENIZER_OF.get(arch, arch)]
    tok = train_bpe_tokenizer(specials, corpus, vocab_size=vocab_size, **named)
    tok.padding_side = "left"  # batched generation and GRPO need left padding
    tok.chat_template = template

    torch.manual_seed(seed)
    if arch in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl"):
        model, parts = _qwen(arch, tok, sizes, template)
    elif arch in ("llava", "llava_next"):
        model, parts = _llava(arch, tok, sizes, template)
    else:
        model, parts = {"smolvlm": _smolvlm, "mllama": _mllama, "gemma3": _gemma3, "internvl": _internvl,
                        "pixtral": _pixtral}[arch](tok, sizes, template)
    processor = family.processor_cls(**parts)
    stop = _ids(tok, *_STOP_TOKENS[arch]) if arch in _STOP_TOKENS else tok.eos_token_id
    model.generation_config.eos_token_id = stop
    model.generation_config.pad_token_id = tok.pad_token_id
    if tok.bos_token_id is not None:
        model.generation_config.bos_token_id = tok.bos_token_id
    model.eval()
    return model, processor


# -- guard-model architectures (judges): Llama 4, ShieldGemma 2, a Mistral text LM ---------------------

LLAMA4_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|header_start|>", "<|header_end|>", "<|eot|>", "<|eom|>",
                   "<|image_start|>", "<|image_end|>", "<|image|>", "<|patch|>", "<|tile_x_separator|>",
                   "<|tile_y_separator|>", "<|finetune_right_pad|>"]
GuardArch = Literal["llama4", "shieldgemma2", "mistral"]


def build_tiny_guard(arch: GuardArch, corpus: Iterable[str] | None = None, *, vocab_size: int = 1024,
                     text_hidden: int = 64, text_layers: int = 2, seed: int = 0) -> tuple[Any, Any]:
    """``(model, processor or tokenizer)`` of a guard model's architecture, random weights, built offline.

    The guard judges (:mod:`safevlm.judges.guards`) run on these in the tests; the other guard
    architectures are VLM families of :func:`build_tiny_vlm` (Llama Guard 3 Vision: ``mllama``;
    GuardReasoner-VL and ProGuard: ``qwen2_5_vl``). Each carries its family's generic chat template;
    a guard checkpoint ships its own, which the tests replace with a test template.

    - ``llama4`` (Llama Guard 4): a dense Llama 4 (one expert, no MoE layers) with a one-layer vision
      tower, 28-px tiles and pixel shuffle; :class:`~safevlm.models.processors.OfflineLlama4ImageProcessor`;
    - ``shieldgemma2`` (ShieldGemma 2): ``ShieldGemma2ForImageClassification`` over a tiny Gemma 3, its
      yes/no tokens ``Yes`` and ``No``; the processor holds transformers' default policies;
    - ``mistral`` (WildGuard): a ``MistralForCausalLM`` and a Llama-style tokenizer (adds ``<s>``).
    """
    import torch
    from transformers import Llama4Config, Llama4ForConditionalGeneration, Llama4Processor

    from safevlm.models.processors import OfflineLlama4ImageProcessor
    from safevlm.models.tokenizer import train_bpe_tokenizer

    torch.manual_seed(seed)
    if arch == "shieldgemma2":
        from transformers import ShieldGemma2Config, ShieldGemma2ForImageClassification
        from transformers.models.shieldgemma2.processing_shieldgemma2 import ShieldGemma2Processor

        base, parts = build_tiny_vlm("gemma3", corpus, vocab_size=vocab_size, text_hidden=text_hidden,
                                     text_layers=text_layers, seed=seed)
        tok, c = parts.tokenizer, base.config
        yes, no = (tok.encode(w, add_special_tokens=False)[0] for w in ("Yes", "No"))
        cfg = ShieldGemma2Config(text_config=c.text_config.to_dict(), vision_config=c.vision_config.to_dict(),
                                 mm_tokens_per_image=c.mm_tokens_per_image, boi_token_index=c.boi_token_index,
                                 eoi_token_index=c.eoi_token_index, image_token_index=c.image_token_index,
                                 yes_token_index=yes, no_token_index=no)
        model = ShieldGemma2ForImageClassification(cfg)
        model.model.load_state_dict(base.state_dict())
        processor = ShieldGemma2Processor(image_processor=parts.image_processor, tokenizer=tok,
                                          chat_template=parts.chat_template, image_seq_length=parts.image_seq_length)
        return model.eval(), processor
    if arch == "mistral":
        from transformers import MistralConfig, MistralForCausalLM

        tok = train_bpe_tokenizer(LLAVA_SPECIALS, corpus, vocab_size=vocab_size, **_LLAMA_STYLE)
        cfg = MistralConfig(vocab_size=len(tok), hidden_size=text_hidden, intermediate_size=2 * text_hidden,
                            num_hidden_layers=text_layers, num_attention_heads=4, num_key_value_heads=2,
                            max_position_embeddings=4096, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                            pad_token_id=tok.pad_token_id)
        return MistralForCausalLM(cfg).eval(), tok
    if arch != "llama4":
        raise ConfigError(f"unknown tiny guard architecture {arch!r}; choose llama4, shieldgemma2 or mistral")
    tok = train_bpe_tokenizer(LLAMA4_SPECIALS, corpus, vocab_size=vocab_size, bos_token="<|begin_of_text|>",
                              eos_token="<|eot|>", pad_token="<|finetune_right_pad|>", add_bos=True)
    heads = 4
    text = dict(vocab_size=len(tok), hidden_size=text_hidden, intermediate_size=2 * text_hidden,
                intermediate_size_mlp=2 * text_hidden, num_hidden_layers=text_layers, num_attention_heads=heads,
                num_key_value_heads=2, head_dim=text_hidden // heads, max_position_embeddings=4096,
                num_local_experts=1, interleave_moe_layer_step=0, moe_layers=[], no_rope_layers=[1] * text_layers,
                attention_chunk_size=4096, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id)
    # pixel shuffle (ratio 0.5) turns a 32-wide patch into 128: the adapter's input, Llama 4's intermediate size
    vision = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=128, image_size=28,
                  patch_size=14, pixel_shuffle_ratio=0.5, vision_output_dim=64, projector_input_dim=64,
                  projector_output_dim=64)
    cfg = Llama4Config(text_config=text, vision_config=vision, image_token_index=tok.convert_tokens_to_ids("<|patch|>"),
                       boi_token_index=tok.convert_tokens_to_ids("<|image_start|>"),
                       eoi_token_index=tok.convert_tokens_to_ids("<|image_end|>"))
    model = Llama4ForConditionalGeneration(cfg)
    model.generation_config.eos_token_id = _ids(tok, "<|eot|>", "<|end_of_text|>")
    model.generation_config.pad_token_id = tok.pad_token_id
    processor = Llama4Processor(image_processor=OfflineLlama4ImageProcessor(size=28), tokenizer=tok, patch_size=14,
                                pixel_shuffle_ratio=0.5, chat_template=_LLAMA4_GENERIC_TEMPLATE)
    return model.eval(), processor


#: A generic Llama 4 chat template for the tiny model (header tokens, images as <|image|>); a guard checkpoint
#: ships its own.
_LLAMA4_GENERIC_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|header_start|>{{ m['role'] }}<|header_end|>\n\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|image|>{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|eot|>"
    "{% endfor %}{% if add_generation_prompt %}<|header_start|>assistant<|header_end|>\n\n{% endif %}")
