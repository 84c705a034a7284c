"""The ``README.md`` model card beside a checkpoint safevlm trained.

TRL writes a card at every checkpoint save, naming the base model only when the model was
loaded from a Hub id: a local base (``gym``, ``hf:/models/...``) gives "a fine-tuned version
of None". This card is written after training, from the training record, so it always says
what the model was trained from, on what, with which prompt wrapper, and how to evaluate it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from safevlm.data.provenance import TrainingRecord

CARD = "README.md"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def hub_id(spec: str) -> str | None:
    """The Hub id a model spec names (``hf:Qwen/Qwen2.5-VL-3B-Instruct``), None for a local folder or ``gym``."""
    name = spec.removeprefix("hf:")
    return name if _HUB_ID.match(name) and not Path(name).exists() else None


def model_card(out: Path, record: TrainingRecord | dict[str, Any]) -> str:
    """The card's text for the checkpoint in ``out`` trained as ``record`` says."""
    import safevlm

    base = str(record.get("base_model") or "?")
    method = record.get("method") or "sft"
    trainer = "GRPOTrainer" if method == "grpo" else "SFTTrainer"
    meta: dict[str, Any] = {"library_name": "transformers", "pipeline_tag": "image-text-to-text",
                            "tags": ["safevlm", "trl", method, *(["safecot"] if method == "sft" else ["safer-vlm"])]}
    if hub_id(base):
        meta["base_model"] = hub_id(base)
    what = "the bundled safevlm gym model" if base == "gym" else f"`{record.get('base_model_path') or base}`"
    data = record.get("data") or {}
    wrapper = record.get("prompt_wrapper") or {}
    summary = (f"Fine-tuned from `{base}` ({what}) with TRL's {trainer}, by safevlm {safevlm.__version__}: "
               f"{record.get('mode', '?')} fine-tuning, {record.get('global_steps', '?')} steps.")
    lines = ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "", f"# {out.name}", "", summary, ""]
    if data.get("path"):
        kind = f", SafeCoT {data['variant']}" if data.get("variant") else ""
        lines.append(f"- data: `{data['path']}`{kind}")
    if method == "grpo":
        lines.append(f"- reward: `{record.get('reward')}`, rollout `{record.get('rollout')}`")
    if wrapper.get("name") and wrapper.get("name") != "none":
        lines.append(f"- prompts wrapped `{wrapper['name']}` (`{wrapper.get('template')!r}`): `safevlm eval` reads "
                     f"the wrapper from `{TrainingRecord.FILE}`")
    lines += [f"- settings, data summary and loss/reward history: `{TrainingRecord.FILE}`", "",
              f"Evaluate: `safevlm eval --model hf:{out} --bench xstest --out runs/{out.name}`", ""]
    return "\n".join(lines)


def write_model_card(out: str | Path, record: TrainingRecord | dict[str, Any]) -> Path:
    """Write (over TRL's) ``out/README.md`` from the training record; returns its path."""
    out = Path(out)
    path = out / CARD
    path.write_text(model_card(out, record), encoding="utf-8")
    return path
