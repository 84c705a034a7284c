"""``safevlm gym build``: files, data card, determinism, errors."""

from __future__ import annotations

import json
from collections import Counter

from typer.testing import CliRunner

from safevlm.cli.main import app
from safevlm.data.jsonl import read_samples
from safevlm.gym import generate_items

runner = CliRunner()
ARGS = ["--train-size", "40", "--test-size", "12", "--test-ood-size", "10", "--test-para-size", "8", "--seed", "4"]


def test_gym_build_writes_jsonl_images_and_card(tmp_path):
    out = tmp_path / "gym"
    res = runner.invoke(app, ["gym", "build", "--out", str(out), *ARGS])
    assert res.exit_code == 0, res.output
    assert "train: 40 items" in res.output
    card = json.loads((out / "card.json").read_text())
    assert {s: card["splits"][s]["total"] for s in card["splits"]} == {"train": 40, "test": 12, "test-ood": 10,
                                                                       "test-para": 8}
    assert card["config"]["seed"] == 4 and "injure" in card["held_out"]["words"]
    assert sum(card["splits"]["train"]["family"].values()) == 40
    assert "| **all** |" in (out / "README.md").read_text()

    samples = list(read_samples(out / "test.jsonl"))
    items = generate_items("test", 12, seed=4)
    assert [s.text for s in samples] == [it.text for it in items]
    assert [s.metadata for s in samples] == [it.to_sample().metadata for it in items]
    assert [s.history for s in samples] == [it.to_sample().history for it in items]
    img = samples[0].load_images()[0]
    assert img.size == (112, 112)
    assert img.tobytes() == items[0].render().tobytes()  # PNG round trip is lossless
    assert card["splits"]["test"]["expected"] == dict(Counter(s.expected.value for s in samples))


def test_gym_build_is_byte_identical_for_the_same_seed(tmp_path):
    for name in ("a", "b"):
        assert runner.invoke(app, ["gym", "build", "--out", str(tmp_path / name), "--split", "test", *ARGS]).exit_code == 0
    a, b = tmp_path / "a", tmp_path / "b"
    assert (a / "test.jsonl").read_bytes() == (b / "test.jsonl").read_bytes()
    pngs = sorted(p.name for p in (a / "test_images").iterdir())
    assert pngs and all((a / "test_images" / p).read_bytes() == (b / "test_images" / p).read_bytes() for p in pngs)
    assert not (a / "train.jsonl").exists()


def test_gym_build_rejects_unknown_split(tmp_path):
    res = runner.invoke(app, ["gym", "build", "--out", str(tmp_path), "--split", "dev"])
    assert res.exit_code == 2 and "unknown split" in res.output


def test_gym_build_mix_option(tmp_path):
    res = runner.invoke(app, ["gym", "build", "--out", str(tmp_path), "--split", "test", "--test-size", "10",
                              "--mix", "vqa=1, siuo=1"])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["splits"]["test"]["family"] == {"siuo": 5, "vqa": 5}
    assert card["splits"]["test"]["expected"] == {"comply": 5, "safe_complete": 5}
    bad = runner.invoke(app, ["gym", "build", "--out", str(tmp_path), "--mix", "nonsense=1"])
    assert bad.exit_code == 2 and "unknown families" in bad.output
