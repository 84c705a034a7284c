"""The GPU check (benchmarks/gpu_check.py) on the CPU at tiny size: every section measures and writes its JSON,
a failing section fails the run, and the real-size config is Qwen2.5-VL-3B's (built on the meta device)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import gpu_check  # noqa: E402


@pytest.mark.slow
def test_tiny_run_measures_every_section(tmp_path):
    out = tmp_path / "gpu.json"
    assert gpu_check.main(["--tiny", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["device"] == "cpu" and r["build"]["parameters"] > 0
    assert r["generate"]["new_tokens"] == 4 * 8 and r["generate"]["tokens_per_s"] > 0
    lora, full = r["sft_lora"], r["sft_full"]
    assert 0 < lora["trainable"] < full["trainable"] == r["build"]["parameters"]  # the adapters came off again
    assert full["loss_first_last"][1] < full["loss_first_last"][0] and full["s_per_step"] > 0
    assert r["grpo"]["s_per_step"] > 0 and r["grpo"]["completion_tokens_per_s"] > 0 and r["grpo"]["vllm"] is False


def test_a_failing_section_is_recorded_and_fails_the_run(tmp_path, monkeypatch):
    def broken(*_a, **_k):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(gpu_check, "generate", broken)
    out = tmp_path / "gpu.json"
    assert gpu_check.main(["--tiny", "--out", str(out), "--skip", "sft_full,grpo"]) == 1
    r = json.loads(out.read_text())
    assert r["generate"]["error"] == "RuntimeError: CUDA out of memory"
    assert r["sft_lora"]["s_per_step"] > 0 and r["grpo"] == {"skipped": True}


def test_the_real_size_config_is_qwen2_5_vl_3b():
    from model_memory import count
    from transformers import Qwen2_5_VLForConditionalGeneration

    cfg, processor = gpu_check._real_config()
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration._from_config(cfg)
    params = sum(p.numel() for p in model.parameters())
    assert params == pytest.approx(count(gpu_check.CHECKPOINT, 64)["params_b"] * 1e9, rel=0.01)
    assert cfg.text_config.num_hidden_layers == 36 and cfg.vision_config.depth == 32
    assert cfg.image_token_id == processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
