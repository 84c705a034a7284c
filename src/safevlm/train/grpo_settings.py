"""GRPO settings: presets, a YAML file and ``key=value`` overrides (the shared resolver,
:mod:`safevlm.train.settings`), mapped onto TRL's ``GRPOConfig``.

Presets (``auto`` picks by the machine and the model, :func:`safevlm.train.settings.auto_preset`:
``gpu`` with CUDA, else ``cpu`` for the gym model and ``cpu-lora`` for any other checkpoint):

- **gpu**: the authors' sibling EasyR1 recipe mapped to TRL (docs/methods.md, "SaFeR-VLM:
  GRPO"): lr 1e-6 constant, group size G = 4, KL coefficient 0.01 (TRL's k3 estimator,
  EasyR1's ``low_var_kl``), temperature 1.0, responses up to 2,048 tokens, 2 epochs, bf16,
  gradient checkpointing, full fine-tuning; 32 prompts per optimiser step (8 completions
  per device x 16 accumulation = 128 = 32 x 4) and 256 prompts per rollout
  (``steps_per_generation`` 128), vLLM generation in colocate mode when vLLM is installed.
- **cpu**: the gym model on a CPU, from a measured TRL run on the gym (docs/benchmarks.md,
  "SaFeR-VLM on the gym"): lr 3e-4 constant, G = 8, 64 completions per step, KL 0.04,
  128-token responses (a reasoned refusal in the think/answer format reaches ~105 gym
  tokens; the measured run lost them at 48), fp32, no checkpointing.
- **cpu-lora**, for a real checkpoint without a GPU (ours): the gpu recipe's learning rate,
  KL and group size in LoRA, float32, 8 completions per step (2 prompts), 256-token
  responses, checkpointing kept, no vLLM. Slow, and conservative on purpose.

The reward's knobs are settings too: ``reward.weights.task=0.4``, ``reward.gate=0.5`` (dotted
keys change one entry). A method's rollout adds its own settings to these (SaFeR-VLM's rollout and
reflection: :mod:`safevlm.methods.safer.settings`, resolved with the same presets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safevlm.errors import ConfigError
from safevlm.rewards.base import DEFAULT_WEIGHTS
from safevlm.train.base import TrainerSettings
from safevlm.train.settings import resolve_settings


@dataclass(kw_only=True)
class GRPOSettings(TrainerSettings):
    """GRPO's settings: the shared ones (:class:`~safevlm.train.base.TrainerSettings`) with the sibling
    EasyR1 recipe as defaults, GRPO's own (groups, rollouts, generation, loss, vLLM) and the reward's.
    A method's rollout adds its own (SaFeR-VLM's: :class:`safevlm.methods.safer.settings.SaferSettings`)."""

    mode: str = "full"
    learning_rate: float = 1e-6
    lr_scheduler_type: str = "constant"
    warmup_ratio: float = 0.0
    num_train_epochs: float = 2.0
    per_device_train_batch_size: int = 8  # completions, not prompts
    gradient_accumulation_steps: int = 16
    logging_steps: int = 1
    save_steps: int = 96  # on a rollout boundary: one rollout feeds 128 / 16 = 8 steps (__post_init__)
    num_generations: int = 4
    steps_per_generation: int | None = 128
    max_completion_length: int = 2048
    temperature: float = 1.0
    top_p: float = 1.0
    beta: float = 0.01
    epsilon: float = 0.2
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    mask_truncated_completions: bool = False
    use_vllm: bool = True  # used only when vLLM is installed
    vllm_mode: str = "colocate"
    reward: dict[str, Any] = field(default_factory=lambda: {"weights": dict(DEFAULT_WEIGHTS), "gate": 0.6,
                                                            "gate_cap": 0.2, "hallucination_penalty": 0.3,
                                                            "contradiction_penalty": 0.3})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_generations < 2:
            raise ConfigError("num_generations must be >= 2: GRPO compares samples within a group")
        spg, ga = self.steps_per_generation, self.gradient_accumulation_steps
        if spg and (self.save_steps * ga) % spg:
            raise ConfigError(f"save_steps ({self.save_steps}) x gradient_accumulation_steps ({ga}) must be a "
                              f"multiple of steps_per_generation ({spg}): TRL generates once per {spg} micro-batches, "
                              "and a checkpoint in the middle of a rollout cannot be resumed exactly (the rollout's "
                              "unused completions are not saved)")


PRESETS: dict[str, dict[str, Any]] = {
    "gpu": {},  # the dataclass defaults are the sibling EasyR1 recipe
    "cpu": {"learning_rate": 3e-4, "num_generations": 8, "per_device_train_batch_size": 64,
            "gradient_accumulation_steps": 1, "steps_per_generation": None, "max_completion_length": 128,
            "beta": 0.04, "bf16": False, "gradient_checkpointing": False, "use_vllm": False, "max_pixels": None,
            "num_train_epochs": 1.0, "save_steps": 50},
    "cpu-lora": {"mode": "lora", "bf16": False, "dtype": "float32", "use_vllm": False, "per_device_train_batch_size": 8,
                 "gradient_accumulation_steps": 1, "steps_per_generation": None, "max_completion_length": 256},
}


def resolve_grpo_settings(preset: str = "auto", config_file: str | Path | None = None,
                          overrides: list[str] | dict[str, Any] | None = None, *, model: str | None = None,
                          **explicit: Any) -> GRPOSettings:
    """Preset, then the YAML file, then ``overrides``, then ``explicit`` (CLI flags such as ``mode``);
    ``model`` is the starting policy, which ``auto`` looks at."""
    return resolve_settings(GRPOSettings, PRESETS, preset, config_file, overrides, model=model, **explicit)
