"""Tiny random-weight VLMs of real Hugging Face architectures, built offline.

Used by the tests and as the gym model's starting point (``safevlm gym pretrain``
trains one of these). Because each is a real ``*ForConditionalGeneration`` with the
real chat template, every code path (processors, SFT, GRPO, generation, serving)
is the one a 7B checkpoint of the same family takes. Recipe and measured costs:
docs/models.md, "Tiny models offline"; the pitfalls this code handles are cited inline.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from safevlm.errors import ConfigError

Arch = Literal["qwen2_5_vl", "smolvlm", "qwen3_vl"]

QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                 "<|image_pad|>", "<|video_pad|>"]
SMOLVLM_SPECIALS = (["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>",
                     "<global-img>"] + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)])


def _mrope_section(head_dim: int) -> list[int]:
    """Qwen's multimodal RoPE sections (t, h, w) must sum to ``head_dim / 2`` (pitfall 8)."""
    half = head_dim // 2
    return [half - 2 * (half // 3), half // 3, half // 3]


def build_tiny_vlm(arch: Arch = "qwen2_5_vl", corpus: Iterable[str] | None = None, *, vocab_size: int = 1024,
                   text_hidden: int = 64, text_layers: int = 2, text_heads: int = 4, text_kv_heads: int = 2,
                   text_intermediate: int | None = None, vision_hidden: int = 64, vision_layers: int = 2,
                   vision_heads: int = 4, vision_intermediate: int | None = None, patch_size: int | None = None,
                   image_size: int | None = None, min_pixels: int | None = None, max_pixels: int | None = None,
                   fullatt_block_indexes: list[int] | None = None, max_position_embeddings: int = 4096,
                   seed: int = 0) -> tuple[Any, Any]:
    """Build ``(model, processor)`` with random weights and a BPE tokenizer trained on ``corpus``.

    Args:
        arch: ``qwen2_5_vl`` | ``smolvlm`` | ``qwen3_vl``.
        corpus: texts for the tokenizer (default: a few safety sentences, see
            :mod:`safevlm.models.tokenizer`); the gym passes its own data.
        text_* / vision_*: sizes; intermediate sizes default to 2x hidden.
        patch_size: vision patch (default 14; 16 for Qwen3-VL).
        image_size: the image side the processor targets. Qwen families: the area cap
            (``max_pixels = image_size**2`` unless given), so a 112-px image gives
            (112/14/2)^2 = 16 tokens; SmolVLM: the fixed input side (default 224).
        min_pixels / max_pixels: Qwen image processor bounds (override ``image_size``).
        fullatt_block_indexes: Qwen2.5-VL vision blocks with full attention
            (default: the last one; must be < ``vision_layers``).
        seed: torch seed for the weights; same arguments + seed => identical model.
    """
    import torch

    from safevlm.models.processors import (
        FAMILIES,
        chat_template,
        qwen_image_processor,
        smolvlm_image_processor,
    )
    from safevlm.models.tokenizer import train_bpe_tokenizer

    if arch not in ("qwen2_5_vl", "smolvlm", "qwen3_vl"):
        raise ConfigError(f"unknown tiny VLM architecture {arch!r}; choose qwen2_5_vl, smolvlm or qwen3_vl")
    if text_hidden % text_heads or text_heads % text_kv_heads:
        raise ConfigError(f"text_hidden ({text_hidden}) must divide by text_heads ({text_heads}), "
                          f"and text_heads by text_kv_heads ({text_kv_heads})")
    family = FAMILIES[arch]
    template = chat_template(family.template)
    text_intermediate = text_intermediate or 2 * text_hidden
    vision_intermediate = vision_intermediate or 2 * vision_hidden
    head_dim = text_hidden // text_heads

    if arch == "smolvlm":
        tok = train_bpe_tokenizer(SMOLVLM_SPECIALS, corpus, vocab_size=vocab_size, eos_token="<end_of_utterance>",
                                  pad_token="<|endoftext|>", bos_token="<|im_start|>")
    else:
        tok = train_bpe_tokenizer(QWEN_SPECIALS, corpus, vocab_size=vocab_size, eos_token="<|im_end|>",
                                  pad_token="<|endoftext|>")
    tok.padding_side = "left"  # batched generation and GRPO need left padding
    tok.chat_template = template
    ids = {t: tok.convert_tokens_to_ids(t) for t in tok.all_special_tokens + list(family.vision_tokens)
           if t in tok.get_vocab()}
    eos, pad = tok.eos_token_id, tok.pad_token_id
    text = dict(vocab_size=len(tok), hidden_size=text_hidden, intermediate_size=text_intermediate,
                num_hidden_layers=text_layers, num_attention_heads=text_heads, num_key_value_heads=text_kv_heads,
                max_position_embeddings=max_position_embeddings, eos_token_id=eos, pad_token_id=pad)

    torch.manual_seed(seed)
    if arch == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

        patch = patch_size or 14
        side = image_size or 224
        cfg = Qwen2_5_VLConfig(
            text_config=dict(text, bos_token_id=pad, rope_parameters={
                "rope_type": "default", "rope_theta": 1e6, "mrope_section": _mrope_section(head_dim)}),
            vision_config=dict(depth=vision_layers, hidden_size=vision_hidden, intermediate_size=vision_intermediate,
                               num_heads=vision_heads, out_hidden_size=text_hidden, patch_size=patch,
                               spatial_merge_size=2, temporal_patch_size=2, window_size=patch * 8,
                               fullatt_block_indexes=fullatt_block_indexes or [vision_layers - 1]),
            image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
            vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
        model = Qwen2_5_VLForConditionalGeneration(cfg)
        image_processor = qwen_image_processor(min_pixels=min_pixels or min(56 * 56, side * side),
                                               max_pixels=max_pixels or side * side, patch_size=patch)
        processor = family.processor_cls(image_processor, tok, chat_template=template)
    elif arch == "qwen3_vl":
        from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

        patch = patch_size or 16
        side = image_size or 224
        grid = max(side // patch, 16)  # learned position table must cover the largest patch grid
        cfg = Qwen3VLConfig(
            text_config=dict(text, head_dim=head_dim, rope_parameters={
                "rope_type": "default", "rope_theta": 5e6, "mrope_section": _mrope_section(head_dim),
                "mrope_interleaved": True}),
            vision_config=dict(depth=vision_layers, hidden_size=vision_hidden, intermediate_size=vision_intermediate,
                               num_heads=vision_heads, out_hidden_size=text_hidden, patch_size=patch,
                               spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=grid * grid,
                               deepstack_visual_indexes=[0]),
            image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
            vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
        model = Qwen3VLForConditionalGeneration(cfg)
        image_processor = qwen_image_processor(min_pixels=min_pixels or min(64 * 64, side * side),
                                               max_pixels=max_pixels or side * side, patch_size=patch,
                                               mean_std=(0.5, 0.5))
        processor = family.processor_cls(image_processor, tok, chat_template=template)
    else:
        from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration

        patch = patch_size or 14
        side = image_size or 224
        scale = 2
        if (side // patch) % scale:
            raise ConfigError(f"SmolVLM image_size/patch_size ({side}/{patch}) must be a multiple of {scale}")
        cfg = SmolVLMConfig(
            text_config=dict(text, model_type="llama", bos_token_id=tok.bos_token_id),
            vision_config=dict(hidden_size=vision_hidden, intermediate_size=vision_intermediate,
                               num_hidden_layers=vision_layers, num_attention_heads=vision_heads, image_size=side,
                               patch_size=patch),
            scale_factor=scale, image_token_id=ids["<image>"])
        model = SmolVLMForConditionalGeneration(cfg)
        image_seq_len = (side // patch) ** 2 // scale**2
        processor = family.processor_cls(smolvlm_image_processor(image_size=side), tok, image_seq_len=image_seq_len,
                                         chat_template=template)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    if arch == "smolvlm":
        model.generation_config.bos_token_id = tok.bos_token_id
    model.eval()
    return model, processor
