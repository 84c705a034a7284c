"""Gym-model pretraining: exact pixel/prompt encoding, learning, and bit-for-bit rebuilds."""

from __future__ import annotations

import pytest
import torch

from safevlm.backends.base import sample_messages
from safevlm.gym.generate import generate_items
from safevlm.models.loading import load_vlm
from safevlm.train.gym_pretrain import EncodedData, PretrainConfig, answer_loss, lr_at, pretrain

TINY = dict(text_hidden=32, text_layers=1, text_heads=2, text_kv_heads=1, text_intermediate=64,
            vision_hidden=32, vision_layers=1, vision_heads=2, vision_intermediate=64, fullatt_block_indexes=[0])


def _cfg(**kw) -> PretrainConfig:
    base = dict(train_size=64, steps=16, batch_size=8, warmup_steps=2, lr=5e-3, vocab_size=400, model=TINY,
                log_every=4, eval_every=0, threads=1)
    return PretrainConfig(**(base | kw))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gympre") / "a"
    record = pretrain(_cfg(), out)
    return out, record


def test_encoding_matches_the_processor_exactly(run):
    out, _ = run
    _, processor = load_vlm(out, device="cpu")
    items = generate_items("train", 6)
    data = EncodedData(items, processor, 112)
    for i in (0, 5):
        sample = items[i].to_sample()
        ref = processor.apply_chat_template([sample_messages(sample)], add_generation_prompt=True, tokenize=True,
                                            return_dict=True, return_tensors="pt", sanitize_control_tokens=True)
        assert data.sequences[i][: data.prompt_lens[i]] == ref["input_ids"][0].tolist()
        batch = data.batch([i])
        assert torch.equal(batch["pixel_values"], ref["pixel_values"])  # patchify == Qwen2VLImageProcessorPil
        assert torch.equal(batch["image_grid_thw"], ref["image_grid_thw"])
        # supervised tokens are exactly the reference answer and <|im_end|>
        supervised = batch["labels"][0][batch["labels"][0] != -100].tolist()
        assert processor.tokenizer.decode(supervised) == items[i].reference + "<|im_end|>"


def test_loss_falls_and_weights_change(run, tmp_path):
    out, record = run
    assert record["history"][-1]["loss"] < record["history"][0]["loss"] - 0.5
    fresh = pretrain(_cfg(steps=1, lr=1e-12), tmp_path / "fresh")  # ~untrained, same init
    assert fresh["params"] == record["params"]
    trained, _ = load_vlm(out, device="cpu")
    init, _ = load_vlm(tmp_path / "fresh", device="cpu")
    changed = [n for (n, p), (_, q) in zip(trained.named_parameters(), init.named_parameters())
               if (p - q).abs().max() > 1e-4]
    assert len(changed) > 0.9 * len(list(trained.parameters()))
    assert any("visual" in n for n in changed)  # the vision tower learns too


def test_the_answer_only_head_gives_the_models_own_loss(run):
    """The training loss runs the LM head on answer positions only; it must equal the model's full loss."""
    out, _ = run
    model, processor = load_vlm(out, device="cpu")
    data = EncodedData(generate_items("train", 16), processor, 112)
    batch = data.batch(list(range(16)))
    with torch.no_grad():
        assert answer_loss(model, batch).item() == pytest.approx(model(**batch).loss.item(), rel=1e-5)


def test_same_seed_rebuilds_bit_for_bit(run, tmp_path):
    out, _ = run
    pretrain(_cfg(), tmp_path / "b")
    a = (out / "model.safetensors").read_bytes()
    b = (tmp_path / "b" / "model.safetensors").read_bytes()
    assert a == b
    pretrain(_cfg(seed=1), tmp_path / "c")
    assert (tmp_path / "c" / "model.safetensors").read_bytes() != a


def test_schedule_warms_up_then_decays_to_floor():
    cfg = PretrainConfig(steps=1000, warmup_steps=100, lr=2e-3, min_lr_ratio=0.05)
    assert lr_at(0, cfg) == pytest.approx(2e-5)
    assert lr_at(99, cfg) == pytest.approx(2e-3)
    assert lr_at(999, cfg) == pytest.approx(2e-3 * 0.05, rel=1e-2)
    assert lr_at(550, cfg) < lr_at(200, cfg)
