"""The training base: SFT and GRPO settings extend one TrainerSettings; SaFeR-VLM's rollout settings live in safer."""

from __future__ import annotations

from dataclasses import fields

import pytest

from safevlm.errors import ConfigError
from safevlm.methods.safer.settings import SaferSettings, resolve_safer_settings
from safevlm.train.base import TrainerSettings
from safevlm.train.grpo_settings import GRPOSettings, resolve_grpo_settings
from safevlm.train.sft_settings import SFTSettings, resolve_sft_settings


def _names(cls) -> list[str]:
    return [f.name for f in fields(cls)]


def test_trainers_extend_the_base_and_grpo_knows_no_method():
    shared = set(_names(TrainerSettings))
    assert issubclass(SFTSettings, TrainerSettings) and issubclass(GRPOSettings, TrainerSettings)
    assert shared <= set(_names(SFTSettings)) and shared <= set(_names(GRPOSettings))
    assert {"rollout", "reflection"}.isdisjoint(_names(GRPOSettings))  # SaFeR-VLM's, not GRPO's
    assert {"rollout", "reflection"} <= set(_names(SaferSettings))
    # each trainer keeps its own recipe's defaults for the shared fields
    assert (SFTSettings().learning_rate, GRPOSettings().learning_rate) == (2e-5, 1e-6)
    assert (SFTSettings().save_steps, GRPOSettings().save_steps, SaferSettings().save_steps) == (500, 96, 96)


def test_shared_checks_hold_for_every_trainer():
    for resolve in (resolve_sft_settings, resolve_grpo_settings, resolve_safer_settings):
        with pytest.raises(ConfigError, match="mode must be"):
            resolve("cpu", overrides={"mode": "half"})
        with pytest.raises(ConfigError, match="learning_rate must be > 0"):
            resolve("cpu", overrides={"learning_rate": 0})
    with pytest.raises(ConfigError, match="unknown training setting 'reflection.accept'"):
        resolve_grpo_settings("cpu", overrides={"reflection.accept": 0.5})
    assert resolve_safer_settings("cpu", overrides={"reflection.accept": 0.5}).reflection["accept"] == 0.5
