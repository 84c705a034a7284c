"""``safevlm train grpo``: GRPO on TRL's ``GRPOTrainer`` with the structured reward.

What it guarantees (docs/methods.md, "SaFeR-VLM: GRPO"):

- prompts are samples (a ``safevlm safer select`` folder or any sample JSONL), each a
  conversational prompt (system prompt, then the user turn, wrapped the way the starting
  model was fine-tuned) plus its image, so TRL renders them with the model's own chat
  template and recomputes the pixel inputs itself;
- one reward function, :class:`RewardAdapter`, calls the structured reward
  (:mod:`safevlm.rewards`) and logs every component each step; a scorer failure is
  ``None`` for that completion (TRL leaves it out of its group's baseline and gives it
  no advantage) and is counted, never a score;
- the vision special tokens are suppressed in generation (a weak policy can sample them);
- a rollout plugin can replace TRL's generation (:class:`RolloutPlugin`; the SaFeR-VLM
  reflective rollout is one, :mod:`safevlm.methods.safer.rollout`); without one (``plain``) it is TRL's own
  generation. The plugin logs its own rates and names their prefix; this module knows no method;
- LoRA or full fine-tuning, exact ``resume`` (:mod:`safevlm.train.resume`; checkpoints fall between
  rollouts), ``accelerate launch`` (a plain ``GRPOTrainer``),
  and ``safevlm_training.json`` with the settings and the reward curves.

Data is validated before a model is loaded: a bad line stops the run in a second,
naming the file and the line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from safevlm.data.prompts import get_wrapper
from safevlm.data.provenance import DataCard, TrainingRecord
from safevlm.data.sample import SYSTEM_PROMPT_KEY, Sample
from safevlm.errors import ConfigError, DataError
from safevlm.models.training_record import prompt_wrapper_of
from safevlm.rewards import RewardConfig, RewardScore, get_scorer
from safevlm.train.grpo_settings import GRPOSettings

log = logging.getLogger(__name__)

SELECTED = "selected.jsonl"


# --- prompts --------------------------------------------------------------------------------

@dataclass
class PromptSet:
    """GRPO prompts: TRL rows, the samples behind them (by uid), and what was left out."""

    rows: list[dict[str, Any]]
    samples: dict[str, Sample]
    path: Path
    left_out: dict[str, int]
    wrapper: str | None


def prompt_messages(sample: Sample, wrapper: str | None) -> list[dict[str, Any]]:
    """The conversational prompt TRL expects (the image block is added by TRL in the first user turn)."""
    messages = []
    if sample.metadata.get(SYSTEM_PROMPT_KEY):
        messages.append({"role": "system", "content": str(sample.metadata[SYSTEM_PROMPT_KEY])})
    messages.append({"role": "user", "content": get_wrapper(wrapper).apply(sample.text)})
    return messages


def prompts_file(data: str | Path) -> Path:
    p = Path(data)
    if p.is_dir():
        p = p / SELECTED
    if not p.is_file():
        raise ConfigError(f"GRPO prompts {p} not found (give a folder written by `safevlm safer select` or a "
                          "sample JSONL file)")
    return p


def load_prompts(data: str | Path, wrapper: str | None, image_roots: list[str] | None = None) -> PromptSet:
    """Read and check every prompt (images included) before any model is loaded.

    Multi-turn samples and samples whose label is disputed (``metadata.ambiguous``) are
    left out and counted; a sample needs exactly one image or none, confined by its real
    path to the prompts' folder, the data root and ``image_roots``
    (:func:`safevlm.train.sft_data.confine_image`).
    """
    from safevlm.data.jsonl import read_samples
    from safevlm.data.sample import check_image
    from safevlm.train import sft_data

    path = prompts_file(data)
    roots = sft_data.image_roots(path, image_roots or [])
    rows, samples, left_out = [], {}, {"multi_turn": 0, "ambiguous": 0}
    for k, s in enumerate(read_samples(path), start=1):
        if s.history:
            left_out["multi_turn"] += 1
            continue
        if s.metadata.get("ambiguous"):
            left_out["ambiguous"] += 1
            continue
        if len(s.images) > 1:
            raise DataError(path, f"{len(s.images)} images; GRPO prompts take one image or none", line=k)
        for ref in s.images:
            if ref.path is not None:
                # read_samples already resolved the path against the file's folder: confine it as it stands
                # (joined to that folder again, a relative data path would be doubled)
                ref.path = str(sft_data.confine_image(path, k, os.path.abspath(ref.path), roots))
                check_image(ref.path)
        if s.uid in samples:
            raise DataError(path, f"duplicate sample {s.uid}", line=k)
        samples[s.uid] = s
        rows.append({"prompt": prompt_messages(s, wrapper), "uid": s.uid,
                     **({"image": s.images[0].path} if s.images else {})})
    if not rows:
        raise DataError(path, "no usable prompts (single-turn, not ambiguous)")
    if any("image" in r for r in rows) and not all("image" in r for r in rows):
        raise DataError(path, "some prompts have an image and some do not; put text-only prompts in their own file")
    return PromptSet(rows, samples, path, left_out, wrapper)


def prompt_dataset(prompts: PromptSet):
    from datasets import Dataset, Image

    ds = Dataset.from_list(prompts.rows)
    return ds.cast_column("image", Image()) if "image" in ds.column_names else ds


# --- reward ---------------------------------------------------------------------------------

class RewardAdapter:
    """The one TRL reward function: the structured reward for each completion, components logged.

    TRL calls it with the completions and the dataset columns (``uid``) as keywords.
    Returns ``overall`` per completion, ``None`` where the scorer failed (TRL leaves such a
    completion out of its group's baseline and gives it no advantage).
    """

    __name__ = "safevlm_reward"

    def __init__(self, scorer: Any, samples: dict[str, Sample], eos_ids: set[int]):
        self.scorer = scorer
        self.samples = samples
        self.eos_ids = eos_ids
        self.last: list[RewardScore] = []
        self.failures = 0
        #: the rollout plugin's logger of its own rows' columns (:meth:`RolloutPlugin.log_rows`), if any
        self.log_rows: Callable[[list[RewardScore], dict[str, Any], Callable[[str, float], None]], None] | None = None

    def score(self, uids: list[str], texts: list[str], completion_ids: list[list[int]]) -> list[RewardScore]:
        truncated = [not ids or ids[-1] not in self.eos_ids for ids in completion_ids]
        return self.scorer.score([self.samples[u] for u in uids], texts, truncated=truncated)

    def __call__(self, prompts: list[Any], completions: list[Any], completion_ids: list[list[int]], uid: list[str],
                 log_metric: Callable[[str, float], None] | None = None, **kwargs: Any) -> list[float | None]:
        texts = [c[-1]["content"] if isinstance(c, list) else str(c) for c in completions]
        scores = self.score(uid, texts, completion_ids)
        self.last = scores
        failed = sum(not s.ok for s in scores)
        self.failures += failed
        if log_metric is not None:
            log_components(scores, log_metric)
            log_metric("reward/judge_failures", float(failed))
            if self.log_rows is not None:  # a rollout plugin's rows carry its own columns
                self.log_rows(scores, kwargs, log_metric)
        return [s.overall for s in scores]


def log_components(scores: list[RewardScore], log_metric: Callable[[str, float], None]) -> None:
    """Each component's mean, and the shares gated, malformed and flagged unsafe."""
    ok = [s for s in scores if s.ok]
    if not ok:
        return
    for name in ok[0].components:
        log_metric(f"reward/{name}", sum(s.components[name] for s in ok) / len(ok))
    log_metric("reward/gated", sum(s.gated for s in ok) / len(ok))
    log_metric("reward/malformed", sum(bool(s.malformed) for s in ok) / len(ok))
    log_metric("reward/unsafe", sum(s.unsafe for s in ok) / len(ok))
    log_metric("reward/penalty", sum(sum(s.penalties.values()) for s in ok) / len(ok))


# --- trainer --------------------------------------------------------------------------------

class RolloutPlugin(Protocol):
    """Replaces TRL's generation: a ``GRPOTrainer`` subclass and its ``rollout_func``.

    ``name`` is recorded as the run's ``rollout``; the rows it returns may carry columns of its
    own, which :meth:`log_rows` turns into metrics under ``metric_prefixes`` (kept in the history).
    """

    name: str
    metric_prefixes: tuple[str, ...]

    def trainer_class(self) -> type: ...

    def rollout_func(self, prompts: list[Any], trainer: Any) -> dict[str, Any]: ...

    def log_rows(self, scores: list[RewardScore], columns: dict[str, Any],
                 log_metric: Callable[[str, float], None]) -> None: ...


def grpo_config(settings: GRPOSettings, out: str | Path, suppress_tokens: list[int]):
    import torch
    from trl import GRPOConfig
    from trl.import_utils import is_vllm_available

    on_gpu = torch.cuda.is_available()
    use_vllm = settings.use_vllm and on_gpu and is_vllm_available()
    extra = {"steps_per_generation": settings.steps_per_generation} if settings.steps_per_generation else {}
    return GRPOConfig(
        output_dir=str(out), learning_rate=settings.learning_rate, lr_scheduler_type=settings.lr_scheduler_type,
        warmup_steps=settings.warmup_ratio, weight_decay=settings.weight_decay, max_grad_norm=settings.max_grad_norm,
        num_train_epochs=settings.num_train_epochs, max_steps=settings.max_steps,
        num_generations=settings.num_generations, per_device_train_batch_size=settings.per_device_train_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps, **extra,
        max_completion_length=settings.max_completion_length, temperature=settings.temperature,
        top_p=settings.top_p, top_k=0, beta=settings.beta, epsilon=settings.epsilon, loss_type=settings.loss_type,
        scale_rewards=settings.scale_rewards, mask_truncated_completions=settings.mask_truncated_completions,
        bf16=settings.bf16 and on_gpu, use_cpu=not on_gpu, activation_checkpointing=settings.gradient_checkpointing,
        use_vllm=use_vllm, vllm_mode=settings.vllm_mode, seed=settings.seed, data_seed=settings.seed,
        logging_steps=settings.logging_steps, save_strategy="steps", save_steps=settings.save_steps,
        save_total_limit=settings.save_total_limit, report_to=settings.report_to or "none",
        remove_unused_columns=False, disable_tqdm=True, deepspeed=settings.deepspeed,
        generation_kwargs={"suppress_tokens": suppress_tokens} if suppress_tokens else None)


def build_trainer(model: Any, processor: Any, dataset: Any, reward: RewardAdapter, settings: GRPOSettings,
                  out: str | Path, *, rollout: RolloutPlugin | None = None, callbacks: list[Any] | None = None):
    """A configured ``GRPOTrainer`` (or the rollout's subclass); tests use it to run single steps."""
    import os

    from trl import GRPOTrainer

    from safevlm.models.families import get_family, model_vision_token_ids
    from safevlm.train.base import lora_config

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is experimental in TRL 1.x
    cls = rollout.trainer_class() if rollout is not None else GRPOTrainer
    args = grpo_config(settings, out, model_vision_token_ids(model, processor))
    kwargs = {"rollout_func": rollout.rollout_func} if rollout is not None else {}
    return cls(model=model, reward_funcs=[reward], args=args, train_dataset=dataset, processing_class=processor,
               peft_config=lora_config(settings, get_family(model.config)) if settings.mode == "lora" else None, callbacks=callbacks, **kwargs)


def _check_family(model: str) -> None:
    """A family TRL's GRPO cannot train stops here, before the weights load, saying why."""
    from transformers import AutoConfig

    from safevlm.models.families import get_family
    from safevlm.models.loading import resolve_model_path

    path = resolve_model_path(model)
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError):
        return  # load_for_training reports a missing or broken checkpoint
    family = get_family(config, source=path)
    if family.grpo_unsupported:
        raise ConfigError(f"{model}: GRPO cannot train the {family.name} family: {family.grpo_unsupported}. "
                          "SFT works for it (safevlm train sft); see docs/models.md")


