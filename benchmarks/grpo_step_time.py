"""GRPO step time: the reflective rollout against the plain one, and safevlm's wrapper against raw TRL.

Three runs in one process, one after another, same model, prompts, settings and seed
(docs/benchmarks.md, "SaFeR-VLM on the gym"):

1. ``plain``: ``safevlm.train.grpo.run_grpo`` with TRL's own generation;
2. ``raw``: a bare ``trl.GRPOTrainer`` script with the same ``GRPOConfig`` and a reward
   function calling the same oracle scorer, i.e. what a user would write without safevlm;
3. ``reflective``: ``run_grpo`` with SaFeR-VLM's reflective rollout.

Seconds per step exclude the first step (start-up, first allocation). Reported: each
run's s/step, reflective / plain (goal <= 1.5) and plain / raw (wrapper overhead, goal
<= 1.05), plus the share of rows the reflective rollout flagged and corrected.

    python benchmarks/grpo_step_time.py [--model runs/demo/safecot/model-v2] [--data runs/demo/safer/select]
                                        [--steps 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def step_times(callback_times: list[float]) -> float:
    gaps = [b - a for a, b in zip(callback_times, callback_times[1:])]
    return sum(gaps) / len(gaps) if gaps else float("nan")


def timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter())

    return StepTimer()


def run_ours(model: str, data: Path, out: Path, settings, rollout) -> tuple[float, dict]:
    from safevlm.train.grpo import run_grpo

    t = timer()
    record = run_grpo(model, data, out, settings, reward="oracle", rollout=rollout, callbacks=[t])
    return step_times(t.times), record


def run_raw(model: str, data: Path, out: Path, settings) -> float:
    """The same training as a user would write it against TRL directly."""
    from trl import GRPOTrainer

    from safevlm.models.families import model_vision_token_ids
    from safevlm.models.loading import resolve_model_path
    from safevlm.models.training_record import prompt_wrapper_of
    from safevlm.rewards import get_scorer
    from safevlm.train.base import load_for_training
    from safevlm.train.grpo import grpo_config, load_prompts, prompt_dataset

    prompts = load_prompts(data, prompt_wrapper_of(model))
    m, processor = load_for_training(model, settings)
    m.config._name_or_path = resolve_model_path(model)
    scorer = get_scorer("oracle")
    eos = processor.tokenizer.eos_token_id

    def reward(completions, completion_ids, uid, **kw):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        scores = scorer.score([prompts.samples[u] for u in uid], texts,
                              truncated=[not ids or ids[-1] != eos for ids in completion_ids])
        return [s.overall for s in scores]

    t = timer()
    trainer = GRPOTrainer(model=m, reward_funcs=[reward], args=grpo_config(settings, out, model_vision_token_ids(
        m, processor)), train_dataset=prompt_dataset(prompts), processing_class=processor, callbacks=[t])
    trainer.train()
    return step_times(t.times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(REPO / "runs/demo/safecot/model-v2"))
    ap.add_argument("--data", default=str(REPO / "runs/demo/safer/select"))
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from safevlm.methods.safer.rollout import reflective_rollout
    from safevlm.methods.safer.settings import resolve_safer_settings

    model = args.model if ":" in args.model or args.model == "gym" else f"hf:{args.model}"
    settings = {r: resolve_safer_settings("cpu", overrides={"max_steps": args.steps, "save_steps": 10_000,
                                                           "logging_steps": 1}, rollout=r)
                for r in ("plain", "reflective")}
    with tempfile.TemporaryDirectory() as tmp:
        plain, _ = run_ours(model, Path(args.data), Path(tmp) / "plain", settings["plain"], None)
        raw = run_raw(model, Path(args.data), Path(tmp) / "raw", settings["plain"])
        reflective, record = run_ours(model, Path(args.data), Path(tmp) / "reflective", settings["reflective"],
                                      reflective_rollout)
    flagged = [h.get("reflect/flagged") for h in record["history"] if h.get("reflect/flagged") is not None]
    corrected = [h.get("reflect/corrected") for h in record["history"] if h.get("reflect/corrected") is not None]
    out = {"model": model, "data": args.data, "steps": args.steps, "threads": args.threads,
           "s_per_step": {"plain": plain, "raw_trl": raw, "reflective": reflective},
           "reflective_over_plain": reflective / plain, "plain_over_raw_trl": plain / raw,
           "flagged_share": sum(flagged) / len(flagged) if flagged else None,
           "corrected_share": sum(corrected) / len(corrected) if corrected else None}
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
