"""``safevlm generate`` and ``safevlm chat`` (CLI wiring over the backends)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from safevlm import Sample
from safevlm.cli.main import app
from safevlm.data.jsonl import write_samples

runner = CliRunner()


@pytest.fixture()
def samples_file(tmp_path):
    samples = [Sample(id=str(i), source="mine", text=f"question {i}", expected="refuse" if i % 2 else "comply",
                      images=[Image.new("RGB", (30 + i, 20))] if i % 2 else [])
               for i in range(5)]
    path = tmp_path / "in.jsonl"
    write_samples(samples, path)
    return path


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generate_writes_one_line_per_sample(samples_file, tmp_path):
    out = tmp_path / "out" / "responses.jsonl"
    r = runner.invoke(app, ["generate", "-m", "mock:echo", "--input", str(samples_file), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = _lines(out)
    assert [row["uid"] for row in rows] == [f"mine:default:{i}" for i in range(5)]
    assert rows[1]["response"] == "[image 31x20] question 1" and rows[0]["response"] == "question 0"
    assert rows[1]["expected"] == "refuse" and rows[1]["model"] == "mock:echo"
    # the run record's shape (a run's samples.jsonl line, without verdicts): `safevlm judge` reads it back
    assert {"text", "bench", "generation", "verdicts", "images"} <= set(rows[0]) and rows[0]["verdicts"] == {}
    assert rows[0]["bench"] == f"input:{samples_file.name}" and rows[1]["images"][0].endswith(".png")
    assert {"prompt_tokens", "completion_tokens", "latency_s", "finish_reason", "error"} <= set(rows[0]["generation"])
    assert all(row["generation"]["error"] is None for row in rows)


def test_generate_limit_and_failures_are_recorded(samples_file, tmp_path):
    out = tmp_path / "o.jsonl"
    r = runner.invoke(app, ["generate", "-m", "mock:error", "-i", str(samples_file), "-o", str(out), "--limit", "2"])
    assert r.exit_code == 1, r.output  # the work failed: never exit 0
    rows = _lines(out)  # and what there is, is written
    assert len(rows) == 2 and all(row["generation"]["error"] and row["response"] == "" for row in rows)
    text = " ".join(r.output.split())  # rich may wrap a long tmp path
    assert "2 failed" in text and "2 of 2 generations failed" in text and "mock:error: scripted failure" in text
    r = runner.invoke(app, ["generate", "-m", "mock:error", "-i", str(samples_file), "-o", str(out), "--limit", "2",
                            "--max-failed-share", "1"])
    assert r.exit_code == 0, r.output


def test_generate_needs_exactly_one_source(samples_file, tmp_path):
    r = runner.invoke(app, ["generate", "-m", "mock:echo", "-o", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 2 and "exactly one of --bench" in r.output
    r = runner.invoke(app, ["generate", "-m", "bogus", "-i", str(samples_file), "-o", str(tmp_path / "o.jsonl")])
    assert r.exit_code == 2 and "unknown model spec" in r.output


def test_generate_with_a_tiny_hf_checkpoint(samples_file, tmp_path):
    from safevlm.models import build_tiny_vlm, save_vlm

    save_vlm(*build_tiny_vlm("smolvlm", image_size=56), tmp_path / "ckpt")
    out = tmp_path / "o.jsonl"
    r = runner.invoke(app, ["generate", "-m", f"hf:{tmp_path / 'ckpt'}", "-i", str(samples_file), "-o", str(out),
                            "--batch-size", "2", "--max-new-tokens", "5", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    rows = _lines(out)
    gens = [row["generation"] for row in rows]
    assert len(rows) == 5 and all(0 < g["completion_tokens"] <= 5 and g["error"] is None for g in gens)


def test_chat_prints_the_answer(tmp_path):
    img = tmp_path / "x.png"
    Image.new("RGB", (12, 34)).save(img)
    r = runner.invoke(app, ["chat", "-m", "mock:echo", "--image", str(img), "what is this"])
    assert r.exit_code == 0, r.output
    assert "[image 12x34] what is this" in r.output
    r = runner.invoke(app, ["chat", "-m", "mock:error", "hi"])
    assert r.exit_code == 1 and "scripted failure" in r.output
    r = runner.invoke(app, ["chat", "-m", "mock:echo", "--image", str(tmp_path / "nope.png"), "hi"])
    assert r.exit_code == 2 and "nope.png" in r.output