def _history(trainer: Any, prefixes: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The logged steps: TRL's loss, reward and KL, each reward component, and the rollout plugin's
    metrics (its ``prefixes``)."""
    keep = ("loss", "reward", "reward_std", "frac_reward_zero_std", "kl", "completions/mean_length",
            "completions/clipped_ratio")
    out = []
    for h in trainer.state.log_history:
        if "reward" in h or "loss" in h:
            row = {"step": h.get("step")}
            row.update({k: v for k, v in h.items() if k in keep or k.startswith(("reward/", "rewards/", *prefixes))})
            out.append(row)
    return out


def run_grpo(model: str, data: str | Path, out: str | Path, settings: GRPOSettings, *, reward: str = "oracle",
             prompt_wrapper: str | None = None, resume: bool | str = False, callbacks: list[Any] | None = None,
             rollout: Callable[[PromptSet, RewardAdapter, GRPOSettings], RolloutPlugin] | None = None,
             reward_opts: dict[str, Any] | None = None, scorer: Any | None = None) -> dict[str, Any]:
    """Train with GRPO and save to ``out``; return the training record (also ``out/safevlm_training.json``).

    ``prompt_wrapper``: how prompts are wrapped; default: as the starting model was
    fine-tuned (its ``safevlm_training.json``). ``rollout``: a factory
    ``rollout(prompts, reward, settings) -> RolloutPlugin`` (e.g.
    :func:`safevlm.methods.safer.rollout.reflective_rollout`); None is TRL's own generation.
    ``scorer``: a ready scorer object (:class:`safevlm.rewards.Scorer`) instead of the
    ``reward`` spec, for rewards written in Python.
    """
    from safevlm.models.loading import resolve_model_path
    from safevlm.train.base import load_for_training, train_and_save
    from safevlm.train.resume import find_checkpoint

    out = Path(out)
    find_checkpoint(out, resume)  # a missing checkpoint fails before the data and the model load
    wrapper = prompt_wrapper if prompt_wrapper is not None else prompt_wrapper_of(model)
    prompts = load_prompts(data, wrapper, settings.image_roots)  # before the model: a data error costs a second
    if scorer is not None:
        reward = getattr(scorer, "name", type(scorer).__name__)
    else:
        scorer = get_scorer(reward, RewardConfig(**settings.reward), **(reward_opts or {}))
    _check_family(model)
    m, processor = load_for_training(model, settings)
    m.config._name_or_path = resolve_model_path(model)  # TRL rebuilds the KL reference model from here
    gen_cfg = m.generation_config
    eos = gen_cfg.eos_token_id if gen_cfg.eos_token_id is not None else processor.tokenizer.eos_token_id
    reward_fn = RewardAdapter(scorer, prompts.samples, set(eos if isinstance(eos, (list, tuple)) else [eos]))
    plugin = rollout(prompts, reward_fn, settings) if rollout is not None else None
    reward_fn.log_rows = getattr(plugin, "log_rows", None)
    trainer = build_trainer(m, processor, prompt_dataset(prompts), reward_fn, settings, out, rollout=plugin,
                            callbacks=callbacks)
    result, wall = train_and_save(trainer, processor, out, resume=resume, quiet=bool(callbacks))
    history = _history(trainer, tuple(getattr(plugin, "metric_prefixes", ())))
    rewards = [h["reward"] for h in history if "reward" in h]
    record = TrainingRecord.from_dict({
        "method": "grpo", "base_model": model, "base_model_path": resolve_model_path(model), "mode": settings.mode,
        "rollout": plugin.name if plugin is not None else "plain", "reward": reward, "settings": settings.to_dict(),
        "data": {"path": str(prompts.path), "prompts": len(prompts.rows), "left_out": prompts.left_out,
                 **_selection_summary(prompts.path)},
        "prompt_wrapper": get_wrapper(wrapper).to_dict(),
        "global_steps": trainer.state.global_step, "train_loss": result.training_loss,
        "first_reward": rewards[0] if rewards else None, "last_reward": rewards[-1] if rewards else None,
        "judge_failures": reward_fn.failures, "wall_s": round(wall, 2),
        "s_per_step": round(wall / max(1, trainer.state.global_step), 3), "history": history,
    })
    record.write(out)
    from safevlm.train.model_card import write_model_card

    write_model_card(out, record)
    return record.to_dict()


def _selection_summary(path: Path) -> dict[str, Any]:
    card = DataCard.read(path.parent) if path.name == SELECTED else None
    if card is None:
        return {}
    return {"selection": {k: card.get(k) for k in ("pool", "policy", "k", "box", "counts")}}
