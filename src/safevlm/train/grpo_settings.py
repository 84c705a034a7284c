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

Reward and rollout knobs are settings too: ``reward.weights.task=0.4``,
``reward.gate=0.5``, ``reflection.accept=0.8``, ``reflection.critique=fixed`` (dotted keys change
one entry).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safevlm.errors import ConfigError
from safevlm.rewards.base import DEFAULT_WEIGHTS
from safevlm.train.settings import resolve_settings

ROLLOUTS = ("plain", "reflective")


@dataclass
class GRPOSettings:
    preset: str = "auto"
    mode: str = "full"  # full | lora
    rollout: str = "plain"  # plain (TRL's own generation) | reflective (SaFeR-VLM's safety-aware rollout)
    learning_rate: float = 1e-6
    lr_scheduler_type: str = "constant"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    num_train_epochs: float = 2.0
    max_steps: int = -1
    num_generations: int = 4
    per_device_train_batch_size: int = 8  # completions, not prompts
    gradient_accumulation_steps: int = 16
    steps_per_generation: int | None = 128
    max_completion_length: int = 2048
    temperature: float = 1.0
    top_p: float = 1.0
    beta: float = 0.01
    epsilon: float = 0.2
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    mask_truncated_completions: bool = False
    bf16: bool = True
    gradient_checkpointing: bool = True
    use_vllm: bool = True  # used only when vLLM is installed
    vllm_mode: str = "colocate"
    lora_r: int = 64
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | None = None  # None: the family's (the language model's projections)
    lora_scope: str = "language"
    max_pixels: int | None = 448 * 448
    image_roots: list[str] = field(default_factory=list)  # folders images may be in besides the data's and data root
    dtype: str = "auto"
    seed: int = 0
    logging_steps: int = 1
    save_steps: int = 96  # on a rollout boundary: one rollout feeds 128 / 16 = 8 steps (__post_init__)
    save_total_limit: int | None = 2
    deepspeed: str | None = None
    report_to: list[str] = field(default_factory=list)
    reward: dict[str, Any] = field(default_factory=lambda: {"weights": dict(DEFAULT_WEIGHTS), "gate": 0.6,
                                                            "gate_cap": 0.2, "hallucination_penalty": 0.3,
                                                            "contradiction_penalty": 0.3})
    reflection: dict[str, Any] = field(default_factory=lambda: {
        "critique": "judge",  # judge (the reviewer's reason, SaFeR-VLM's GRM gate) | fixed (plain) | self (ablations)
        "critic": None,  # None: the reward's own verdict; or a judge name (a guard model) that flags and critiques
        "template": None,  # None: the mode's own (safevlm.safer.critique); in judge mode it must hold {critique}
        "max_new_tokens": None,  # None: max_completion_length
        "temperature": 0.7,  # corrections are sampled a little cooler than the policy's rollouts
        "accept": 0.8,  # a correction is kept when its own reward is at least this (and it is complete and safe)
        "advantage_cap": 1.0,  # a kept correction's advantage is capped (it is off-policy)
    })

    def __post_init__(self) -> None:
        if self.mode not in ("lora", "full"):
            raise ConfigError(f"mode must be 'lora' or 'full', got {self.mode!r}")
        if self.rollout not in ROLLOUTS:
            raise ConfigError(f"rollout must be one of {', '.join(ROLLOUTS)}, got {self.rollout!r}")
        if self.num_generations < 2:
            raise ConfigError("num_generations must be >= 2: GRPO compares samples within a group")
        if self.lora_scope not in ("language", "all"):
            raise ConfigError(f"lora_scope must be 'language' or 'all', got {self.lora_scope!r}")
        mode, template = self.reflection.get("critique") or "judge", self.reflection.get("template")
        if mode not in ("judge", "fixed", "self"):
            raise ConfigError(f"reflection.critique must be judge, fixed or self, got {mode!r}")
        if mode == "judge" and template and "{critique}" not in template:
            raise ConfigError("reflection.template: in judge mode the template must hold {critique} (the reviewer's "
                              "reason); use reflection.critique=fixed for a template without it")
        spg, ga = self.steps_per_generation, self.gradient_accumulation_steps
        if spg and (self.save_steps * ga) % spg:
            raise ConfigError(f"save_steps ({self.save_steps}) x gradient_accumulation_steps ({ga}) must be a "
                              f"multiple of steps_per_generation ({spg}): TRL generates once per {spg} micro-batches, "
                              "and a checkpoint in the middle of a rollout cannot be resumed exactly (the rollout's "
                              "unused completions are not saved)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    """Preset, then the YAML file, then ``overrides``, then ``explicit`` (CLI flags such as ``rollout``);
    ``model`` is the starting policy, which ``auto`` looks at."""
    return resolve_settings(GRPOSettings, PRESETS, preset, config_file, overrides, model=model, **explicit)
