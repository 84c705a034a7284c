"""``train sft|grpo --resume`` restores exactly what was saved: a run killed with SIGKILL mid-way and
resumed ends with the same weights as one that was never interrupted (SFT and GRPO, full and LoRA,
on the gym model); a checkpoint that does not fit the model stops the run (safevlm.train.resume).

The killed run is a forked copy of the test process (torch and transformers already imported: a fresh
interpreter spent most of each test importing them), killed by SIGKILL at the end of a step; it trains
while the test process trains the uninterrupted run, each on one thread.

Tolerance: the weights must agree within 1e-6 (absolute) per tensor. On a CPU the resumed run
is in fact bit-identical (weights, optimiser moments, LR schedule, RNG and data position are all
restored); the tolerance leaves room for kernels that are not bitwise reproducible elsewhere.
"""

from __future__ import annotations

import multiprocessing
import shutil
import signal
from dataclasses import replace
from pathlib import Path

import pytest
import resume_child
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from safevlm.data.jsonl import write_samples
from safevlm.data.sample import Sample
from safevlm.errors import ConfigError

TOLERANCE = 1e-6
KILL_AT = resume_child.SAVE + 1  # after checkpoint-2, before checkpoint-4


def _grpo_prompts(folder: Path) -> Path:
    """Prompts the gym model answers in varied ways at temperature 2 (its own gym questions it answers
    the same way every time, which leaves GRPO no advantage to learn from)."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = [Sample(id=f"p{i}", source="t", text=f"zebra quantum umbrella {i}", expected="comply",
                      images=[Image.new("RGB", (56, 56), ["red", "blue", "green", "white"][i % 4])])
               for i in range(8)]
    write_samples(samples, folder / "prompts.jsonl")
    return folder / "prompts.jsonl"


def _weights(folder: Path, mode: str) -> dict[str, torch.Tensor]:
    return load_file(folder / ("adapter_model.safetensors" if mode == "lora" else "model.safetensors"))


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.slow
@pytest.mark.parametrize("trainer, mode", [("sft", "full"), ("sft", "lora"), ("grpo", "full"), ("grpo", "lora")])
def test_a_run_killed_mid_way_and_resumed_ends_like_an_uninterrupted_one(trainer, mode, tmp_path, chat_set):
    data = chat_set(tmp_path / "data") if trainer == "sft" else _grpo_prompts(tmp_path / "data")
    killed = tmp_path / "killed"
    child = multiprocessing.get_context("fork").Process(target=resume_child.killed_run,
                                                        args=(trainer, mode, data, killed, KILL_AT))
    child.start()
    try:  # meanwhile, the same run without interruption
        resume_child.train(trainer, mode, data, tmp_path / "straight")
        child.join(timeout=300)
    finally:
        if child.is_alive():
            child.kill()
            child.join()
    assert child.exitcode == -signal.SIGKILL  # killed, not ended (a traceback above says why if not)
    assert sorted(p.name for p in killed.glob("checkpoint-*")) == ["checkpoint-2"]
    assert not (killed / "safevlm_training.json").exists()  # it really died before the end

    callbacks, steps = resume_child.step_log()
    record = resume_child.train(trainer, mode, data, killed, resume=True, callbacks=callbacks)
    assert record["global_steps"] == resume_child.STEPS
    # only the steps after checkpoint-2 ran: a run that restarted from scratch would end with the same
    # weights (training is deterministic) but would have trained steps 1-2 again
    assert steps == [3, 4]

    straight, resumed = _weights(tmp_path / "straight", mode), _weights(killed, mode)
    assert _max_diff(straight, resumed) <= TOLERANCE
    # the steps after the checkpoint moved the weights: a resume that lost the checkpoint's weights (or
    # its optimiser state, schedule or data position) would end elsewhere
    assert _max_diff(_weights(killed / "checkpoint-2", mode), resumed) > 1e-4


def test_a_checkpoint_that_does_not_fit_the_model_stops_the_run(tmp_path, chat_set):
    from safevlm.train.sft import run_sft

    data = chat_set(tmp_path / "data", 4)
    out = tmp_path / "out"
    run_sft("gym", data, out, replace(resume_child.settings("sft", "full"), max_steps=2))
    ckpt = out / "checkpoint-2"
    good = load_file(ckpt / "model.safetensors")
    # a checkpoint whose key names are not the model's (what transformers only warned about)
    save_file({("renamed." + k if k.endswith("norm.weight") else k): v for k, v in good.items()},
              ckpt / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ConfigError, match=r"do not match the model \(missing keys: .*norm\.weight.*unexpected "
                                          r"keys: .*renamed\."):
        resume_child.train("sft", "full", data, out, resume=True)
    save_file(good, ckpt / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ConfigError, match="holds no LoRA adapter .* this run trains LoRA"):
        resume_child.train("sft", "lora", data, out, resume=True)
    (ckpt / "optimizer.pt").unlink()
    with pytest.raises(ConfigError, match=r"not a complete training checkpoint \(no optimizer\.pt\)"):
        resume_child.train("sft", "full", data, out, resume=True)
    shutil.rmtree(out)
    with pytest.raises(ConfigError, match="no checkpoint"):
        resume_child.train("sft", "full", data, out, resume=True)


def test_grpo_checkpoints_fall_between_rollouts():
    from safevlm.train.grpo_settings import resolve_grpo_settings

    assert resolve_grpo_settings("gpu").save_steps % 8 == 0  # 128 micro-batches per rollout / 16 per step
    with pytest.raises(ConfigError, match=r"save_steps \(3\) x gradient_accumulation_steps \(2\) must be a multiple "
                                          r"of steps_per_generation \(4\)"):
        resolve_grpo_settings("cpu", overrides={"gradient_accumulation_steps": 2, "steps_per_generation": 4,
                                                "save_steps": 3})
