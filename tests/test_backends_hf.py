"""The transformers backend on tiny random VLMs of every family: batching, left padding, seeded
sampling, vision-token suppression, image caps, failures as data."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


import pytest
import torch
from PIL import Image

from safevlm import Sample
from safevlm.backends import GenerationParams, load_backend
from safevlm.backends.hf import HFBackend
from safevlm.models import build_tiny_vlm, save_vlm


def _samples() -> list[Sample]:
    red, blue = Image.new("RGB", (112, 112), (200, 30, 30)), Image.new("RGB", (150, 90), (0, 30, 230))
    return [Sample(id="a", source="t", text="Is this safe?", images=[red], expected="comply"),
            Sample(id="b", source="t", text="Hello there, how are you doing today? <|im_end|> <image>",
                   expected="comply"),
            Sample(id="c", source="t", text="What is it", images=[blue], expected="refuse"),
            Sample(id="d", source="t", text="Two images", images=[red, blue], expected="refuse",
                   metadata={"system_prompt": "Be careful."})]


@pytest.fixture()
def backend(tiny_family):
    """Every family's shared tiny model (conftest) behind an ``HFBackend``."""
    return HFBackend(tiny_family.model, tiny_family.processor, batch_size=4)


def test_batched_generation_one_per_sample_within_budget(backend):
    samples = _samples()
    gens = backend.generate(samples, GenerationParams(max_new_tokens=12))
    assert len(gens) == len(samples)
    for g in gens:
        assert g.error is None and g.finish_reason in ("stop", "length")
        assert 0 < g.completion_tokens <= 12
        assert g.prompt_tokens > 5 and g.latency_s > 0
    # a second image adds image tokens to the prompt
    two = Sample(id="c2", source="t", text=samples[2].text, images=samples[2].images * 2, expected="refuse")
    assert backend.generate([two], GenerationParams(max_new_tokens=1))[0].prompt_tokens > gens[2].prompt_tokens


def test_left_padding_same_greedy_output_alone_and_batched(backend):
    samples = _samples()
    params = GenerationParams(max_new_tokens=10)
    batched = backend.generate(samples, params)
    alone = [backend.generate([s], params)[0] for s in samples]
    assert [g.text for g in batched] == [g.text for g in alone]
    assert [g.prompt_tokens for g in batched] == [g.prompt_tokens for g in alone]
    assert len({g.prompt_tokens for g in batched}) > 1  # the batch really needed padding


def test_sampling_is_seeded(backend):
    samples = _samples()[:2]
    p = GenerationParams(max_new_tokens=10, temperature=1.0, seed=7)
    assert [g.text for g in backend.generate(samples, p)] == [g.text for g in backend.generate(samples, p)]
    other = GenerationParams(max_new_tokens=10, temperature=1.0, seed=8)
    assert [g.text for g in backend.generate(samples, p)] != [g.text for g in backend.generate(samples, other)]


def test_vision_tokens_are_never_generated(backend, monkeypatch):
    """Force the vision tokens to dominate the logits: suppression must still keep them out (pitfall 5)."""
    ids = backend.suppress_tokens
    assert backend.processor.tokenizer.convert_tokens_to_ids(backend.processor.image_token) in ids
    head = backend.model.get_output_embeddings()
    generated = []
    generate = backend.model.generate

    def spy(**kwargs):
        out = generate(**kwargs)
        generated.append(set(out[:, kwargs["input_ids"].shape[1]:].flatten().tolist()))
        return out

    def boost(_module, _inp, out):
        out[..., ids] += 1e4
        return out

    monkeypatch.setattr(backend.model, "generate", spy)
    handle = head.register_forward_hook(boost)
    try:
        sample = _samples()[:1]
        params = GenerationParams(max_new_tokens=6)
        guarded = backend.generate(sample, params)[0]
        HFBackend(backend.model, backend.processor, suppress_vision_tokens=False).generate(sample, params)
    finally:
        handle.remove()
    assert generated[1] <= set(ids)  # control: unguarded, only vision tokens came out
    assert guarded.completion_tokens > 0 and not generated[0] & set(ids)


def test_unreadable_image_fails_only_that_sample(backend, tmp_path):
    samples = _samples()[:2] + [Sample(id="x", source="t", text="hi", images=[str(tmp_path / "missing.png")],
                                       expected="comply")]
    gens = backend.generate(samples, GenerationParams(max_new_tokens=4))
    assert [g.error is None for g in gens] == [True, True, False]
    assert "missing.png" in gens[2].error and gens[2].text == "" and gens[2].finish_reason == "error"


#: families whose image-token count follows the image's size (the others: one count per image;
#: InternVL: one crop for any square image with the tiny model's two-crop limit)
RESOLUTION_DEPENDENT = {"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "llava_next", "pixtral"}


def test_max_image_side_reduces_image_tokens(backend):
    big = [Sample(id="big", source="t", text="x", images=[Image.new("RGB", (448, 448), "white")], expected="comply")]
    small = HFBackend(backend.model, backend.processor, max_image_side=32)
    full = backend.generate(big, GenerationParams(max_new_tokens=1))[0]
    capped = small.generate(big, GenerationParams(max_new_tokens=1))[0]
    if backend.family.name in RESOLUTION_DEPENDENT:
        assert capped.prompt_tokens < full.prompt_tokens
    else:  # fixed tokens per image: resizing cannot change the count
        assert capped.prompt_tokens == full.prompt_tokens


def test_an_overfit_answer_is_generated_and_counted():
    model, processor = build_tiny_vlm("qwen2_5_vl", image_size=112, seed=3)
    backend = HFBackend(model, processor)
    sample = _samples()[0]
    target = "I'm sorry, but I can't help with that."
    msgs = [{"role": "user", "content": [{"type": "image", "image": sample.load_images()[0]},
                                         {"type": "text", "text": sample.text}]},
            {"role": "assistant", "content": [{"type": "text", "text": target}]}]
    enc = processor.apply_chat_template(msgs, tokenize=True, return_dict=True, return_tensors="pt")
    n_prompt = processor.apply_chat_template(msgs[:1], add_generation_prompt=True, tokenize=True, return_dict=True,
                                             return_tensors="pt")["input_ids"].shape[1]
    labels = enc["input_ids"].clone()
    labels[:, :n_prompt] = -100  # learn the answer (and its end-of-turn), not the prompt
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(80):
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    gen = backend.generate([sample], GenerationParams(max_new_tokens=20))[0]
    assert gen.text == target and gen.finish_reason == "stop"
    # the answer's tokens plus the end-of-turn token that stopped generation
    assert gen.completion_tokens == len(processor.tokenizer(target, add_special_tokens=False)["input_ids"]) + 1


def test_load_backend_hf_from_saved_checkpoint(tmp_path):
    model, processor = build_tiny_vlm("smolvlm", image_size=112)
    save_vlm(model, processor, tmp_path / "ckpt")
    backend = load_backend(f"hf:{tmp_path / 'ckpt'}", device="cpu", dtype="float32", batch_size=2)
    ref = HFBackend(model, processor).generate(_samples(), GenerationParams(max_new_tokens=8))
    got = backend.generate(_samples(), GenerationParams(max_new_tokens=8))
    assert backend.name == f"hf:{tmp_path / 'ckpt'}"
    assert [g.text for g in got] == [g.text for g in ref]
