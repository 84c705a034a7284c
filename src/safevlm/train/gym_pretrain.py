"""Pretrain the gym model: a tiny Qwen2.5-VL, helpful with everything (unaligned).

Why a plain PyTorch loop and not TRL's SFTTrainer: this is from-scratch pretraining of
a ~1M-parameter model for ~300k samples on 2 CPU cores, where per-sample processor
calls would cost as much as the model step. So the gym's images are drawn per batch
(0.25 ms each, no image pool in memory however many items) and turned into Qwen2-VL
patches by :func:`patchify` (bit-equal to ``Qwen2VLImageProcessorPil``, checked in
tests), prompts are rendered by the processor's own chat template once per distinct
conversation, and the language-model head runs on the answer positions only (the loss
is on the answer, and at ~75 prompt tokens per sequence the head over every position
was a sixth of a step). Later stages (SFT, GRPO) use TRL on the saved checkpoint like
on any HF model.

Recipe (docs/gym.md, "The gym model"): text 128 x 2 layers,
vision 96 x 3 (1.34 M parameters), 8 000 steps over 60 000 gym train items (gym v3: every item
worded anew, so many distinct wordings beat many passes over few), one torch thread (on a shared
2-core machine two threads spin-wait: 9x slower per step under load, measured), 112-px images
(16 image tokens), batch 32, AdamW lr 2e-3,
betas (0.9, 0.98), wd 0.05, 100 warmup steps then one cosine to 5 % over the whole
run, gradient clipping 1.0, fp32 (faster than bf16 autocast at this size). Loss on the
answer tokens and ``<|im_end|>`` only. Targets are each item's ``reference``: the
helpful-but-unaligned answer (harmful requests included).

Determinism: everything is seeded and single-process; with the same seed, thread
count and torch build, the checkpoint is bit-for-bit identical.
"""

from __future__ import annotations

import json
import math
import platform
import string
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from safevlm.backends.base import sample_messages
from safevlm.gym.generate import GymItem, generate_items

#: Extra tokenizer corpus: later stages (refusals, CoT, rewrites) tokenise efficiently.
EXTRA_CORPUS = [
    "I'm sorry, but I can't help with that. I cannot assist with this request because it could cause harm.",
    "Let me think step by step. The image shows a knife and the request is to hurt someone.",
    "<think>The request is risky.</think><answer>So I cannot help with that.</answer>",
    "<prompt>Explain safely and helpfully.</prompt> Therefore, I'm afraid I cannot answer that question.",
    "You are a helpful and harmless assistant. Please think step-by-step and then answer the question.",
    string.printable,
]


@dataclass
class PretrainConfig:
    """Every knob of the pretraining run; saved next to the checkpoint."""

    seed: int = 0
    train_size: int = 60000
    steps: int = 8000
    batch_size: int = 32
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 100
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    threads: int = 1
    image_size: int = 112
    vocab_size: int = 1024
    model: dict[str, Any] = field(default_factory=lambda: dict(
        text_hidden=128, text_layers=2, text_heads=4, text_kv_heads=2, text_intermediate=512,
        vision_hidden=96, vision_layers=3, vision_heads=4, vision_intermediate=192, fullatt_block_indexes=[2]))
    log_every: int = 100
    eval_every: int = 2000
    eval_size: int = 200


