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
  (``compute_score(data_source, solution_str, ground_truth, extra_info)``), plus verl's
  ``compute_score_batch``, all calling the reward preset (:mod:`safevlm.rewards.engines`), so
  scores there equal scores here. ``--reward safegrpo`` / ``proguard`` also put the item's
  labels in ``extra_info`` under the authors' keys. A reward that fails (a judge that keeps
  returning garbage, missing labels) raises with the reason: never a score of 0.
- ``launch_verl.sh`` / ``launch_easyr1.sh``: the cluster command for each engine
  (:func:`verl_overrides`, :func:`easyr1_overrides`: the sibling recipe's settings and this reward).
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

REWARD_TEMPLATE = '''"""Reward for verl / EasyR1, written by `safevlm safer export`: safevlm's `{preset}` reward preset
(the same function as `safevlm train grpo --reward {reward}`; docs/methods.md, "SaFeR-VLM: reward presets")."""

from safevlm.rewards.engines import easyr1_compute_score, get_preset, verl_compute_score, verl_compute_score_batch

PRESET = {preset!r}
OPTIONS = {options!r}
_preset = None


def _get():
    global _preset
    if _preset is None:
        _preset = get_preset(PRESET, **OPTIONS)
    return _preset


def compute_score(reward_inputs=None, solution_str=None, ground_truth=None, extra_info=None, data_source=None, **kwargs):
    """EasyR1 batch form: compute_score([{{"response", "ground_truth", ...}}]) -> [{{"overall", ...}}];
    verl form: compute_score(data_source, solution_str, ground_truth, extra_info) -> {{"score", ...}}.
    A reward that cannot score raises with the reason: never a 0."""
    if isinstance(reward_inputs, list):
        return easyr1_compute_score(_get(), reward_inputs)
    source = data_source if data_source is not None else reward_inputs
    return verl_compute_score(_get(), source, solution_str, ground_truth, extra_info)


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, **kwargs):
    """verl's batch form (the batch reward manager): one result per item."""
    return verl_compute_score_batch(_get(), data_sources, solution_strs, ground_truths, extra_infos)
'''


def reward_preset(reward: str, reward_config: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The preset and its options a ``--reward`` spec names: ``oracle`` / ``rubric:SPEC`` (structured),
    ``safegrpo``, ``proguard``, ``saferkit:SPEC``."""
    from safevlm.rewards.presets import PRESET_NAMES

    if reward == "oracle" or reward.startswith("rubric:"):
        return "structured", {"scorer": reward, "config": reward_config or {}}
    name, _, judge = reward.partition(":")
    if name == "saferkit" and judge:
        return "saferkit", {"judge": judge}
    if name in PRESET_NAMES and name not in ("structured", "saferkit") and not judge:
        return name, {}
    raise ConfigError(f"unknown reward {reward!r}; use oracle, rubric:SPEC, safegrpo, proguard or saferkit:SPEC")


def _labels(preset: str, sample: Any, path: Path, line: int) -> dict[str, Any]:
    """The labels SafeGRPO's / ProGuard's reward reads from ``extra_info`` (their own keys), from the sample's
    metadata; a sample without them stops the export naming its line (a reward without truth is no reward)."""
    from safevlm.errors import DataError
    from safevlm.rewards.presets import PROGUARD_TRUTH, SAFEGRPO_TRUTH

    meta = sample.metadata
    if preset == "safegrpo":
        keys, required = tuple(SAFEGRPO_TRUTH.values()), tuple(SAFEGRPO_TRUTH.values())
    elif preset == "proguard":
        keys = PROGUARD_TRUTH
        required = ("query_label", "category") + (() if meta.get("modality") == "image" else ("response_label",))
    else:
        return {}
    missing = [k for k in required if k not in meta]
    if missing:
        raise DataError(path, f"sample {sample.uid} has no {', '.join(missing)} in its metadata (the {preset} "
                              "reward's labels)", line=line)
    return {k: meta[k] for k in keys if k in meta}


def verl_overrides(out: Path, model: str = "Qwen/Qwen2.5-VL-3B-Instruct", gpus: int = 8) -> list[str]:
    """verl 0.9.1's ``main_ppo`` settings for a GRPO run on the export in ``out``: the SaFeR-VLM sibling
    recipe (docs/methods.md, "SaFeR-VLM: GRPO") and our reward function. tests/test_verl_real.py checks
    every key against verl's own config."""
    data, reward = out / "train.parquet", out / REWARD_FILE
    return ["algorithm.adv_estimator=grpo", f"data.train_files={data}", f"data.val_files={data}",
            "data.prompt_key=prompt", "data.image_key=images", "data.train_batch_size=256",
            "data.max_prompt_length=1024", "data.max_response_length=2048", "data.filter_overlong_prompts=True",
            f"actor_rollout_ref.model.path={model}", "actor_rollout_ref.actor.optim.lr=1e-6",
            "actor_rollout_ref.actor.ppo_mini_batch_size=32", "actor_rollout_ref.actor.use_kl_loss=True",
            "actor_rollout_ref.actor.kl_loss_coef=0.01", "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
            "actor_rollout_ref.rollout.name=vllm", "actor_rollout_ref.rollout.n=4",
            "actor_rollout_ref.rollout.temperature=1.0",
            "+actor_rollout_ref.rollout.engine_kwargs.vllm.disable_mm_preprocessor_cache=True",
            f"reward.custom_reward_function.path={reward}", "reward.custom_reward_function.name=compute_score",
            f"trainer.n_gpus_per_node={gpus}", "trainer.nnodes=1", "trainer.total_epochs=2",
            "trainer.project_name=safevlm", "trainer.experiment_name=safer-grpo"]


def easyr1_overrides(out: Path, model: str = "Qwen/Qwen2.5-VL-3B-Instruct", gpus: int = 8) -> list[str]:
    """EasyR1's ``verl.trainer.main`` settings (its examples/config.yaml beside them) for the same run: the
    sibling recipe's values; EasyR1 reads ``problem`` / ``answer`` / ``images``, which the export writes."""
    data, reward = out / "train.parquet", out / REWARD_FILE
    return ["config=examples/config.yaml", f"data.train_files={data}", f"data.val_files={data}",
            "data.prompt_key=problem", "data.answer_key=answer", "data.image_key=images",
            "data.max_prompt_length=1024", "data.max_response_length=2048", "data.rollout_batch_size=256",
            f"worker.actor.model.model_path={model}", "worker.actor.global_batch_size=32",
            "worker.actor.optim.lr=1.0e-6", "worker.rollout.n=4", "worker.rollout.temperature=1.0",
            f"worker.reward.reward_function={reward}:compute_score", f"trainer.n_gpus_per_node={gpus}",
            "trainer.total_epochs=2"]


def _launch(module: str, overrides: list[str]) -> str:
    return "#!/usr/bin/env bash\nset -euo pipefail\npython3 -m " + module + " \\\n    " + \
        " \\\n    ".join(f"'{o}'" for o in overrides) + "\n"


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
    preset, options = reward_preset(reward, reward_config)
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
                     "extra_info": {"index": k, "uid": s.uid, "category": s.category or "",
                                    **_labels(preset, s, path, k + 1)}})
    if not rows:
        raise ConfigError(f"{path}: no prompts to export")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows).to_parquet(str(out / "train.parquet"))
    (out / REWARD_FILE).write_text(REWARD_TEMPLATE.format(preset=preset, reward=reward, options=options),
                                   encoding="utf-8")
    where = out.resolve()
    (out / "launch_verl.sh").write_text(_launch("verl.trainer.main_ppo", verl_overrides(where)), encoding="utf-8")
    (out / "launch_easyr1.sh").write_text(_launch("verl.trainer.main", easyr1_overrides(where)), encoding="utf-8")
    return {"rows": len(rows), "parquet": str(out / "train.parquet"), "reward_function": str(out / REWARD_FILE),
            "preset": preset, "launch": [str(out / "launch_verl.sh"), str(out / "launch_easyr1.sh")]}
