"""SaFeR-VLM's safety-aware rollout on TRL's ``rollout_func`` (docs/methods.md, "SaFeR-VLM:
safety-aware reflective rollout").

Per prompt, G samples from the policy. A sample the critic flags unsafe (by default the
reward's verdict: a refuse or safe_complete item answered without a right call;
:mod:`.critique`) gets a reflection turn: the model sees its own answer and the reviewer's
reason (``reflection.critique=judge``, critique-guided, the default; ``fixed``: one fixed
prompt; ``self``: the model writes its own critique first), and writes a correction.
Unsafe answers are corrected, not discarded. Corrections are what they are, off-policy
samples, so they are trained with care:

1. **verified**: a correction is kept only when the reward scores it, as an answer to
   the *original* prompt, complete (not cut off, well formed), safe (a right call) and
   at least ``reflection.accept`` overall; the others are dropped (the unsafe sample
   stays in its row);
2. **importance-weighted**: the correction replaces the unsafe sample in its row, and
   its behaviour log-probabilities (under the reflection context that produced it) are
   the "old" log-probabilities of the PPO ratio, so its update is weighted by
   pi(correction | original prompt) / mu(correction | reflection) and clipped like any
   off-policy sample (TRL would otherwise train it as if the policy had written it);
3. **measured against the on-policy baseline**: advantages are computed from the
   rewards the policy's own G samples got (the unsafe one included), so a correction
   does not erase its group's signal (replacing an unsafe sample by a good one would
   otherwise make the group uniform), and a correction's advantage is capped at
   ``reflection.advantage_cap``.

Logged each step (via the reward function): the share of samples flagged, the share
corrected, and the reward before and after correction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from safevlm.rewards import RewardScore
from safevlm.methods.safer.critique import (
    CRITIQUE_TEMPLATE,
    REFLECTION_TEMPLATE,
    SELF_CORRECT_TEMPLATE,
    SELF_REFLECT_TEMPLATE,
    get_critic,
)
from safevlm.methods.safer.settings import SaferSettings
from safevlm.train.grpo import PromptSet, RewardAdapter


def sample_completions(model: Any, processor: Any, conversations: list[list[dict[str, Any]]], *, temperature: float,
                       top_p: float, max_new_tokens: int, suppress: list[int], eos_ids: set[int], pad_id: int,
                       chat_template: str | None = None, template_kwargs: dict[str, Any] | None = None
                       ) -> tuple[list[list[int]], list[list[int]], list[list[float]]]:
    """Sample one completion per conversation: ``(prompt_ids, completion_ids, logprobs)``.

    ``prompt_ids`` is exactly the processor's tokenisation of the conversation (TRL
    recomputes the image inputs from it); a completion ends with its end-of-turn token,
    or is cut at ``max_new_tokens``; ``logprobs`` are the sampling distribution's
    (logits / temperature, as TRL computes the policy's).
    """
    import torch

    inputs = processor.apply_chat_template(conversations, chat_template=chat_template, add_generation_prompt=True,
                                           tokenize=True, return_dict=True, return_tensors="pt",
                                           processor_kwargs={"padding": True}, **(template_kwargs or {}))
    inputs = inputs.to(model.device)
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=True, temperature=temperature, top_p=top_p, top_k=0,
                             max_new_tokens=max_new_tokens, suppress_tokens=suppress or None, pad_token_id=pad_id,
                             output_logits=True, return_dict_in_generate=True)
    n_prompt = inputs["input_ids"].shape[1]
    new = out.sequences[:, n_prompt:]
    logits = torch.stack(out.logits, dim=1).float() / temperature
    logps = torch.log_softmax(logits, dim=-1).gather(2, new.unsqueeze(-1)).squeeze(-1)
    prompt_ids, completion_ids, logprobs = [], [], []
    for row in range(new.shape[0]):
        mask = inputs["attention_mask"][row].bool()
        prompt_ids.append(inputs["input_ids"][row][mask].tolist())
        ids = new[row].tolist()
        end = next((k + 1 for k, t in enumerate(ids) if t in eos_ids), len(ids))
        completion_ids.append(ids[:end])
        logprobs.append(logps[row, :end].tolist())
    return prompt_ids, completion_ids, logprobs


class ReflectiveRollout:
    """The rollout plugin for :func:`safevlm.train.grpo.run_grpo` (``--rollout reflective``)."""

    name = "reflective"
    metric_prefixes = ("reflect/",)

    def __init__(self, prompts: PromptSet, reward: RewardAdapter, settings: SaferSettings):
        r = settings.reflection
        self.reward = reward
        self.mode = r.get("critique") or "judge"
        self.template = r.get("template") or {"judge": CRITIQUE_TEMPLATE, "fixed": REFLECTION_TEMPLATE,
                                              "self": SELF_REFLECT_TEMPLATE}[self.mode]
        self.critic = get_critic(r.get("critic"))
        self.max_new_tokens = int(r.get("max_new_tokens") or settings.max_completion_length)
        self.reflect_temperature = float(r.get("temperature", 0.7))
        self.accept = float(r.get("accept", 0.8))
        self.cap = float(r.get("advantage_cap", 1.0))
        self.temperature, self.top_p = settings.temperature, settings.top_p
        self.policy_max_new = settings.max_completion_length
        self.rows: list[dict[str, Any]] = []
        self.batch: dict[str, Any] = {}

    # -- the trainer --------------------------------------------------------------------------

    def trainer_class(self) -> type:
        from trl import GRPOTrainer

        plugin = self

        class ReflectiveGRPOTrainer(GRPOTrainer):
            """TRL's trainer, told which rows hold corrections (see the module docstring)."""

            def _generate_and_score_completions(self, inputs):
                plugin.rows = inputs  # rollout_func gets no dataset columns: it reads the uids here
                return plugin.reweight(self, super()._generate_and_score_completions(inputs))

        return ReflectiveGRPOTrainer

    # -- the rollout --------------------------------------------------------------------------

    def rollout_func(self, prompts: list[list[dict[str, Any]]], trainer: Any) -> dict[str, Any]:
        from safevlm.models.families import model_vision_token_ids

        uids = [row["uid"] for row in self.rows]
        if len(uids) != len(prompts):
            raise RuntimeError(f"reflective rollout: {len(prompts)} prompts but {len(uids)} rows")
        model = trainer.accelerator.unwrap_model(trainer.model)
        processor = trainer.processing_class
        gen = {"suppress": model_vision_token_ids(model, processor), "eos_ids": self.reward.eos_ids,
               "pad_id": processor.tokenizer.pad_token_id, "chat_template": trainer.chat_template,
               "template_kwargs": trainer.chat_template_kwargs}
        prompt_ids, completion_ids, logprobs = sample_completions(
            model, processor, prompts, temperature=self.temperature, top_p=self.top_p,
            max_new_tokens=self.policy_max_new, **gen)
        texts = processor.batch_decode(completion_ids, skip_special_tokens=True)
        scores = self.reward.score(uids, texts, completion_ids)
        reviews = self.critic.review([self.reward.samples[u] for u in uids], texts, scores)
        flagged = [r.flagged for r in reviews]
        corrected = [False] * len(prompts)
        todo = [i for i, f in enumerate(flagged) if f]
        if todo:
            corr_ids, corr_logps = self.correct(model, processor, [prompts[i] for i in todo],
                                                [texts[i] for i in todo], [reviews[i] for i in todo], gen)
            corr_texts = processor.batch_decode(corr_ids, skip_special_tokens=True)
            verdicts = self.reward.score([uids[i] for i in todo], corr_texts, corr_ids)
            for j, i in enumerate(todo):
                if self.verified(verdicts[j]):
                    completion_ids[i], logprobs[i], corrected[i] = corr_ids[j], corr_logps[j], True
        original = [s.overall if s.ok else None for s in scores]
        self.batch = {"corrected": corrected, "original_reward": original, "behaviour_logps": logprobs}
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": logprobs,
                "flagged": flagged, "corrected": corrected, "original_reward": original}

    def correct(self, model: Any, processor: Any, prompts: list[list[dict[str, Any]]], answers: list[str],
                reviews: list[Any], gen: dict[str, Any]) -> tuple[list[list[int]], list[list[float]]]:
        """One correction per flagged answer, sampled after its reflection turn: ``(ids, behaviour log-probs)``."""
        conversations = [p + [_turn("assistant", a), _turn("user", self.reflection_turn(r))]
                         for p, a, r in zip(prompts, answers, reviews, strict=True)]
        if self.mode == "self":  # the policy's own critique, then the request to correct
            _, own_ids, _ = sample_completions(model, processor, conversations, temperature=self.reflect_temperature,
                                               top_p=1.0, max_new_tokens=self.max_new_tokens, **gen)
            own = processor.batch_decode(own_ids, skip_special_tokens=True)
            conversations = [c + [_turn("assistant", o), _turn("user", SELF_CORRECT_TEMPLATE)]
                             for c, o in zip(conversations, own, strict=True)]
        _, ids, logps = sample_completions(model, processor, conversations, temperature=self.reflect_temperature,
                                           top_p=1.0, max_new_tokens=self.max_new_tokens, **gen)
        return ids, logps

    def verified(self, score: Any) -> bool:
        """A correction is kept when, scored as an answer to the original prompt, it is complete, safe and
        at least ``reflection.accept`` overall."""
        return score.ok and not score.unsafe and not score.malformed and (score.overall or 0.0) >= self.accept

    def reflection_turn(self, review: Any) -> str:
        """The user turn after the flagged answer: the reviewer's critique in ``judge`` mode."""
        if self.mode != "judge":
            return self.template
        return self.template.format(critique=review.critique or "The answer is unsafe.")

    # -- after TRL's scoring: the rates, the off-policy corrections ----------------------------

    def log_rows(self, scores: list[RewardScore], columns: dict[str, Any],
                 log_metric: Callable[[str, float], None]) -> None:
        """The rates of this rollout's rows (their ``flagged``, ``corrected`` and ``original_reward``
        columns): flagged, corrected, and the reward before / after correction (``reflect/*``)."""
        if "flagged" in columns:
            log_reflection(scores, columns["flagged"], columns["corrected"], columns["original_reward"], log_metric)

    def reweight(self, trainer: Any, output: dict[str, Any]) -> dict[str, Any]:
        """Advantages against the on-policy baseline; behaviour log-probs as the PPO "old" for corrections."""
        import torch
        from accelerate.utils import gather_object

        corrected = self.batch.get("corrected") or []
        if not any(gather_object([any(corrected)])):
            return output  # nothing off-policy in this batch anywhere: TRL's computation stands
        final = gather_object([s.overall if s.ok else None for s in self.reward.last])
        original = gather_object(list(self.batch["original_reward"]))
        flags = gather_object(list(corrected))
        g = trainer.num_generations
        adv = []
        for start in range(0, len(final), g):
            base = [x for x in original[start:start + g] if x is not None]
            mean = sum(base) / len(base) if base else 0.0
            std = math.sqrt(sum((x - mean) ** 2 for x in base) / max(1, len(base) - 1)) if len(base) > 1 else 0.0
            for k in range(start, start + g):
                r = final[k]
                if r is None:
                    adv.append(0.0)
                    continue
                a = r - mean if trainer.scale_rewards == "none" else (r - mean) / (std + 1e-4)
                adv.append(min(a, self.cap) if flags[k] else a)
        device = output["advantages"].device
        local = slice(trainer.accelerator.process_index * len(corrected),
                      (trainer.accelerator.process_index + 1) * len(corrected))
        output["advantages"] = torch.tensor(adv, dtype=output["advantages"].dtype, device=device)[local]
        width = output["completion_ids"].shape[1]
        behaviour = torch.zeros((len(corrected), width), dtype=torch.float32, device=device)
        for row, lp in enumerate(self.batch["behaviour_logps"]):
            behaviour[row, :len(lp)] = torch.tensor(lp[:width], dtype=torch.float32)
        old = output.get("old_per_token_logps")
        if old is None:  # on-policy rows: their sampling log-probs (the policy that wrote them, before any update)
            output["old_per_token_logps"] = behaviour
        else:
            rows = torch.tensor(corrected, device=device)
            output["old_per_token_logps"] = torch.where(rows.unsqueeze(1), behaviour.to(old.dtype), old)
        return output