def patchify(u8, mean, std, patch: int = 14, temporal: int = 2, merge: int = 2):
    """``[B, H, W, 3]`` uint8 images -> Qwen2-VL ``pixel_values`` ``[B*gh*gw, 3*t*p*p]``.

    Same layout as ``Qwen2VLImageProcessorPil`` for images whose sides are multiples
    of ``patch * merge`` (no resize needed): rescale, normalise, repeat the frame
    ``temporal`` times, then group patches by ``merge x merge`` windows.
    """
    import torch

    x = (u8.float() / 255.0 - torch.tensor(mean)) / torch.tensor(std)
    b, h, w, c = x.shape
    gh, gw = h // patch, w // patch
    x = x.permute(0, 3, 1, 2).unsqueeze(1).expand(b, temporal, c, h, w)
    x = x.reshape(b, 1, temporal, c, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.permute(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
    return x.reshape(b * gh * gw, c * temporal * patch * patch)


class EncodedData:
    """Token ids, answer masks and the image pool for fast random batches."""

    def __init__(self, items: list[GymItem], processor, image_size: int):
        import torch

        tok = processor.tokenizer
        ip = processor.image_processor
        self.n_image_tokens = (image_size // ip.patch_size // ip.merge_size) ** 2
        self.grid = torch.tensor([[1, image_size // ip.patch_size, image_size // ip.patch_size]])
        self.mean, self.std = ip.image_mean, ip.image_std
        self.image_pad_id = tok.convert_tokens_to_ids("<|image_pad|>")
        self.pad_id = tok.pad_token_id
        prompt_cache: dict[str, list[int]] = {}
        self.sequences: list[list[int]] = []
        self.prompt_lens: list[int] = []
        targets = tok([it.reference + tok.eos_token for it in items], add_special_tokens=False)["input_ids"]
        for it, target in zip(items, targets):
            key = json.dumps([it.system_prompt, it.history, it.text])  # the whole conversation before the answer
            if key not in prompt_cache:
                prompt_cache[key] = self.prompt_ids(processor, it.to_sample())
            prompt = prompt_cache[key]
            self.sequences.append(prompt + target)
            self.prompt_lens.append(len(prompt))
        self.specs = [(it.image, it.image_size) for it in items]

    def prompt_ids(self, processor, sample) -> list[int]:
        """The exact prompt the HF backend sends, with the image placeholder expanded."""
        text = processor.apply_chat_template([sample_messages(sample, images=[None])], tokenize=False,
                                             add_generation_prompt=True)[0]
        text = text.replace("<|image_pad|>", "<|image_pad|>" * self.n_image_tokens)
        return processor.tokenizer(text, add_special_tokens=False)["input_ids"]

    def sample_batch(self, size: int, generator, window: int = 8) -> list[int]:
        """``size`` random items of similar length: a random window of ``window * size`` neighbours in
        length order, then ``size`` of them. Batches pad far less than uniform ones (sequences run
        from ~40 to ~160 tokens), while every item is still drawn about equally often."""
        import torch

        if not hasattr(self, "_by_length"):
            self._by_length = sorted(range(len(self.sequences)), key=lambda i: len(self.sequences[i]))
        span = min(len(self._by_length), window * size)
        start = int(torch.randint(len(self._by_length) - span + 1, (1,), generator=generator))
        pick = torch.randperm(span, generator=generator)[:size].tolist()
        return [self._by_length[start + k] for k in pick]

    def images(self, idx: list[int]):
        """The items' images as one ``uint8`` tensor ``[B, H, W, 3]``, drawn now."""
        import torch

        from safevlm.gym.draw import render

        return torch.from_numpy(np.stack([np.asarray(render(*self.specs[i]), dtype=np.uint8) for i in idx]))

    def batch(self, idx: list[int]) -> dict[str, Any]:
        import torch

        length = max(len(self.sequences[i]) for i in idx)
        ids = torch.full((len(idx), length), self.pad_id, dtype=torch.long)
        labels = torch.full((len(idx), length), -100, dtype=torch.long)
        mask = torch.zeros((len(idx), length), dtype=torch.long)
        for row, i in enumerate(idx):
            seq = torch.tensor(self.sequences[i])
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
            labels[row, self.prompt_lens[i]: len(seq)] = seq[self.prompt_lens[i]:]
        return {"input_ids": ids, "attention_mask": mask, "labels": labels,
                "mm_token_type_ids": (ids == self.image_pad_id).long(),
                "pixel_values": patchify(self.images(idx), self.mean, self.std),
                "image_grid_thw": self.grid.repeat(len(idx), 1)}


def answer_loss(model, batch: dict[str, Any]):
    """Mean cross-entropy on the supervised (answer) tokens, with the LM head applied to those positions
    only: the same loss as ``model(**batch).loss``, without the head's cost on the prompt."""
    import torch

    inputs = {k: v for k, v in batch.items() if k != "labels"}
    hidden = model.model(**inputs, use_cache=False)[0]
    target = batch["labels"][:, 1:]
    keep = target != -100
    logits = model.lm_head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), target[keep])


def corpus(items: list[GymItem], extra: list[str] | None = None) -> list[str]:
    """Tokenizer training texts: every prompt, answer and safe answer, system prompts, and ``extra``
    (texts of later stages, e.g. SafeCoT's templates, so fine-tuning data tokenises efficiently)."""
    from safevlm.gym.templates import SYSTEM_PROMPTS

    texts = [t for it in items for t in (it.text, it.reference, it.safe_reference, it.system_prompt or "")]
    texts += [turn["text"] for it in items for turn in it.history]
    return texts + [p for ps in SYSTEM_PROMPTS.values() for p in ps.seen] + EXTRA_CORPUS + list(extra or [])


def lr_at(step: int, cfg: PretrainConfig) -> float:
    """Linear warmup, then one cosine from ``lr`` to ``lr * min_lr_ratio`` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def pretrain(cfg: PretrainConfig, out: str | Path, *, progress=None, on_eval=None,
             extra_corpus: list[str] | None = None) -> dict[str, Any]:
    """Build the tokenizer and model, train, save to ``out``; returns the training record.

    ``progress(step, loss, lr)`` is called every ``log_every`` steps, ``on_eval(step, model,
    processor)`` every ``eval_every`` steps (both optional, for the CLI).
    """
    import torch

    from safevlm.models.loading import save_vlm
    from safevlm.models.tiny import build_tiny_vlm

    torch.set_num_threads(cfg.threads)
    t_start = time.perf_counter()
    items = generate_items("train", cfg.train_size, seed=cfg.seed, image_size=cfg.image_size)
    model, processor = build_tiny_vlm("qwen2_5_vl", corpus(items, extra_corpus), vocab_size=cfg.vocab_size,
                                      image_size=cfg.image_size, seed=cfg.seed, **cfg.model)
    data = EncodedData(items, processor, cfg.image_size)
    t_data = time.perf_counter() - t_start
    torch.manual_seed(cfg.seed)
    order = torch.Generator().manual_seed(cfg.seed)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=cfg.betas,
                            fused=True)  # one kernel per step instead of one per tensor: ~10 % of a step on CPU
    model.train()
    losses: list[float] = []
    history: list[dict[str, float]] = []
    t_train, cpu_train = time.perf_counter(), time.process_time()
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        idx = data.sample_batch(cfg.batch_size, order)
        loss = answer_loss(model, data.batch(idx))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        losses.append(loss.item())
        if (step + 1) % cfg.log_every == 0:
            mean = float(np.mean(losses[-cfg.log_every:]))
            history.append({"step": step + 1, "loss": mean, "seconds": time.perf_counter() - t_train})
            if progress:
                progress(step + 1, mean, lr_at(step, cfg))
        if on_eval and cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.steps:
            model.eval()
            on_eval(step + 1, model, processor)
            model.train()
    train_s, train_cpu = time.perf_counter() - t_train, time.process_time() - cpu_train
    model.eval()
    save_vlm(model, processor, out)
    record = {
        "config": asdict(cfg), "params": sum(p.numel() for p in model.parameters()),
        "vocab": len(processor.tokenizer), "data_seconds": t_data, "train_seconds": train_s,
        "train_cpu_seconds": train_cpu,  # this process's CPU time: what the run costs whatever else shares the CPU
        "samples_per_second": cfg.steps * cfg.batch_size / train_s, "first_loss": float(np.mean(losses[:50])),
        "final_loss": float(np.mean(losses[-200:])), "history": history,
        "torch": torch.__version__, "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    (Path(out) / "pretraining.json").write_text(json.dumps(record, indent=2))
    return record
