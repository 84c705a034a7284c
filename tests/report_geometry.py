"""Run directories that stress the report's layout: many long category labels, seven runs, ties.

Each run holds ``results.json`` (metrics from :func:`safevlm.eval.metrics.estimate` over
seeded outcomes), ``config.json`` and a few records, for a benchmark with fourteen
categories (MM-SafetyBench's scenario names and two much longer labels) and paired items,
and a second benchmark. Runs 3 and 4 hold the same figures (their points coincide), and
run 6 equals run 0 on the second benchmark. Every benchmark also carries what the other
sections draw from: an ``official`` block (the authors' metrics, with per-category
breakdowns, a long note and a metric not computed, as ``safevlm.eval.official`` writes
them), ``outputs`` counts (cut off, degenerate), and the first benchmark was sent text-only.
"""

from __future__ import annotations

import json
from pathlib import Path
from random import Random

from safevlm.eval.metrics import estimate

CATEGORIES = ["01-Illegal_Activitiy", "02-HateSpeech", "03-Malware_Generation", "04-Physical_Harm",
              "05-EconomicHarm", "06-Fraud", "07-Sex", "08-Political_Lobbying", "09-Privacy_Violence",
              "10-Legal_Opinion", "11-Financial_Advice", "12-Health_Consultation", "13-Gov_Decision",
              "nonsense_group_discrimination_and_an_unusually_long_benchmark_label_that_must_wrap"]
RUNS = ["base", "safecot-v1", "safecot-v2-lora-r64-long-name", "saferr-plain", "saferr-reflective",
        "guard-in-front-of-base", "ecso"]
BENCHES = ("mm-safetybench:typo", "xstest:default")


def _block(rng: Random, n: int, p_refuse: float, p_answer: float, paired: bool) -> dict:
    unsafe = [rng.random() < p_refuse for _ in range(n)]
    safe = [rng.random() < p_answer for _ in range(max(2, n // 2))]
    m = {"crr": estimate(unsafe), "car": estimate(safe), "over_refusal": estimate([not a for a in safe]),
         "accuracy": estimate(unsafe + safe), "asr": estimate([not r for r in unsafe]),
         "dsr": estimate(unsafe)}
    if paired:
        m["paired_accuracy"] = estimate([a and b for a, b in zip(unsafe, safe)])
    return {"n": n + len(safe), "metrics": m}


def _official(rng: Random, quality: float) -> dict:
    judge = {"name": "gpt4", "parser": "mmsb_safety", "model": "openai:http://judge.example:8000/v1#gpt-4o-2024-08-06",
             "mode": "default"}
    unsafe = [rng.random() > quality for _ in range(120)]
    by = {c: estimate([rng.random() > quality for _ in range(rng.randint(4, 9))]) for c in CATEGORIES}
    return {"attack_rate": {**estimate(unsafe), "by_field": "category", "by": by, "judge": judge, "judge_errors": 2,
                            "description": "attack rate: the judge calls the answer unsafe, per scenario",
                            "note": "the authors report each scenario separately; the pooled value is ours, and "
                                    "this note is long on purpose so that it must wrap inside its cell (<b>not "
                                    "markup</b> & co)"},
            "win_rate": {"computed": False, "judge": judge, "description": "the judge prefers the answer",
                         "reason": "needs an LLM judge: the authors used GPT-4o; give one with --judge-model SPEC "
                                   "(openai:URL#MODEL for GPT-4o or a vLLM server, hf:PATH, mock:FILE)"}}


def _bench(seed: str, quality: float, paired: bool, text_only: bool = False) -> dict:
    rng = Random(seed)
    cats = {c: _block(rng, rng.randint(4, 9), quality, 1 - quality / 2, paired) for c in CATEGORIES}
    overall = _block(rng, 120, quality, 1 - quality / 2, paired)
    return {**overall, "primary_judge": "refusal", "judges": ["refusal"], "generation_errors": 0,
            "judge_errors": {}, "by_category": cats, "by_label": cats, "official": _official(rng, quality),
            "outputs": {"n": overall["n"], "cut_off": rng.randint(0, 40), "degenerate": rng.randint(0, 9),
                        "undecided": rng.randint(0, 9)},
            "selection": {"total": 1680, "selected": overall["n"], "evaluable": 1680,
                          "text_only_evaluated": overall["n"] if text_only else 0}}


def build_many(root: Path, n_runs: int = 7) -> list[Path]:
    """``n_runs`` (up to seven) run directories under ``root``."""
    paths = []
    for i, name in enumerate(RUNS[:n_runs]):
        twin = 3 if i == 4 else i  # runs 3 and 4 share their figures
        benches = {BENCHES[0]: _bench(f"mm{twin}", 0.15 + 0.12 * twin, True, text_only=True),
                   BENCHES[1]: _bench(f"xs{0 if i == 6 else twin}", 0.2 + 0.1 * (0 if i == 6 else twin), False)}
        run = root / name
        run.mkdir(parents=True)
        results = {"run": {"model": f"hf:ckpt/{name}", "judges": ["refusal"], "primary_judge": "refusal",
                           "created": "2026-11-24T10:00:00Z", "n": 0, "generation_errors": 0, "judge_errors": 0},
                   "benchmarks": benches, "overall": _block(Random(f"all{twin}"), 240, 0.5, 0.7, True),
                   "by_judge": {}}
        (run / "results.json").write_text(json.dumps(results))
        (run / "config.json").write_text(json.dumps({"model": f"hf:ckpt/{name}", "benches": list(BENCHES)}))
        records = [{"uid": f"{b}:{k}", "bench": b, "id": str(k), "expected": "refuse" if k % 2 else "comply",
                    "category": CATEGORIES[k], "text": f"prompt {k}", "response": "Sure." if (i + k) % 3 else
                    "I'm sorry, I can't help with that.", "generation": {"error": None},
                    "verdicts": {"refusal": {"judge": "refusal", "refused": bool((i + k) % 3 == 0),
                                             "score": 1.0, "detail": {"confidence": 0.9}}}}
                   for b in BENCHES for k in range(4)]
        (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        paths.append(run)
    return paths
