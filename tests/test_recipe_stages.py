"""The demo's stages 4 (SaFeR-VLM) and 5 (VLMGuard-R1) on the gym at toy size: every step writes what the
next one reads, and a re-run reuses every finished step: no model is loaded to generate, nothing is trained
again, no file of a finished step is rewritten (call counters and mtimes, not printed text)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safevlm.models.loading import gym_model_path

TOY_SPEC = """name: gymtoy
title: small gym splits for the recipe tests
root: .
default_variant: test
variants:
  train: {hook: "safevlm.gym:bench_hook", options: {split: train, size: 60, seed: 0}}
  test: {hook: "safevlm.gym:bench_hook", options: {split: test, size: 6, seed: 0}}
"""


@pytest.fixture()
def toy(tmp_path, monkeypatch):
    """``gymtoy:train`` (60 items) and ``gymtoy:test`` (6) on the spec path; counters on backend loads
    (every generation pass starts with one) and on the trainers."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "gymtoy.yaml").write_text(TOY_SPEC)
    monkeypatch.setenv("SAFEVLM_BENCH_PATH", str(specs))
    calls = {"load_backend": 0, "run_grpo": 0, "run_sft": 0, "select": 0}

    from safevlm.eval import runner
    from safevlm.methods.safer import select as select_mod
    from safevlm.train import grpo, sft

    def counting(module, name, key):
        inner = getattr(module, name)

        def wrapped(*a, **kw):
            calls[key] += 1
            return inner(*a, **kw)

        monkeypatch.setattr(module, name, wrapped)

    counting(runner, "load_backend", "load_backend")
    counting(grpo, "run_grpo", "run_grpo")
    counting(sft, "run_sft", "run_sft")
    counting(select_mod, "select", "select")
    return calls


def _responses(run: Path) -> dict[str, str]:
    return {r["uid"]: r["response"] for r in map(json.loads, (run / "samples.jsonl").read_text().splitlines())}


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_safer_stage_selects_trains_both_rollouts_evaluates_and_reuses_everything(tmp_path, toy):
    from safevlm.recipes.safer_gym import GymSaFeRConfig, run

    cfg = GymSaFeRConfig(pool="gymtoy:train", max_pool=12, k=2, quality=(0.0, 1.0), min_std=0.0, max_prompts=6,
                         steps=1, benches=["gymtoy:test"], batch_size=12,
                         grpo={"num_generations": 2, "per_device_train_batch_size": 4, "max_completion_length": 8})
    out = tmp_path / "safer"
    done = run(out, gym_model_path(), None, cfg)
    card = json.loads((out / "select" / "data_card.json").read_text())
    assert card["config"]["model"] == f"hf:{gym_model_path()}" and card["counts"]["pool"] == 12
    kept = (out / "select" / "selected.jsonl").read_text().splitlines()
    assert 0 < len(kept) == card["counts"]["kept"] <= 6
    for rollout in ("plain", "reflective"):
        record = json.loads((out / f"model-{rollout}" / "safevlm_training.json").read_text())
        assert record["rollout"] == rollout and record["global_steps"] == 1
        assert record["data"]["path"] == str(out / "select" / "selected.jsonl")
        config = json.loads((out / f"eval-{rollout}" / "config.json").read_text())
        assert config["model"] == f"hf:{out / f'model-{rollout}'}" and config["benches"] == ["gymtoy:test"]
        assert done["results"][f"grpo-{rollout}"]["benchmarks"]["gymtoy:test"]["n"] == 6
    assert "reflect/flagged" in done["training"]["reflective"]["history"][0]
    assert toy == {"load_backend": 2, "run_grpo": 2, "run_sft": 0, "select": 1}

    before, responses = _mtimes(out), {r: _responses(out / f"eval-{r}") for r in ("plain", "reflective")}
    run(out, gym_model_path(), None, cfg)
    assert toy == {"load_backend": 2, "run_grpo": 2, "run_sft": 0, "select": 1}  # nothing selected, trained, generated
    after = _mtimes(out)
    for step in ("select/", "model-plain/", "model-reflective/"):
        assert {k: v for k, v in after.items() if k.startswith(step)} == \
               {k: v for k, v in before.items() if k.startswith(step)}
    assert {r: _responses(out / f"eval-{r}") for r in ("plain", "reflective")} == responses


def test_guard_stage_pairs_synthesis_rewriter_defences_and_reuse(tmp_path, toy, monkeypatch):
    """The SafeCoT-v2 model the stage pairs with the base model is stood in for by ``mock:refuse`` (a model
    that refuses everything: the pairs need safe answers beside the base model's unsafe ones)."""
    import safevlm.eval
    from safevlm.recipes.guard_gym import GymGuardConfig, run

    v2 = tmp_path / "safecot-v2"
    real = safevlm.eval.evaluate

    def evaluate(*a, model=None, **kw):
        return real(*a, model=model.replace(f"hf:{v2}", "mock:refuse"), **kw)

    monkeypatch.setattr(safevlm.eval, "evaluate", evaluate)
    cfg = GymGuardConfig(train_ref="gymtoy:train", pair_items=24, steps=2, benches=["gymtoy:test"], batch_size=24)
    out = tmp_path / "guard"
    done = run(out, v2, None, cfg)
    for label in ("base", "safecot-v2"):
        config = json.loads((out / f"pairs-{label}" / "config.json").read_text())
        assert config["benches"] == ["gymtoy:train"] and config["limit"] == 24
    data = json.loads((out / "data" / "data_card.json").read_text())
    assert data["counts"]["kept"] > 0 and data["config"]["teacher"] == "oracle"
    record = json.loads((out / "rewriter" / "safevlm_training.json").read_text())
    assert record["global_steps"] == 2
    assert set(done["runs"]) == {"guard", "safety-prompt", "ecso", "guard+safecot-v2"}
    assert json.loads((out / "eval-guard" / "config.json").read_text())["model"] == f"guard:hf:{out / 'rewriter'}>gym"
    rec = json.loads((out / "eval-guard" / "samples.jsonl").read_text().splitlines()[0])
    assert rec["generation"]["guard"]["action"] in ("rewrite", "unchanged", "refuse"), rec  # the rewriter was asked
    assert toy["run_sft"] == 1 and toy["load_backend"] == 6  # 2 pair runs + 4 evaluations

    evals = ("pairs-base", "pairs-safecot-v2", "eval-guard", "eval-ecso")
    before, responses = _mtimes(out), {r: _responses(out / r) for r in evals}
    run(out, v2, None, cfg)
    assert toy["run_sft"] == 1 and toy["load_backend"] == 6
    after = _mtimes(out)
    for step in ("data/", "rewriter/"):
        assert {k: v for k, v in after.items() if k.startswith(step)} == \
               {k: v for k, v in before.items() if k.startswith(step)}
    assert {r: _responses(out / r) for r in evals} == responses
