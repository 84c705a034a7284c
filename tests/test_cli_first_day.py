"""The small things a first day trips on (issue 26): version, help texts, one default, names, a tiny
checkpoint from the CLI, the training summary and card, and ``--preset auto`` choosing by the model."""

from __future__ import annotations

import inspect
import json
import re

import pytest
import typer
from typer.testing import CliRunner

from safevlm import __version__
from safevlm.backends.base import DEFAULT_MAX_NEW_TOKENS
from safevlm.cli import eval as eval_cli
from safevlm.cli import models as models_cli
from safevlm.cli.main import app
from safevlm.cli.train import loss_summary
from safevlm.report.fmt import defence_text

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_version_flag():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"safevlm {__version__}"


@pytest.mark.parametrize("command", ["eval", "generate", "chat", "serve"])
def test_model_help_lists_every_spec_form(command):
    text = flat(runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output)
    assert "guard:REWRITER>TARGET" in text and "defence:safety-prompt|ecso>TARGET" in text


def _default(fn, name):
    default = inspect.signature(fn).parameters[name].default
    return default.default if isinstance(default, typer.models.OptionInfo) else default


def test_one_max_new_tokens_default_everywhere():
    from safevlm.backends.base import GenerationParams
    from safevlm.eval.config import EvalConfig

    assert DEFAULT_MAX_NEW_TOKENS == 256
    assert _default(models_cli.generate, "max_new_tokens") == _default(models_cli.chat, "max_new_tokens") == 256
    assert _default(models_cli.serve, "max_new_tokens") == 256
    assert EvalConfig(model="m", benches=["x"]).generation.max_new_tokens == GenerationParams().max_new_tokens == 256
    assert "Default 256" in flat(runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "200"}).output)
    assert _default(eval_cli.eval_cmd, "max_new_tokens") is None  # None: the run directory's, else 256


def test_demo_help_names_all_five_stages():
    text = flat(runner.invoke(app, ["demo", "--help"], env={"COLUMNS": "200"}).output)
    for stage in ("1. benchmarks", "2. the bundled gym model", "3. SafeCoT", "4. SaFeR-VLM", "5. VLMGuard-R1"):
        assert stage in text


def test_merge_is_named_for_what_it_does_and_the_old_name_still_runs(tmp_path):
    top = flat(runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output)
    assert "merge Merge a LoRA adapter" in top and "export Old name" not in top  # the old name is hidden
    for args in (["merge", str(tmp_path)], ["export", "--merge", str(tmp_path)]):
        r = runner.invoke(app, args + ["--out", str(tmp_path / "m")])
        assert r.exit_code == 2 and "is not a LoRA adapter" in r.output


def test_models_tiny_writes_a_checkpoint_every_command_loads(tmp_path):
    out = tmp_path / "tiny"
    r = runner.invoke(app, ["models", "tiny", "--family", "smolvlm", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "config.json").is_file() and f"--model hf:{out}" in flat(r.output)
    r = runner.invoke(app, ["chat", "--model", f"hf:{out}", "--max-new-tokens", "3", "Hi"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["models", "tiny", "--family", "qwen25_vl", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "did you mean 'qwen2_5_vl'?" in r.output
    r = runner.invoke(app, ["models", "tiny", "--out", str(out)])
    assert r.exit_code == 2 and "not empty" in r.output


def test_loss_summary_never_reads_as_an_unchanged_loss():
    assert loss_summary([{"step": 1, "loss": 6.347}]) == "loss 6.347 (step 1, the only one logged)"
    assert loss_summary([{"step": 1, "loss": 6.347}, {"step": 5, "loss": 5.9}]) == \
        "loss 6.347 (step 1) -> 5.900 (step 5)"


def test_only_ecso_gets_the_caption_line():
    ecso = {"defence": {"name": "ecso", "n": 10, "answered_from_caption": 3}}
    prompt = {"defence": {"name": "safety-prompt", "n": 10, "answered_from_caption": 0}}
    assert defence_text("b", ecso) == "b: ecso answered 3 of 10 from the image description"
    assert defence_text("b", prompt) == "b: defence safety-prompt in front of the model on 10 prompts"


def test_model_card_names_the_base_model(tmp_path):
    from safevlm.train.model_card import model_card

    card = model_card(tmp_path / "v1", {"base_model": "gym", "mode": "full", "global_steps": 3,
                                         "prompt_wrapper": {"name": "safecot", "template": "{question}"},
                                         "data": {"path": "data/v1", "variant": "v1"}})
    assert "Fine-tuned from `gym` (the bundled safevlm gym model)" in card and "None" not in card
    assert "base_model:" not in card  # a local model has no Hub id to link
    hub = model_card(tmp_path / "v2", {"base_model": "hf:Qwen/Qwen2.5-VL-3B-Instruct", "mode": "lora"})
    assert "base_model: Qwen/Qwen2.5-VL-3B-Instruct" in hub


def test_preset_auto_chooses_by_the_model(tmp_path, tiny_vlms, monkeypatch):
    import torch

    from safevlm.models.loading import GYM_MODEL_DIR, is_gym_model
    from safevlm.train.grpo_settings import resolve_grpo_settings
    from safevlm.train.settings import auto_preset
    from safevlm.train.sft_settings import resolve_sft_settings

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    user = tiny_vlms("qwen2_5_vl").path
    assert not is_gym_model(f"hf:{user}")
    s = resolve_sft_settings("auto", model=f"hf:{user}")
    assert (s.preset, s.mode, s.learning_rate, s.per_device_train_batch_size) == ("cpu-lora", "lora", 2e-5, 1)
    assert resolve_grpo_settings("auto", model=f"hf:{user}").mode == "lora"
    assert "not the gym model" in auto_preset(f"hf:{user}")[1]
    # the gym model, and a fine-tune of it (same architecture), keep the gym's measured recipe
    fine_tune = tmp_path / "gym-v1"
    fine_tune.mkdir()
    (fine_tune / "config.json").write_text((GYM_MODEL_DIR / "config.json").read_text())
    for spec in ("gym", f"hf:{fine_tune}"):
        assert is_gym_model(spec) and resolve_sft_settings("auto", model=spec).preset == "cpu"
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(GYM_MODEL_DIR)}))
    assert is_gym_model(str(adapter))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_sft_settings("auto", model=f"hf:{user}").preset == "gpu"


def test_train_cli_says_what_auto_chose(tmp_path, tiny_vlms, monkeypatch, chat_set):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    data = chat_set(tmp_path / "data", n=2)
    from safevlm.cli import train as train_cli

    seen = {}

    def fake_run_sft(model, checked, out, settings, **kw):
        seen["settings"] = settings
        raise KeyboardInterrupt  # stop before any training

    monkeypatch.setattr("safevlm.train.sft.run_sft", fake_run_sft)
    r = runner.invoke(app, ["train", "sft", "--model", f"hf:{tiny_vlms('qwen2_5_vl').path}", "--data", str(data),
                            "--out", str(tmp_path / "out")], env={"COLUMNS": "200"})
    assert "preset auto -> cpu-lora: no CUDA" in flat(r.output)
    assert seen["settings"].mode == "lora" and train_cli is not None
