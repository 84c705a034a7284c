"""SFT throughput of the gym model with TRL's SFTTrainer on this machine.

Builds a SafeCoT v1 and a v2 set from gym:train (500 unsafe + 500 general), then trains
the gym model for ``--steps`` steps with the CPU preset (full fine-tuning, fp32, batch
32) and once with LoRA (r=8), and reports samples/s from the trainer's own timer
(the first step, which is slower, is included; use enough steps to amortise it).

    python benchmarks/sft_throughput.py [--steps 40] [--out /tmp/sft-bench]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from safevlm.methods.safecot.build import BuildConfig, build
from safevlm.train.sft import run_sft
from safevlm.train.sft_settings import resolve_sft_settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", type=Path, default=Path("/tmp/sft-bench"))
    args = ap.parse_args()
    rows = []
    for variant in ("v1", "v2"):
        data = args.out / f"data-{variant}"
        build(BuildConfig(variant, ["gym:train"], ["gym:train"], teacher="oracle" if variant == "v2" else None,
                          max_unsafe=500), data)
        for mode, extra in (("full", {}), ("lora", {"lora_r": 8, "lora_alpha": 16, "learning_rate": 1e-3})):
            if variant == "v2" and mode == "lora":
                continue
            settings = resolve_sft_settings("cpu", overrides={"max_steps": args.steps, "save_steps": 10**6,
                                                          "mode": mode, **extra})
            t0 = time.perf_counter()
            rec = run_sft("gym", data, args.out / f"model-{variant}-{mode}", settings)
            rows.append({"data": variant, "mode": mode, "steps": rec["global_steps"],
                         "batch": settings.per_device_train_batch_size, "samples_per_s": rec["samples_per_s"],
                         "s_per_step": round(rec["wall_s"] / rec["global_steps"], 3),
                         "trainable_parameters": rec["trainable_parameters"],
                         "wall_s_with_loading": round(time.perf_counter() - t0, 1)})
            print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}))


if __name__ == "__main__":
    main()
