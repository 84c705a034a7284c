"""How many unsafe samples each reflection turn corrects: critique-guided (judge), plain (fixed), self.

The reflective rollout can only help when its corrections pass verification. This script measures that
directly, outside training, with the rollout's own code (:meth:`ReflectiveRollout.correct` and
``verified``): from a model (the demo's SafeCoT-v2), ``--k`` samples at temperature 1 on ``--n`` unsafe
prompts of ``gym:train`` (training prompts, never a test split), the oracle reward flags the unsafe ones,
and each mode writes one correction per flagged sample; a correction is kept as in training (scored as an
answer to the original prompt: complete, a right call, reward >= 0.8).

    python benchmarks/safer_reflection_probe.py --model runs/demo/safecot/model-v2 --n 300 --k 4 --out probe.json

Prints and writes one JSON object: flagged samples, and per mode the corrections kept, their mean reward,
the share that are refusals or warnings, and a few examples.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--pool", default="gym:train")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--modes", default="judge,fixed,self")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    from safevlm.bench import load_benchmark
    from safevlm.models.families import model_vision_token_ids
    from safevlm.models.loading import load_vlm
    from safevlm.models.training_record import prompt_wrapper_of
    from safevlm.rewards.oracle_reward import OracleScorer
    from safevlm.methods.safer.critique import RewardCritic
    from safevlm.methods.safer.rollout import ReflectiveRollout, sample_completions
    from safevlm.methods.safer.settings import resolve_safer_settings
    from safevlm.train.grpo import PromptSet, RewardAdapter, prompt_messages

    model, processor = load_vlm(args.model, dtype="float32")
    model.eval()
    wrapper = prompt_wrapper_of(f"hf:{args.model}")
    samples = [s for s in load_benchmark(args.pool).samples
               if s.expected.is_unsafe and not s.history and not s.metadata.get("ambiguous") and s.images]
    samples = random.Random(args.seed).sample(samples, min(args.n, len(samples)))
    eos = {processor.tokenizer.convert_tokens_to_ids("<|im_end|>"), processor.tokenizer.eos_token_id}
    reward = RewardAdapter(OracleScorer(), {s.uid: s for s in samples}, eos)
    gen = {"suppress": model_vision_token_ids(model, processor), "eos_ids": eos,
           "pad_id": processor.tokenizer.pad_token_id}

    def conversation(s):
        msgs = []
        for m in prompt_messages(s, wrapper):
            parts = [{"type": "text", "text": m["content"]}]
            if m["role"] == "user":
                parts.insert(0, {"type": "image", "image": s.images[0].load()})
            msgs.append({"role": m["role"], "content": parts})
        return msgs

    rows = [s for s in samples for _ in range(args.k)]
    texts, ids = [], []
    for start in range(0, len(rows), args.batch):
        chunk = rows[start:start + args.batch]
        _, c_ids, _ = sample_completions(model, processor, [conversation(s) for s in chunk], temperature=1.0,
                                         top_p=1.0, max_new_tokens=args.max_new_tokens, **gen)
        ids += c_ids
        texts += processor.batch_decode(c_ids, skip_special_tokens=True)
    scores = reward.score([s.uid for s in rows], texts, ids)
    reviews = RewardCritic().review(rows, texts, scores)
    flagged = [i for i, r in enumerate(reviews) if r.flagged]
    report = {"model": str(args.model), "prompts": len(samples), "samples": len(rows), "flagged": len(flagged),
              "modes": {}}
    prompts = PromptSet(rows=[], samples=reward.samples, path=args.model, left_out={}, wrapper=wrapper)
    for mode in [m for m in args.modes.split(",") if m]:
        settings = resolve_safer_settings("cpu", overrides={"reflection.critique": mode,
                                                           "max_completion_length": args.max_new_tokens})
        plugin = ReflectiveRollout(prompts, reward, settings)
        kept, rewards, calls, examples = 0, [], {}, []
        for start in range(0, len(flagged), args.batch):
            idx = flagged[start:start + args.batch]
            c_ids, _ = plugin.correct(model, processor, [conversation(rows[i]) for i in idx], [texts[i] for i in idx],
                                      [reviews[i] for i in idx], gen)
            c_texts = processor.batch_decode(c_ids, skip_special_tokens=True)
            verdicts = reward.score([rows[i].uid for i in idx], c_texts, c_ids)
            for i, t, v in zip(idx, c_texts, verdicts, strict=True):
                ok = plugin.verified(v)
                kept += ok
                if v.overall is not None:
                    rewards.append(v.overall)
                call = v.detail.get("call", "?")
                calls[call] = calls.get(call, 0) + 1
                if len(examples) < 6:
                    examples.append({"request": rows[i].text, "answer": texts[i], "turn": plugin.reflection_turn(
                        reviews[i]), "correction": t, "reward": v.overall, "kept": ok})
        report["modes"][mode] = {"kept": kept, "kept_share": round(kept / max(1, len(flagged)), 3),
                                 "mean_reward": round(sum(rewards) / max(1, len(rewards)), 3), "calls": calls,
                                 "examples": examples}
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "modes"} |
                     {"modes": {m: {k: v for k, v in r.items() if k != "examples"} for m, r in report["modes"].items()}},
                     indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
