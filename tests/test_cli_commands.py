"""The commands no other test runs from the command line (typer's CliRunner): ``safer select`` and
``safer export``, ``train grpo``, ``guard synth``, ``serve``'s flags, ``gym pretrain``, ``demo``,
``bench sources``, ``version``; each at toy size on the gym model, asserting what it wrote or what its
options reached."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from safevlm import __version__
from safevlm.cli.main import app

runner = CliRunner()

TOY_SPEC = """name: gymtoy
title: a small gym train split for the CLI tests
root: .
default_variant: train
variants:
  train: {hook: "safevlm.gym:bench_hook", options: {split: train, size: 40, seed: 0}}
"""


def ok(args: list[str]):
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli-specs")
    (folder / "gymtoy.yaml").write_text(TOY_SPEC)
    return folder / "gymtoy.yaml"


@pytest.fixture(scope="module")
def selection(toy, tmp_path_factory) -> Path:
    """``safevlm safer select`` on 8 toy prompts with the gym model (shared by the export and GRPO tests)."""
    out = tmp_path_factory.mktemp("select") / "sel"
    ok(["safer", "select", "--pool", "gymtoy:train", "--model", "gym", "--out", str(out), "--k", "2",
        "--max-pool", "8", "--quality", "0:1", "--min-std", "0", "--max-new-tokens", "16", "--seed", "3",
        "--spec", str(toy)])
    return out


def test_safer_select_scores_the_pool_with_the_given_options(selection):
    card = json.loads((selection / "data_card.json").read_text())
    assert card["config"]["k"] == 2 and card["config"]["max_pool"] == 8 and card["config"]["seed"] == 3
    assert card["config"]["quality"] == [0.0, 1.0] and card["counts"]["pool"] == 8
    kept = (selection / "selected.jsonl").read_text().splitlines()
    assert len(kept) == card["counts"]["kept"] > 0
    bad = runner.invoke(app, ["safer", "select", "--pool", "gymtoy:train", "--model", "gym", "--out",
                              str(selection.parent / "x"), "--quality", "0.9-0.1"])
    assert bad.exit_code == 2 and "expected LOW:HIGH" in bad.output


def test_safer_export_writes_verl_parquet_and_the_reward_file(selection, tmp_path):
    from datasets import Dataset

    ok(["safer", "export", "--data", str(selection), "--out", str(tmp_path / "verl")])
    rows = Dataset.from_parquet(str(tmp_path / "verl" / "train.parquet"))
    assert len(rows) == len((selection / "selected.jsonl").read_text().splitlines())
    assert "def compute_score" in (tmp_path / "verl" / "reward_function.py").read_text()


def test_train_grpo_runs_the_reflective_rollout_with_the_given_settings(selection, tmp_path):
    out = tmp_path / "grpo"
    result = ok(["train", "grpo", "--model", "gym", "--data", str(selection), "--out", str(out), "--preset", "cpu",
                 "--rollout", "reflective", "max_steps=1", "num_generations=2", "per_device_train_batch_size=4",
                 "max_completion_length=8", "reflection.accept=0.5"])
    record = json.loads((out / "safevlm_training.json").read_text())
    assert record["rollout"] == "reflective" and record["global_steps"] == 1 and record["reward"] == "oracle"
    assert record["settings"]["num_generations"] == 2 and record["settings"]["reflection"]["accept"] == 0.5
    assert "reflect/flagged" in record["history"][0] and (out / "model.safetensors").is_file()
    assert "rollout reflective" in result.output and "1 steps" in result.output
    both = runner.invoke(app, ["train", "grpo", "--model", "gym", "--data", str(selection), "--out", str(out),
                               "--lora", "--full"])
    assert both.exit_code == 2 and "choose one of --lora and --full" in both.output


def test_guard_synth_pairs_two_runs_and_writes_the_rewriter_set(toy, tmp_path):
    runs = []
    for model in ("gym", "mock:refuse"):  # an unaligned model and one that refuses: safe / unsafe pairs
        run = tmp_path / model.replace(":", "-")
        ok(["eval", "--model", model, "--bench", "gymtoy:train", "--judge", "oracle", "--limit", "16",
            "--max-new-tokens", "32", "--out", str(run), "--spec", str(toy)])
        runs += ["--runs", str(run)]
    out = tmp_path / "synth"
    result = ok(["guard", "synth", *runs, "--out", str(out), "--benign-ratio", "1", "--holdout", "0", "--seed", "1"])
    card = json.loads((out / "data_card.json").read_text())
    assert card["config"]["teacher"] == "oracle" and card["config"]["sources"] == [r for r in runs if r != "--runs"]
    assert card["counts"]["kept"] > 0 and card["counts"]["heldout"] == 0
    assert len((out / "train.jsonl").read_text().splitlines()) == card["counts"]["train"]
    assert "pairs:" in result.output
    none = runner.invoke(app, ["guard", "synth", "--out", str(tmp_path / "none")])
    assert none.exit_code == 2 and "give --runs" in none.output


def test_serve_flags_reach_the_server(monkeypatch):
    """Every serving flag lands in the app (limits, keys, hosts, the guard report): the server is not
    started; the app it would serve is driven in process."""
    from fastapi.testclient import TestClient

    import safevlm.serve

    served = {}
    monkeypatch.setattr(safevlm.serve, "serve", lambda app, host, port: served.update(app=app, host=host, port=port))
    ok(["serve", "--model", "mock:echo", "--port", "8123", "--served-name", "toy", "--api-key", "k1",
        "--allow-host", "testserver", "--max-new-tokens", "7", "--max-tokens-limit", "9", "--max-batch", "3",
        "--batch-wait-ms", "20", "--max-queue", "5", "--timeout", "4", "--max-body-mb", "0.5",
        "--max-image-pixels", "1000", "--max-image-side", "64", "--image-budget-mb", "2", "--expose-guard-report"])
    limits = served["app"].state.limits
    assert served["port"] == 8123 and served["host"] == "127.0.0.1"
    assert (limits.default_max_tokens, limits.max_tokens, limits.max_batch, limits.batch_wait_s, limits.max_queue,
            limits.timeout_s) == (7, 9, 3, 0.02, 5, 4.0)
    assert (limits.max_body_bytes, limits.max_image_pixels, limits.max_image_side, limits.image_budget_bytes) == \
           (2**19, 1000, 64, 2 * 2**20)
    client = TestClient(served["app"])
    body = {"model": "toy", "messages": [{"role": "user", "content": "one two three four five six seven eight"}]}
    assert client.post("/v1/chat/completions", json=body).status_code == 401  # --api-key
    auth = {"Authorization": "Bearer k1"}
    r = client.post("/v1/chat/completions", json=body, headers=auth)
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 7  # --max-new-tokens
    assert client.post("/v1/chat/completions", json={**body, "max_tokens": 10}, headers=auth).status_code == 400
    assert client.post("/v1/chat/completions", json=body, headers={**auth, "Host": "other"}).status_code == 400
    assert client.get("/v1/models", headers=auth).json()["data"][0]["id"] == "toy"  # --served-name
    bad = runner.invoke(app, ["serve", "--model", "mock:echo", "--max-new-tokens", "10", "--max-tokens-limit", "9"])
    assert bad.exit_code == 2 and "above --max-tokens-limit 9" in bad.output


def test_gym_pretrain_options_reach_the_recipe(monkeypatch, tmp_path):
    """The command is a thin call (the pretraining itself: tests/test_gym_pretrain.py)."""
    from safevlm.recipes import gym_pretrain

    seen = {}
    monkeypatch.setattr(gym_pretrain, "run_pretrain", lambda **kw: seen.update(kw))
    ok(["gym", "pretrain", "--out", str(tmp_path / "m"), "--steps", "5", "--seed", "2", "--train-size", "50",
        "--batch-size", "4", "--lr", "0.01", "--threads", "1", "--eval-every", "0", "--eval-size", "9"])
    assert seen == {"out": tmp_path / "m", "steps": 5, "seed": 2, "train_size": 50, "batch_size": 4, "lr": 0.01,
                    "threads": 1, "eval_every": 0, "eval_size": 9}


def test_demo_passes_its_data_root_and_out(monkeypatch, tmp_path):
    """``safevlm demo`` calls the recipe (its stages and their reuse: tests/test_recipe_stages.py and
    tests/test_recipe_safecot_gym.py)."""
    from safevlm.recipes import demo

    seen = []
    monkeypatch.setattr(demo, "run_demo", lambda data_root, out: seen.append((data_root, out)))
    ok(["demo", "--data-root", str(tmp_path), "--out", str(tmp_path / "runs")])
    assert seen == [(tmp_path, tmp_path / "runs")]


def test_bench_sources_prints_what_docs_data_md_holds(tmp_path):
    printed = ok(["bench", "sources"]).output
    ok(["bench", "sources", "--out", str(tmp_path / "data.md")])
    assert printed == (tmp_path / "data.md").read_text() == (Path(__file__).parents[1] / "docs" / "data.md").read_text()


def test_version_command():
    assert ok(["version"]).output.strip() == __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
