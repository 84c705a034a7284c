"""Parameter counts and GPU-memory estimates for the papers' checkpoints (docs/models.md).

Each model is built on PyTorch's ``meta`` device (no memory, no download) from the
architecture values of its published ``config.json``, so the parameter count P is
computed, not quoted; the published size is printed beside it as a check. A is the
number of LoRA parameters safevlm's ``gpu`` preset adds (r=64 on every attention and MLP
projection of the language model, the family's ``lora_target_modules``).

Estimates (weights and optimizer state only; activations, the CUDA workspace and
fragmentation come on top):

- inference, bf16 weights:                                2 P bytes
- LoRA, bf16 frozen base + fp32 adapters with AdamW:       2 P + 16 A bytes
- full fine-tuning, bf16 weights and gradients, AdamW with
  fp32 moments and an fp32 master copy (DeepSpeed/Accelerate mixed precision):   16 P bytes

    python benchmarks/model_memory.py [--rank 64]
"""

from __future__ import annotations

import argparse
import json
import re

import torch

GIB = 1024**3

#: checkpoint -> (family, published size in billions, config class, architecture values from its config.json)
CHECKPOINTS = {
    "Qwen/Qwen2.5-VL-3B-Instruct": ("qwen2_5_vl", 3.75, "Qwen2_5_VLConfig", {
        "text_config": {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 11008,
                        "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 2,
                        "tie_word_embeddings": True},
        "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                          "out_hidden_size": 2048},
        "tie_word_embeddings": True}),
    "Qwen/Qwen2-VL-7B-Instruct": ("qwen2_vl", 8.29, "Qwen2VLConfig", {
        "text_config": {"vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944,
                        "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4},
        "vision_config": {"depth": 32, "embed_dim": 1280, "hidden_size": 3584, "mlp_ratio": 4, "num_heads": 16}}),
    "Qwen/Qwen2.5-VL-7B-Instruct": ("qwen2_5_vl", 8.29, "Qwen2_5_VLConfig", {
        "text_config": {"vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944,
                        "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4},
        "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                          "out_hidden_size": 3584}}),
    "llava-hf/llava-1.5-7b-hf": ("llava", 7.06, "LlavaConfig", {
        "text_config": {"model_type": "llama", "vocab_size": 32064, "hidden_size": 4096, "intermediate_size": 11008,
                        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32},
        "vision_config": {"model_type": "clip_vision_model", "hidden_size": 1024, "intermediate_size": 4096,
                          "num_hidden_layers": 24, "num_attention_heads": 16, "image_size": 336, "patch_size": 14,
                          "projection_dim": 768}}),
    "llava-hf/llava-v1.6-mistral-7b-hf": ("llava_next", 7.57, "LlavaNextConfig", {
        "text_config": {"model_type": "mistral", "vocab_size": 32064, "hidden_size": 4096,
                        "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
                        "num_key_value_heads": 8},
        "vision_config": {"model_type": "clip_vision_model", "hidden_size": 1024, "intermediate_size": 4096,
                          "num_hidden_layers": 24, "num_attention_heads": 16, "image_size": 336, "patch_size": 14,
                          "projection_dim": 768}}),
    "google/gemma-3-4b-it": ("gemma3", 4.30, "Gemma3Config", {
        "text_config": {"vocab_size": 262208, "hidden_size": 2560, "intermediate_size": 10240,
                        "num_hidden_layers": 34, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256},
        "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152, "intermediate_size": 4304,
                          "num_hidden_layers": 27, "num_attention_heads": 16, "image_size": 896, "patch_size": 14,
                          "vision_use_head": False}}),
    "meta-llama/Llama-3.2-11B-Vision-Instruct": ("mllama", 10.67, "MllamaConfig", {
        "text_config": {"vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
                        "num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 8,
                        "cross_attention_layers": [3, 8, 13, 18, 23, 28, 33, 38]},
        "vision_config": {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
                          "num_global_layers": 8, "attention_heads": 16, "image_size": 560, "patch_size": 14,
                          "max_num_tiles": 4, "vision_output_dim": 7680,
                          "intermediate_layers_indices": [3, 7, 15, 23, 30]}}),
    "mistral-community/pixtral-12b": ("pixtral", 12.7, "LlavaConfig", {
        "text_config": {"model_type": "mistral", "vocab_size": 131072, "hidden_size": 5120,
                        "intermediate_size": 14336, "num_hidden_layers": 40, "num_attention_heads": 32,
                        "num_key_value_heads": 8, "head_dim": 128},
        "vision_config": {"model_type": "pixtral", "hidden_size": 1024, "intermediate_size": 4096,
                          "num_hidden_layers": 24, "num_attention_heads": 16, "image_size": 1024, "patch_size": 16,
                          "head_dim": 64},
        "vision_feature_layer": -1, "projector_hidden_act": "gelu"}),
}


def count(name: str, rank: int) -> dict:
    import transformers
    from transformers import AutoModelForImageTextToText

    from safevlm.models.families import FAMILIES, lora_target_modules

    family, published, config_cls, values = CHECKPOINTS[name]
    config = getattr(transformers, config_cls)(**values)
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    params = sum(p.numel() for p in model.parameters())
    target = re.compile(lora_target_modules(FAMILIES[family]))
    adapters = sum(rank * (m.in_features + m.out_features) for n, m in model.named_modules()
                   if isinstance(m, torch.nn.Linear) and target.fullmatch(n))
    return {"checkpoint": name, "family": family, "params_b": round(params / 1e9, 2), "published_b": published,
            "lora_params_m": round(adapters / 1e6, 1),
            "inference_bf16_gib": round(2 * params / GIB, 1),
            "lora_bf16_gib": round((2 * params + 16 * adapters) / GIB, 1),
            "full_ft_gib": round(16 * params / GIB, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rank", type=int, default=64, help="LoRA rank (the gpu preset's: 64)")
    args = ap.parse_args()
    for name in CHECKPOINTS:
        print(json.dumps(count(name, args.rank)))


if __name__ == "__main__":
    main()
