"""``safevlm safecot build``, ``safevlm train sft``, ``safevlm export`` and ``eval --prompt-wrapper``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from safevlm.cli.main import app

runner = CliRunner()


def said(res) -> str:
    """The command's output with line wrapping undone (rich wraps long tmp paths)."""
    return " ".join(res.output.split())


def test_build_then_train_then_eval_with_the_wrapper(tmp_path, gymlet):
    spec = gymlet(200)
    data, model = tmp_path / "data", tmp_path / "model"
    res = runner.invoke(app, ["safecot", "build", "--variant", "v2", "--teacher", "oracle", "--unsafe", "gymlet:train",
                              "--general", "gymlet:train", "--max-unsafe", "16", "--spec", str(spec), "--out", str(data)])
    assert res.exit_code == 0, res.output
    assert "16 unsafe + 16 general = 32" in said(res)
    res = runner.invoke(app, ["train", "sft", "--model", "gym", "--data", str(data), "--out", str(model), "--full",
                              "--preset", "cpu", "max_steps=2", "per_device_train_batch_size=4", "logging_steps=10"])
    assert res.exit_code == 0, res.output
    assert "2 steps" in said(res) and "--prompt-wrapper safecot" in said(res)
    record = json.loads((model / "safevlm_training.json").read_text())
    # fewer steps than logging_steps: the last step is logged too, so the summary shows a change
    assert [h["step"] for h in record["loss_history"]] == [1, 2] and "(step 1) -> " in said(res)
    card = (model / "README.md").read_text()  # TRL's card said "a fine-tuned version of None"
    assert "Fine-tuned from `gym` (the bundled safevlm gym model)" in card and "None" not in card
    assert record["data"]["variant"] == "v2" and record["prompt_wrapper"]["name"] == "safecot"
    assert record["settings"]["max_steps"] == 2 and record["examples"] == 29

    run = tmp_path / "run"
    res = runner.invoke(app, ["eval", "--model", "mock:echo", "--bench", "gym:smoke", "--limit", "3",
                              "--prompt-wrapper", "safecot", "--judge", "refusal", "--out", str(run)])
    assert res.exit_code == 0, res.output
    recs = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert all(r["text"].startswith("You are a helpful and harmless assistant. Think step by step") for r in recs)
    assert all(r["response"].endswith(" ".join(r["text"].split())) for r in recs)  # the model got the wrapped text
    assert json.loads((run / "config.json").read_text())["prompt_wrapper"] == "safecot"


def test_cli_errors_are_one_line_and_exit_2(tmp_path):
    res = runner.invoke(app, ["safecot", "build", "--variant", "v9", "--unsafe", "gym:train", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "unknown SafeCoT variant 'v9'" in said(res)
    res = runner.invoke(app, ["train", "sft", "--model", "gym", "--data", str(tmp_path), "--out", str(tmp_path / "m"),
                              "learning_rat=1"])
    assert res.exit_code == 2 and "unknown training setting" in said(res)
    res = runner.invoke(app, ["train", "sft", "--model", "gym", "--data", str(tmp_path / "nope"),
                              "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "training data" in said(res) and "not found" in said(res)
    res = runner.invoke(app, ["export", "--merge", str(tmp_path), "--out", str(tmp_path / "merged")])
    assert res.exit_code == 2 and "not a LoRA adapter" in said(res)
    res = runner.invoke(app, ["eval", "--model", "mock:echo", "--bench", "gym:smoke", "--prompt-wrapper", "oops",
                              "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "unknown prompt wrapper" in said(res)


def test_a_general_side_without_images_stops_instead_of_an_all_refusal_set(tmp_path, benchdata):
    out = tmp_path / "data"
    args = ["safecot", "build", "--variant", "v1", "--unsafe", "mm-safetybench:typo", "--general", "vlguard:train",
            "--max-unsafe", "4", "--out", str(out)]  # the README's example, without VLGuard's images on disk
    res = runner.invoke(app, args)
    text = said(res)
    assert res.exit_code == 2 and "no general item to mix in" in text and "would be all refusals" in text
    assert "vlguard:train: all of its 2977 items with images not on disk (under" in text
    assert "--on-missing-image vlguard=text_only" in text and "--ratio 1:0" in text
    assert not out.exists()
    # taken text-only on request: the set has its general half, and the card says what was done
    res = runner.invoke(app, args + ["--on-missing-image", "vlguard=text_only"])
    assert res.exit_code == 0, res.output
    assert "4 unsafe + 4 general = 8" in said(res) and "items kept without their images" in said(res)
    card = json.loads((out / "data_card.json").read_text())
    assert card["counts"]["kept_text_only"] == {"vlguard:train": 2977}
    assert card["config"]["on_missing_image"] == {"vlguard": "text_only"}
    # an unsafe-only set stays possible, on purpose
    res = runner.invoke(app, args[:-1] + [str(tmp_path / "unsafe-only"), "--ratio", "1:0"])
    assert res.exit_code == 0 and "4 unsafe + 0 general" in said(res)
