"""SFT with TRL on the gym model: masking matches its pretraining targets, training changes weights
and lowers the loss, settings and data errors (resume: tests/test_train_resume.py) (docs/methods.md, "SafeCoT: training (SFT recipe)").
Per family (masking, LoRA, full fine-tuning, merge, image caps): tests/test_families.py."""

from __future__ import annotations

import json
import re

import pytest
import torch
from PIL import Image

from safevlm.errors import ConfigError, DataError
from safevlm.train.sft import build_trainer, run_sft
from safevlm.train.sft_data import check_chat_data, load_chat_dataset
from safevlm.train.sft_settings import PRESETS, resolve_sft_settings


def answer(row) -> str:
    return row["messages"][-1]["content"][0]["text"]


def _cpu(**over):
    return resolve_sft_settings("cpu", overrides={"per_device_train_batch_size": 2, "save_steps": 1000, **over})


def _supervised_ids(trainer, rows):
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["input_ids"].shape == batch["labels"].shape
    return [batch["input_ids"][i][batch["labels"][i] != -100].tolist() for i in range(len(rows))], batch


def test_gym_model_masking_matches_its_pretraining_targets(tmp_path, sft_rows):
    from datasets import Dataset

    from safevlm.train.base import load_for_training

    model, processor = load_for_training("gym", _cpu())
    rows = sft_rows(2)
    trainer = build_trainer(model, processor, Dataset.from_list(rows), _cpu(), tmp_path)
    supervised, _ = _supervised_ids(trainer, rows)
    tok = processor.tokenizer
    for i, ids in enumerate(supervised):
        assert ids == tok(answer(rows[i]) + "<|im_end|>\n", add_special_tokens=False)["input_ids"]


def test_full_fine_tune_changes_weights_and_lowers_loss(tmp_path, chat_set):
    from safevlm.models.loading import gym_model_path, load_vlm

    data = chat_set(tmp_path / "data")
    before, _ = load_vlm(gym_model_path(), dtype="float32")
    rec = run_sft("gym", data, tmp_path / "out", _cpu(per_device_train_batch_size=8, max_steps=8, logging_steps=1,
                                                        warmup_ratio=0.0))
    after, _ = load_vlm(tmp_path / "out", dtype="float32")
    changed = [n for (n, a), (_, b) in zip(before.named_parameters(), after.named_parameters()) if not torch.equal(a, b)]
    assert len(changed) > 0.8 * len(list(before.parameters()))
    losses = [h["loss"] for h in rec["loss_history"]]
    assert rec["global_steps"] == 8 and losses[-1] < 0.5 * losses[0]
    saved = json.loads((tmp_path / "out" / "safevlm_training.json").read_text())
    assert saved["settings"]["learning_rate"] == PRESETS["cpu"]["learning_rate"] and saved["mode"] == "full"


