"""SaFeR-VLM's training settings: GRPO's (:mod:`safevlm.train.grpo_settings`) plus the rollout and its reflection.

docs/methods.md, "SaFeR-VLM: safety-aware reflective rollout". :class:`SaferSettings` extends
:class:`~safevlm.train.grpo_settings.GRPOSettings` with ``rollout`` (``plain``: TRL's own
generation, the ablation; ``reflective``: :func:`safevlm.methods.safer.rollout.reflective_rollout`) and
``reflection`` (how a flagged sample is corrected); it is resolved with GRPO's presets, so
``reflection.accept=0.8`` or ``reflection.critique=fixed`` is one more dotted override, and the
checkpoint's ``safevlm_training.json`` records it with the other settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safevlm.errors import ConfigError
from safevlm.train.grpo_settings import PRESETS, GRPOSettings
from safevlm.train.settings import resolve_settings

ROLLOUTS = ("plain", "reflective")
#: ``reflection.critique``: critique-guided (the default), plain, self-reflection (safevlm.methods.safer.critique)
CRITIQUE_MODES = ("judge", "fixed", "self")


@dataclass(kw_only=True)
class SaferSettings(GRPOSettings):
    """GRPO's settings and SaFeR-VLM's rollout (module docstring)."""

    rollout: str = "plain"  # plain (TRL's own generation) | reflective (SaFeR-VLM's safety-aware rollout)
    reflection: dict[str, Any] = field(default_factory=lambda: {
        "critique": "judge",  # judge (the reviewer's reason, SaFeR-VLM's GRM gate) | fixed (plain) | self (ablations)
        "critic": None,  # None: the reward's own verdict; or a judge name (a guard model) that flags and critiques
        "template": None,  # None: the mode's own (safevlm.methods.safer.critique); in judge mode it must hold {critique}
        "max_new_tokens": None,  # None: max_completion_length
        "temperature": 0.7,  # corrections are sampled a little cooler than the policy's rollouts
        "accept": 0.8,  # a correction is kept when its own reward is at least this (and it is complete and safe)
        "advantage_cap": 1.0,  # a kept correction's advantage is capped (it is off-policy)
    })

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rollout not in ROLLOUTS:
            raise ConfigError(f"rollout must be one of {', '.join(ROLLOUTS)}, got {self.rollout!r}")
        mode, template = self.reflection.get("critique") or "judge", self.reflection.get("template")
        if mode not in CRITIQUE_MODES:
            raise ConfigError(f"reflection.critique must be judge, fixed or self, got {mode!r}")
        if mode == "judge" and template and "{critique}" not in template:
            raise ConfigError("reflection.template: in judge mode the template must hold {critique} (the reviewer's "
                              "reason); use reflection.critique=fixed for a template without it")


def resolve_safer_settings(preset: str = "auto", config_file: str | Path | None = None,
                           overrides: list[str] | dict[str, Any] | None = None, *, model: str | None = None,
                           **explicit: Any) -> SaferSettings:
    """GRPO's presets, then the YAML file, then ``overrides``, then ``explicit`` (CLI flags such as
    ``rollout``); ``model`` is the starting policy, which ``auto`` looks at."""
    return resolve_settings(SaferSettings, PRESETS, preset, config_file, overrides, model=model, **explicit)
