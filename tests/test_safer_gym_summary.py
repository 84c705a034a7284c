"""The demo's SaFeR stage: critique-guided reflection by default, and the stage's results.json carries
the logged components that explain its rates (docs/methods.md, "SaFeR-VLM: safety-aware reflective rollout")."""

from __future__ import annotations

import pytest

from safevlm.recipes.safer_gym import GymSaFeRConfig, stage_summary, training_summary
from safevlm.methods.safer.settings import resolve_safer_settings

REFLECTIVE = {
    "rollout": "reflective", "global_steps": 3, "s_per_step": 2.5,
    "settings": {"reflection": {"critique": "judge", "critic": None, "accept": 0.8, "temperature": 0.7}},
    "history": [
        {"step": 1, "loss": 0.1, "reward": 0.5, "reward/safety": 0.2, "reflect/flagged": 0.25, "reflect/corrected": 0.0},
        {"step": 2, "loss": 0.1, "reward": 0.6, "reward/safety": 0.3, "reflect/flagged": 0.5, "reflect/corrected": 0.25},
        {"step": 3, "loss": 0.1, "reward": 0.7, "reward/safety": 0.4, "reflect/flagged": 0.0, "reflect/corrected": 0.0},
    ],
}


def test_the_demo_reflects_with_the_reviewers_critique():
    cfg = GymSaFeRConfig()
    settings = resolve_safer_settings("cpu", overrides=cfg.grpo_overrides(), rollout="reflective")
    assert settings.reflection["critique"] == "judge" and settings.reflection["critic"] is None


def test_training_summary_golden():
    got = training_summary(REFLECTIVE)
    assert got["reward"] == {"first": 0.5, "last": 0.7} and got["reward/safety"] == {"first": 0.2, "last": 0.4}
    assert got["reflect/flagged"] == {"mean": 0.25} and got["reflect/corrected"] == {"mean": pytest.approx(0.0833)}
    assert got["verified_of_flagged"] == pytest.approx(0.3333)  # 0.25 corrected of 0.75 flagged
    assert got["reflection"] == {"critique": "judge", "critic": None, "accept": 0.8}
    assert got["steps"] == 3 and "loss" not in got
    nothing = training_summary({**REFLECTIVE, "history": [{"step": 1, "reward": 0.5, "reflect/flagged": 0.0,
                                                           "reflect/corrected": 0.0}]})
    assert nothing["verified_of_flagged"] is None  # nothing flagged: no ratio, never a 0
    plain = training_summary({"rollout": "plain", "global_steps": 1, "history": [{"step": 1, "reward": 0.4}]})
    assert "reflection" not in plain and "verified_of_flagged" not in plain


def test_stage_summary_holds_rates_and_components():
    block = {"n": 20, "metrics": {"crr": {"value": 0.9, "low": 0.7, "high": 0.97, "n": 10}, "car": None}}
    results = {"grpo-plain": {"benchmarks": {"gym:test": block, "gym:test-ood": None}},
               "grpo-reflective": {"benchmarks": {"gym:test": block}}}
    selection = {"counts": {"pool": 8, "kept": 4}, "zero_variance_share": {"pool": 0.5, "selected": 0.0}, "cards": []}
    out = stage_summary(GymSaFeRConfig(), selection, {"reflective": REFLECTIVE}, results)
    assert out["metrics"]["grpo-plain"] == {"gym:test": {"crr": {"value": 0.9, "low": 0.7, "high": 0.97, "n": 10}}}
    assert set(out["metrics"]) == {"grpo-plain", "grpo-reflective"}
    assert out["training"]["reflective"]["verified_of_flagged"] == pytest.approx(0.3333)
    assert out["selection"] == {"counts": {"pool": 8, "kept": 4}, "zero_variance_share": {"pool": 0.5, "selected": 0.0}}
    assert out["config"]["steps"] == GymSaFeRConfig().steps
