"""SaFeR-VLM on the gym, again with another seed, and GRPO without QI-Box selection.

The demo's SaFeR stage is one seed. This script repeats its final comparison (selection,
GRPO plain and reflective from the same SafeCoT-v2 checkpoint, evaluation on gym:test,
gym:test-ood and gym:test-para) with ``--seed`` (``--critique fixed|self`` for the reflection
ablations; ``--set KEY=VALUE`` for any other GRPO setting), and, with ``--unselected``, trains the plain rollout
once more on prompts drawn from the same pool *without* the quality x instability box,
to measure the share of zero-variance groups during training with and without selection
(docs/benchmarks.md, "SaFeR-VLM on the gym").

    python benchmarks/safer_gym_seeds.py --start runs/demo/safecot/model-v2 --seed 1 --out /tmp/safer-seed1 \
        [--unselected] [--threads 1] [--critique judge] [--set learning_rate=1e-4]

Prints one JSON object: CRR / CAR / ASR / answer accuracy with intervals per model and
benchmark, the mean training share of zero-variance groups per run, and the logged
training components (reward and each component first -> last step, the shares flagged and
corrected by the reflective rollout, mean over steps).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path


def zero_std_share(record: dict) -> float | None:
    vals = [h["frac_reward_zero_std"] for h in record.get("history", []) if "frac_reward_zero_std" in h]
    return round(sum(vals) / len(vals), 3) if vals else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--start", type=Path, default=Path("runs/demo/safecot/model-v2"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--unselected", action="store_true", help="also train plain GRPO on unselected pool prompts")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--critique", choices=("judge", "fixed", "self"), default=None,
                    help="the reflection turn (default: the setting's, judge)")
    ap.add_argument("--pool", default=None, help="the selection pool (default: the demo's, gym:train)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a GRPO setting override")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from safevlm.models.training_record import prompt_wrapper_of
    from safevlm.recipes import safer_gym

    start = args.start.resolve()
    wrapper = prompt_wrapper_of(f"hf:{start}")
    from safevlm.config import parse_assignments

    grpo = parse_assignments(args.set)
    if args.critique:
        grpo["reflection.critique"] = args.critique
    cfg = replace(safer_gym.GymSaFeRConfig(), seed=args.seed, grpo=grpo)
    if args.pool:
        cfg = replace(cfg, pool=args.pool)
    done = safer_gym.run(args.out, start, wrapper, cfg)
    stage = done["summary"]  # the stage's results.json: rates per model and benchmark, training components
    summary: dict = {"seed": args.seed, "metrics": stage["metrics"], "zero_std_during_training": {},
                     "selection_zero_variance": done["selection"]["zero_variance_share"],
                     "selection": {k: done["selection"][k] for k in ("counts", "per_family")},
                     "training": stage["training"]}
    for rollout, record in done["training"].items():
        summary["zero_std_during_training"][f"selected, {rollout}"] = zero_std_share(record)
    if args.unselected:
        box_off = replace(cfg, quality=(0.0, 1.0), min_std=0.0)
        pool = safer_gym.select_prompts(start, args.out / "select-unselected", box_off)
        record = safer_gym.train_grpo("plain", start, args.out / "select-unselected",
                                      args.out / "model-plain-unselected", box_off)
        summary["zero_std_during_training"]["unselected, plain"] = zero_std_share(record)
        summary["unselected_pool_zero_variance"] = pool["zero_variance_share"]
    json.dump(summary, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
