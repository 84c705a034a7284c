"""The scale-out bridge: selected prompts and the reward, for EasyR1 / verl.

``safevlm safer export --format verl`` turns a selection folder into what the authors'
sibling code trains from, so a user with a cluster trains there on the same prompts
with the same reward:

- ``train.parquet``: one row per prompt with EasyR1's columns (``problem`` with an
  ``<image>`` placeholder, ``images`` as PNG bytes, ``answer`` = the ground truth) and
  verl's (``data_source``, ``prompt`` as chat messages, ``ability``, ``reward_model``
  with ``ground_truth``, ``extra_info``). The ground truth is the whole sample record
  as JSON: the reward needs the item's truth, not one answer string. A system prompt
  is put before the question (EasyR1 prompts have no system turn).
- ``reward_function.py``: ``compute_score`` in both calling conventions, EasyR1's batch
  form (``compute_score(reward_inputs) -> [{"overall": ..., ...}]``) and verl's
  (``compute_score(data_source, solution_str, ground_truth, extra_info)``), both calling
  :mod:`safevlm.rewards`, so scores there equal scores here. A reward that fails (a
  judge that keeps returning garbage) raises with the reason: never a score of 0.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from safevlm.data.prompts import get_wrapper
from safevlm.data.sample import SYSTEM_PROMPT_KEY
from safevlm.errors import ConfigError
from safevlm.train.grpo import prompts_file

FORMATS = ("verl",)
REWARD_FILE = "reward_function.py"

REWARD_TEMPLATE = '''"""Reward for EasyR1 / verl, written by `safevlm safer export`: calls safevlm's structured reward."""

import json

from safevlm.data.sample import Sample
from safevlm.rewards import RewardConfig, get_scorer

REWARD = {reward!r}
CONFIG = RewardConfig(**{config!r})
_scorer = None


def _score(responses, ground_truths):
    global _scorer
    if _scorer is None:
        _scorer = get_scorer(REWARD, CONFIG)
    samples = [Sample.model_validate(json.loads(g)) for g in ground_truths]
    return _scorer.score(samples, list(responses))


def _checked(score):
    if score.overall is None:  # a reward that failed is never a score: stop and say why
        raise RuntimeError(f"safevlm reward failed: {{score.error}}")
    return score


def compute_score(reward_inputs=None, solution_str=None, ground_truth=None, extra_info=None, **kwargs):
    """EasyR1 batch form: compute_score([{{"response", "ground_truth", ...}}]) -> [{{"overall", ...}}];
    verl form: compute_score(data_source, solution_str, ground_truth, extra_info) -> {{"score", ...}}."""
    if isinstance(reward_inputs, list):
        scores = _score([x["response"] for x in reward_inputs], [x["ground_truth"] for x in reward_inputs])
        return [{{"overall": _checked(s).overall, **s.components}} for s in scores]
    s = _checked(_score([solution_str], [ground_truth])[0])  # verl: data_source arrives as reward_inputs
    return {{"score": s.overall, **s.components}}
'''


def _png(path: str) -> bytes:
    from safevlm.data.sample import open_image

    buf = io.BytesIO()
    open_image(path).save(buf, format="PNG")
    return buf.getvalue()


def export(data: str | Path, out: str | Path, *, fmt: str = "verl", reward: str = "oracle",
           reward_config: dict[str, Any] | None = None, prompt_wrapper: str | None = None) -> dict[str, Any]:
    """Write ``train.parquet`` and ``reward_function.py`` under ``out``; returns a summary."""
    from datasets import Dataset

    from safevlm.data.jsonl import read_samples

    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    path = prompts_file(data)
    wrapper = get_wrapper(prompt_wrapper)
    rows = []
    for k, s in enumerate(read_samples(path)):
        question = wrapper.apply(s.text)
        system = s.metadata.get(SYSTEM_PROMPT_KEY)
        text = f"{system}\n{question}" if system else question
        problem = "<image>" * len(s.images) + text
        truth = json.dumps(s.to_record(base_dir=path.parent), ensure_ascii=False)
        rows.append({"problem": problem, "answer": truth, "images": [{"bytes": _png(r.path)} for r in s.images],
                     "data_source": f"safevlm/{s.source}", "prompt": [{"role": "user", "content": problem}],
                     "ability": "safety", "reward_model": {"style": "rule", "ground_truth": truth},
                     "extra_info": {"index": k, "uid": s.uid, "category": s.category or ""}})
    if not rows:
        raise ConfigError(f"{path}: no prompts to export")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows).to_parquet(str(out / "train.parquet"))
    (out / REWARD_FILE).write_text(REWARD_TEMPLATE.format(reward=reward, config=reward_config or {}),
                                   encoding="utf-8")
    return {"rows": len(rows), "parquet": str(out / "train.parquet"), "reward_function": str(out / REWARD_FILE)}
