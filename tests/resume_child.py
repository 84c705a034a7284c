"""A training run that ``kill -9``s itself mid-way (:func:`killed_run`, in a process that
tests/test_train_resume.py forks, or as a script).

``python tests/resume_child.py sft|grpo full|lora DATA OUT KILL_AT`` trains the gym model with
:func:`settings` and sends itself SIGKILL at the end of step ``KILL_AT`` (after the last checkpoint
before it was written, before the next one is). ``KILL_AT`` 0: run to the end.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

STEPS, SAVE = 4, 2  # two checkpoints: the kill falls between them


def settings(trainer: str, mode: str):
    """Tiny runs on the gym model whose weights move at every step (so a lost checkpoint shows)."""
    if trainer == "sft":
        from safevlm.train.sft_settings import resolve_sft_settings

        return resolve_sft_settings("cpu", overrides={"per_device_train_batch_size": 2, "max_steps": STEPS,
                                                      "save_steps": SAVE, "logging_steps": 1, "mode": mode,
                                                      "warmup_ratio": 0.0})
    from safevlm.train.grpo_settings import resolve_grpo_settings

    # a rollout feeds two optimiser steps (steps_per_generation 4 / accumulation 2): checkpoints fall between rollouts
    return resolve_grpo_settings("cpu", overrides={
        "num_generations": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2,
        "steps_per_generation": 4, "max_completion_length": 8, "temperature": 2.0, "beta": 0.0,
        "learning_rate": 1e-2, "max_steps": STEPS, "save_steps": SAVE, "logging_steps": 1, "mode": mode})


class TextScorer:
    """A reward that varies with the sampled text (deterministic), so GRPO groups have advantages."""

    name = "text"

    def score(self, samples, responses, *, truncated=None):
        from safevlm.rewards import RewardScore

        return [RewardScore(overall=(sum(map(ord, r)) % 5) / 4, unsafe=False) for r in responses]


def train(trainer: str, mode: str, data: str | Path, out: str | Path, *, resume: bool = False,
          callbacks: list | None = None) -> dict:
    if trainer == "sft":
        from safevlm.train.sft import run_sft

        return run_sft("gym", data, out, settings(trainer, mode), resume=resume, callbacks=callbacks)
    from safevlm.train.grpo import run_grpo

    return run_grpo("gym", data, out, settings(trainer, mode), resume=resume, callbacks=callbacks,
                    scorer=TextScorer())


def step_log() -> tuple[list, list[int]]:
    """``(callbacks, steps)``: a callback that appends each optimiser step it sees end to ``steps``."""
    from transformers import TrainerCallback

    steps: list[int] = []

    class Log(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            steps.append(state.global_step)

    return [Log()], steps


def killed_run(trainer: str, mode: str, data: str | Path, out: str | Path, kill_at: int) -> None:
    """:func:`train`, and SIGKILL at the end of step ``kill_at``: no handler, no flush, no cleanup runs."""
    from transformers import TrainerCallback

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == int(kill_at):
                os.kill(os.getpid(), signal.SIGKILL)

    train(trainer, mode, data, out, callbacks=[Kill()])


def main() -> None:
    trainer, mode, data, out, kill_at = sys.argv[1:6]
    killed_run(trainer, mode, data, out, int(kill_at))


if __name__ == "__main__":
    main()