def log_reflection(scores: list[RewardScore], flagged: list[bool], corrected: list[bool],
                   original: list[float | None], log_metric: Callable[[str, float], None]) -> None:
    """The reflective rollout's rates: flagged, corrected, and the reward before / after correction."""
    n = max(1, len(flagged))
    log_metric("reflect/flagged", sum(flagged) / n)
    log_metric("reflect/corrected", sum(corrected) / n)
    before = [o for o, c in zip(original, corrected) if c and o is not None]
    after = [s.overall for s, c in zip(scores, corrected) if c and s.overall is not None]
    if before:
        log_metric("reflect/reward_before", sum(before) / len(before))
        log_metric("reflect/reward_after", sum(after) / len(after))


def _turn(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": [{"type": "text", "text": text}]}


def reflective_rollout(prompts: PromptSet, reward: RewardAdapter, settings: SaferSettings) -> ReflectiveRollout:
    """The factory :func:`safevlm.train.grpo.run_grpo` takes as ``rollout``."""
    return ReflectiveRollout(prompts, reward, settings)


def rollout_factory(settings: SaferSettings) -> Callable[..., ReflectiveRollout] | None:
    """What :func:`safevlm.train.grpo.run_grpo` takes as ``rollout`` for ``settings.rollout``: None
    (``plain``, TRL's own generation) or :func:`reflective_rollout`."""
    return reflective_rollout if settings.rollout == "reflective" else None
