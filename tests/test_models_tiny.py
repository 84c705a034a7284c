"""Tiny offline VLMs of every family: build, image tokens, save/load round trip (safevlm and plain
transformers), the gym model's path."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from PIL import Image

from safevlm.errors import ConfigError
from safevlm.models import build_tiny_vlm, load_vlm
from safevlm.models import loading as loading_mod
from safevlm.models.families import FAMILIES, chat_template

#: the placeholder each family repeats per image, and how many a 112x112 image gives with the
#: shared tiny models (conftest.TINY_IMAGE_SIZE), by hand:
IMAGE_TOKENS = {
    "qwen2_vl": ("<|image_pad|>", 16),  # 112/14 = 8 patches per side, merged 2x2
    "qwen2_5_vl": ("<|image_pad|>", 16),
    "qwen3_vl": ("<|image_pad|>", 9),  # patch 16: 112 px is rounded to 96 (a multiple of 32) -> 6x6 -> 3x3
    "smolvlm": ("<image>", 16),  # (112/14)^2 / 2^2
    "llava": ("<image>", 16),  # one 56-px crop, 14-px patches: 4x4 (CLS dropped)
    "llava_next": ("<image>", 88),  # base 4x4 + the 112x112 grid: 2x2 tiles of 4x4 = 8x8 + 8 row ends
    "mllama": ("<|image|>", 1),  # one token: the image enters through cross-attention
    "gemma3": ("<image_soft_token>", 4),  # 56/14 = 4x4 patches, pooled 2x2
    "internvl": ("<IMG_CONTEXT>", 4),  # one 56-px crop (square: no thumbnail), 4x4 pixel-shuffled by 2
    "pixtral": ("[IMG]", 16),  # longest side 64, 16-px patches: 4x4 (+3 [IMG_BREAK], 1 [IMG_END])
}


@pytest.fixture()
def tiny(tiny_family):
    return tiny_family.family, tiny_family.model, tiny_family.processor


def _inputs(processor, image_size=(112, 112)):
    msgs = [{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", image_size, (200, 30, 30))},
                                         {"type": "text", "text": "Is this safe?"}]}]
    return processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True,
                                         return_tensors="pt")


def test_build_gives_the_family_processor_and_consistent_config(tiny):
    arch, model, processor = tiny
    assert type(processor) is FAMILIES[arch].processor_cls
    assert model.config.model_type == ("llava" if arch == "pixtral" else arch)
    tok = processor.tokenizer
    assert tok.padding_side == "left"
    assert model.get_input_embeddings().num_embeddings >= len(tok)  # Mllama keeps 8 spare rows, as upstream
    assert model.get_output_embeddings().out_features == len(tok)
    eos = model.generation_config.eos_token_id
    assert tok.eos_token_id in (eos if isinstance(eos, list) else [eos])
    assert not model.training


def test_image_token_count_follows_the_family(tiny):
    arch, model, processor = tiny
    token, expected = IMAGE_TOKENS[arch]
    inputs = _inputs(processor)
    ids = inputs["input_ids"][0].tolist()
    assert ids.count(processor.tokenizer.convert_tokens_to_ids(token)) == expected
    with torch.no_grad():  # the model accepts exactly that many image features
        assert torch.isfinite(model(**inputs).logits).all()


def test_the_image_reaches_the_language_model(tiny):
    """Another image, other logits: a tiny model must not ignore its images (transformers starts
    Mllama's cross-attention gates and Gemma 3's projection at 0; the builder opens them)."""
    _, model, processor = tiny
    with torch.no_grad():
        red = model(**_inputs(processor)).logits[0, -1]
        msgs = [{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (112, 112), (0, 30, 230))},
                                             {"type": "text", "text": "Is this safe?"}]}]
        blue = model(**processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True,
                                                     return_dict=True, return_tensors="pt")).logits[0, -1]
    assert (red - blue).abs().max() > 1e-3


def test_large_images_are_capped():
    _, processor = build_tiny_vlm("qwen2_5_vl", image_size=112)
    ids = _inputs(processor, (1024, 768))["input_ids"][0].tolist()
    assert ids.count(processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")) <= 16


def test_gym_sizes_are_configurable():
    model, processor = build_tiny_vlm("qwen2_5_vl", text_hidden=128, text_layers=2, text_heads=4, text_kv_heads=2,
                                      text_intermediate=512, vision_hidden=64, vision_layers=2, image_size=112,
                                      fullatt_block_indexes=[1])
    tc, vc = model.config.text_config, model.config.vision_config
    assert (tc.hidden_size, tc.num_hidden_layers, tc.num_attention_heads, tc.num_key_value_heads,
            tc.intermediate_size) == (128, 2, 4, 2, 512)
    assert (vc.hidden_size, vc.depth, vc.patch_size, vc.spatial_merge_size) == (64, 2, 14, 2)
    assert list(vc.fullatt_block_indexes) == [1]
    with torch.no_grad():
        out = model(**_inputs(processor))
    assert out.logits.shape[-1] == len(processor.tokenizer)


def test_same_seed_same_weights_other_seed_different():
    a, _ = build_tiny_vlm("smolvlm", seed=1)
    b, _ = build_tiny_vlm("smolvlm", seed=1)
    c, _ = build_tiny_vlm("smolvlm", seed=2)
    wa, wb, wc = (m.get_input_embeddings().weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_corpus_shapes_the_vocabulary():
    _, proc = build_tiny_vlm("qwen2_5_vl", corpus=["zebra crossing quokka " * 5])
    assert len(proc.tokenizer.tokenize(" quokka")) == 1
    _, proc = build_tiny_vlm("qwen2_5_vl")
    assert len(proc.tokenizer.tokenize(" quokka")) > 1


#: families whose upstream processor needs no torchvision: plain AutoProcessor loads them here too
PLAIN_PROCESSOR = ("llava", "llava_next", "mllama", "gemma3")


def test_save_load_round_trip_identical_logits(tiny_family):
    arch, model, processor, path = tiny_family.family, tiny_family.model, tiny_family.processor, tiny_family.path
    config = json.loads((path / "processor_config.json").read_text())
    upstream = getattr(FAMILIES[arch].processor_cls, "upstream", FAMILIES[arch].processor_cls)
    assert config["processor_class"] == upstream.__name__  # loadable by plain transformers (with torchvision)
    model2, processor2 = load_vlm(path, device="cpu")
    assert type(processor2) is FAMILIES[arch].processor_cls
    assert processor2.tokenizer.padding_side == "left"
    inputs = _inputs(processor)
    inputs2 = _inputs(processor2)
    assert torch.equal(inputs["input_ids"], inputs2["input_ids"])
    assert torch.allclose(inputs["pixel_values"], inputs2["pixel_values"])
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, model2(**inputs2).logits)


def test_plain_transformers_loads_the_upstream_classes(tiny_family):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(tiny_family.path)
    assert type(model) is type(tiny_family.model)
    if tiny_family.family in PLAIN_PROCESSOR:
        processor = AutoProcessor.from_pretrained(tiny_family.path)
        assert type(processor) is type(tiny_family.processor)
        assert torch.equal(_inputs(processor)["input_ids"], _inputs(tiny_family.processor)["input_ids"])


def test_load_vlm_clear_errors(tmp_path):
    with pytest.raises(loading_mod.ModelNotFoundError, match="no config.json"):
        load_vlm(tmp_path)
    with pytest.raises(ConfigError, match="unknown dtype"):
        loading_mod.resolve_dtype("float13")
    with pytest.raises(ConfigError, match="no chat template"):
        chat_template("nope")
    with pytest.raises(ConfigError, match="unknown tiny VLM.*qwen2_vl.*pixtral"):
        build_tiny_vlm("idefics3")


def test_gym_model_path_missing_says_how_to_build(monkeypatch, tmp_path):
    monkeypatch.setattr(loading_mod, "GYM_MODEL_DIR", tmp_path / "gym_model")
    with pytest.raises(loading_mod.ModelNotFoundError, match="safevlm gym pretrain"):
        loading_mod.gym_model_path()


@pytest.mark.skipif(not (loading_mod.GYM_MODEL_DIR / "config.json").is_file(), reason="gym model not built yet")
def test_bundled_gym_model_loads():
    model, processor = load_vlm(loading_mod.gym_model_path(), device="cpu")
    with torch.no_grad():
        assert torch.isfinite(model(**_inputs(processor)).logits).all()
