"""A rich progress bar for transformers' Trainer (``safevlm train sft`` and the demo)."""

from __future__ import annotations

from typing import Any


def progress_callback(console, every: int = 50):
    """A transformers callback drawing a rich progress bar with the running loss.

    Where the output is not a terminal (CI logs, ``make demo > log``) the bar cannot
    redraw, so a line with the step and loss is printed every ``every`` steps instead.
    """
    from rich.progress import Progress
    from transformers import TrainerCallback

    from safevlm.progress import columns

    class RichProgress(TrainerCallback):
        def __init__(self) -> None:
            self.bar = Progress(*columns(rate=False), console=console)
            self.task: Any = None

        def on_train_begin(self, args, state, control, **kw):
            self.bar.start()
            self.task = self.bar.add_task("training", total=state.max_steps, completed=state.global_step)

        def on_step_end(self, args, state, control, **kw):
            self.bar.update(self.task, completed=state.global_step)

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs and self.task is not None:
                self.bar.update(self.task, description=f"training (loss {float(logs['loss']):.3f})")
                if not console.is_terminal and (state.global_step % every == 0 or state.global_step == 1):
                    console.print(f"  step {state.global_step}/{state.max_steps}: loss {float(logs['loss']):.3f}")

        def on_train_end(self, args, state, control, **kw):
            self.bar.stop()

    return RichProgress()


def log_last_step():
    """A transformers callback that logs the final step too: a run shorter than ``logging_steps``
    otherwise logs only its first step, and its loss summary reads "6.347 -> 6.347"."""
    from transformers import TrainerCallback

    class LogLastStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.max_steps and state.global_step >= state.max_steps:
                control.should_log = True

    return LogLastStep()