def test_settings_layers_and_errors(tmp_path):
    s = resolve_sft_settings("cpu", overrides=["learning_rate=5e-4", "lora_target_modules=[q_proj,v_proj]"])
    assert s.learning_rate == 5e-4 and s.lora_target_modules == ["q_proj", "v_proj"] and s.mode == "full"
    gpu = resolve_sft_settings("gpu")
    assert (gpu.mode, gpu.learning_rate, gpu.lora_r, gpu.lora_alpha, gpu.bf16, gpu.gradient_checkpointing,
            gpu.max_length) == ("lora", 2e-5, 64, 16, True, True, 1024)
    assert gpu.per_device_train_batch_size * gpu.gradient_accumulation_steps == 8
    cfg = tmp_path / "c.yaml"
    cfg.write_text("preset: gpu\nnum_train_epochs: 2\n")
    s = resolve_sft_settings("cpu", cfg, ["num_train_epochs=1"], mode="full")
    assert (s.preset, s.num_train_epochs, s.mode) == ("gpu", 1.0, "full")
    with pytest.raises(ConfigError, match="unknown training setting.*learning_rat.*did you mean .learning_rate."):
        resolve_sft_settings("cpu", overrides=["learning_rat=1"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        resolve_sft_settings("cpu", overrides=["learning_rate"])
    with pytest.raises(ConfigError, match="max_steps"):
        resolve_sft_settings("cpu", overrides=["max_steps=many"])


def test_chat_data_errors_name_file_and_line(tmp_path, chat_set):
    data = chat_set(tmp_path / "d", 2)
    f = data / "train.jsonl"
    lines = f.read_text().splitlines()
    f.write_text(lines[0] + "\n{not json\n")
    with pytest.raises(DataError, match=r"train.jsonl.*2.*malformed JSON"):
        load_chat_dataset(f)
    row = json.loads(lines[0])
    f.write_text(json.dumps({**row, "images": ["missing.png"]}) + "\n")
    with pytest.raises(DataError, match=r"train.jsonl.*1.*missing.png not found"):
        load_chat_dataset(f)
    f.write_text(json.dumps({**row, "images": []}) + "\n")
    with pytest.raises(DataError, match=r"1 image block\(s\) in 'messages' but 0 path"):
        load_chat_dataset(f)
    f.write_text(json.dumps({**row, "messages": row["messages"][:1]}) + "\n")
    with pytest.raises(DataError, match="user turn and an assistant turn"):
        load_chat_dataset(f)
    ds = load_chat_dataset(chat_set(tmp_path / "ok", 3) / "train.jsonl")
    assert len(ds) == 3 and isinstance(ds[0]["images"][0], Image.Image)


def _variant(row: dict, how: str) -> dict:
    row = json.loads(json.dumps(row))
    if how == "string answer":
        row["messages"][1]["content"] = "It is red."
    elif how == "number text":
        row["messages"][0]["content"][1]["text"] = 5
    elif how == "unknown part":
        row["messages"][0]["content"][1] = {"type": "video"}
    elif how == "not an image":
        row["images"] = ["notes.png"]
    elif how == "prompt only":
        row["messages"] = row["messages"][:1]
    return row


@pytest.mark.parametrize("how, line, problem", [
    ("string answer", 2, "messages[1].content is a string but line 1 uses a list of parts"),
    ("number text", 2, "messages[0].content[1].text must be a string"),
    ("unknown part", 2, "messages[0].content[1] must be"),
    ("not an image", 2, "image notes.png is not a readable image"),
])
def test_every_data_error_is_one_line_before_the_model(tmp_path, chat_set, how, line, problem):
    """Mixed content forms and broken parts or images used to surface as pyarrow/Pillow tracebacks after the
    model loaded; now they stop `safevlm train sft` within seconds, before the model (or transformers) loads."""
    from typer.testing import CliRunner

    from safevlm.cli.main import app

    data = chat_set(tmp_path / "d", 1)
    (data / "notes.png").write_text("not an image")
    row = json.loads((data / "train.jsonl").read_text())
    (data / "train.jsonl").write_text(json.dumps(row) + "\n" + json.dumps(_variant(row, how)) + "\n")
    with pytest.raises(DataError, match=re.escape(f"train.jsonl:{line}: {problem}")):
        check_chat_data(data / "train.jsonl")
    r = CliRunner().invoke(app, ["train", "sft", "--model", "no-such-model", "--data", str(data),
                                 "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and f"train.jsonl:{line}: {problem}" in r.output


def test_image_paths_in_training_data_cannot_leave_its_folders(tmp_path, chat_set):
    """A data file names files; by their real path they must lie in its folder, the data root or image_roots."""
    data = chat_set(tmp_path / "d", 1)
    f = data / "train.jsonl"
    row = json.loads(f.read_text())
    f.write_text(json.dumps({**row, "images": ["/etc/passwd"]}) + "\n")
    with pytest.raises(DataError, match=r"train.jsonl:1: image /etc/passwd resolves to /etc/passwd, outside the "
                                        r"data's folder and the data root"):
        check_chat_data(f)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.png").write_bytes((data / "0.png").read_bytes())
    (data / "link.png").symlink_to(outside / "x.png")  # spelled inside the data folder, really outside
    f.write_text(json.dumps({**row, "images": ["link.png"]}) + "\n")
    with pytest.raises(DataError, match=r"image link.png resolves to .*elsewhere/x.png, outside"):
        check_chat_data(f)
    # a folder the user names is allowed, and the checked (real) path is what training opens
    assert check_chat_data(f, extra_image_roots=[outside]).images == [[str(outside / "x.png")]]


def test_prompt_only_data_for_grpo(tmp_path, chat_set):
    data = chat_set(tmp_path / "d", 2)
    rows = [_variant(json.loads(x), "prompt only") for x in (data / "train.jsonl").read_text().splitlines()]
    (data / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match="user turn and an assistant turn"):
        check_chat_data(data / "prompts.jsonl")
    checked = check_chat_data(data / "prompts.jsonl", require_answer=False)
    assert len(checked) == 2 and checked.images[0] == [str(data / "0.png")]
