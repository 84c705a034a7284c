"""GPU check: Qwen2.5-VL-3B at real size, random weights, bf16, on one GPU (docs/benchmarks.md, "GPU check").

Prepared for the day a GPU is lent; tested on the CPU at tiny size (``--tiny``, tests/test_gpu_check.py).
It measures, each in its own section of one JSON file, with peak GPU memory per section:

- ``build``: the model built from Qwen2.5-VL-3B-Instruct's architecture values (those of
  benchmarks/model_memory.py; the processor, tokenizer and special tokens are safevlm's offline Qwen2.5-VL
  ones, so the vocabulary rows beyond the tokenizer's are never read), parameters and seconds;
- ``generate``: batched generation, ``--gen-batch`` prompts with one image each, ``--gen-tokens`` new tokens
  each (forced: random weights stop anywhere), tokens per second;
- ``sft_lora`` / ``sft_full``: seconds per optimiser step (AdamW, ``--sft-batch`` examples of about
  ``--seq-len`` tokens with one image, loss on every token), LoRA r = 64 on the family's projections and
  full fine-tuning, gradient checkpointing at real size;
- ``grpo``: seconds per step of safevlm's GRPO (TRL's ``GRPOTrainer`` through
  :func:`safevlm.train.grpo.build_trainer`, the ``gpu`` preset with G = 4, ``--grpo-batch`` completions of
  up to ``--grpo-tokens`` tokens per step, the gym oracle's reward on gym:test prompts), with vLLM generation
  in colocate mode when vLLM imports and a CUDA device is there (the section says which), and completion
  tokens per second per GPU: the figure comparable with EasyR1's 1,200 tokens/s/GPU (Qwen2.5-VL-3B, 8xH100).

    python benchmarks/gpu_check.py --out gpu_check.json            # on a GPU
    python benchmarks/gpu_check.py --tiny --out /tmp/gpu_check.json   # anywhere, in seconds

A section that fails records its error and the script exits 1 after writing the file (never 0 on a failure).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch

CHECKPOINT = "Qwen/Qwen2.5-VL-3B-Instruct"


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _reset_peak() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib() -> float | None:
    return round(torch.cuda.max_memory_allocated() / 1024**3, 2) if torch.cuda.is_available() else None


def build(tiny: bool) -> tuple[Any, Any, dict[str, Any]]:
    """(model, processor, facts): tiny random weights on the CPU, or the 3B architecture in bf16 on the GPU."""
    from safevlm.models.tiny import build_tiny_vlm

    t0 = time.perf_counter()
    if tiny:
        model, processor = build_tiny_vlm("qwen2_5_vl", image_size=56)
        model.to(_device())
    else:
        from transformers import Qwen2_5_VLForConditionalGeneration

        cfg, processor = _real_config()
        with torch.device(_device()):
            model = Qwen2_5_VLForConditionalGeneration._from_config(cfg, dtype=torch.bfloat16)
    model.eval()
    _sync()
    n = sum(p.numel() for p in model.parameters())
    return model, processor, {"parameters": n, "dtype": str(next(model.parameters()).dtype),
                              "seconds": round(time.perf_counter() - t0, 2), "peak_gib": _peak_gib()}


def _real_config() -> tuple[Any, Any]:
    """Qwen2.5-VL-3B-Instruct's config (the architecture values of benchmarks/model_memory.py) with safevlm's
    offline processor and its special tokens: a one-layer model of the real text width gives the processor,
    the token ids and the rope sections; the real depths, widths and vocabulary are then set on its config."""
    from transformers import Qwen2_5_VLConfig

    from safevlm.models.tiny import build_tiny_vlm

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from model_memory import CHECKPOINTS

    text, vision = CHECKPOINTS[CHECKPOINT][3]["text_config"], CHECKPOINTS[CHECKPOINT][3]["vision_config"]
    shaped, processor = build_tiny_vlm("qwen2_5_vl", image_size=448, text_hidden=text["hidden_size"], text_layers=1,
                                       text_heads=text["num_attention_heads"],
                                       text_kv_heads=text["num_key_value_heads"], text_intermediate=64,
                                       vision_hidden=64, vision_layers=1, vision_heads=4, vision_intermediate=64,
                                       patch_size=14)
    d = shaped.config.to_dict()
    d["text_config"].update(text, max_position_embeddings=32768)
    d["text_config"].pop("layer_types", None)  # derived again from the real depth
    d["vision_config"].update(vision, window_size=112, fullatt_block_indexes=[7, 15, 23, 31])
    d["tie_word_embeddings"] = True
    return Qwen2_5_VLConfig(**{k: v for k, v in d.items() if k not in ("architectures", "transformers_version")}), \
        processor


def _inputs(processor: Any, batch: int, text: str, answer: str | None = None):
    from PIL import Image

    images = [Image.new("RGB", (448, 448), (40 * k % 255, 90, 160)) for k in range(batch)]
    convs = []
    for _ in range(batch):
        conv = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
        if answer is not None:
            conv.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
        convs.append(conv)
    prompts = [processor.apply_chat_template(c, add_generation_prompt=answer is None, tokenize=False) for c in convs]
    return processor(text=prompts, images=images, return_tensors="pt", padding=True).to(_device())


def generate(model: Any, processor: Any, batch: int, tokens: int) -> dict[str, Any]:
    _reset_peak()
    processor.tokenizer.padding_side = "left"  # generation continues every row from its own last token
    inputs = _inputs(processor, batch, "Describe the image in detail.")
    processor.tokenizer.padding_side = "right"
    _sync()
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=True,
                             pad_token_id=processor.tokenizer.pad_token_id)
    _sync()
    dt = time.perf_counter() - t0
    new = (out.shape[1] - inputs["input_ids"].shape[1]) * batch
    return {"batch": batch, "new_tokens": new, "prompt_tokens": int(inputs["input_ids"].shape[1]),
            "seconds": round(dt, 3), "tokens_per_s": round(new / dt, 1), "peak_gib": _peak_gib()}


def sft_step(model: Any, processor: Any, mode: str, batch: int, seq_len: int, steps: int, tiny: bool) -> dict[str, Any]:
    from safevlm.models.families import get_family
    from safevlm.train.base import lora_config
    from safevlm.train.sft_settings import resolve_sft_settings

    _reset_peak()
    answer = " ".join(["The picture shows a plain coloured square."] * max(1, seq_len // 10))
    inputs = _inputs(processor, batch, "What is in the image?", answer)
    labels = inputs["input_ids"].clone()
    labels[inputs["attention_mask"] == 0] = -100
    target = model
    if mode == "lora":
        from peft import get_peft_model

        settings = resolve_sft_settings("cpu", overrides={"mode": "lora", "lora_r": 64, "lora_alpha": 16})
        target = get_peft_model(model, lora_config(settings, get_family(model.config)))
    if not tiny:
        target.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        target.enable_input_require_grads()
    target.train()
    params = [p for p in target.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    times, losses = [], []
    try:
        for _ in range(steps + 1):  # the first step warms up (kernels, allocator) and is not timed
            _sync()
            t0 = time.perf_counter()
            loss = target(**inputs, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            _sync()
            times.append(time.perf_counter() - t0)
            losses.append(loss.item())
    finally:
        del opt
        if mode == "lora":
            target.unload()  # the base model, without adapters, for the next section; peft froze it
            for p in model.parameters():
                p.requires_grad_(True)
        if not tiny:
            model.gradient_checkpointing_disable()
        model.eval()
    timed = times[1:] or times
    return {"mode": mode, "batch": batch, "tokens_per_example": int(inputs["input_ids"].shape[1]),
            "trainable": sum(p.numel() for p in params), "s_per_step": round(sum(timed) / len(timed), 3),
            "loss_first_last": [round(losses[0], 4), round(losses[-1], 4)], "peak_gib": _peak_gib()}


def grpo_step(model: Any, processor: Any, out: Path, batch: int, tokens: int, steps: int, tiny: bool
              ) -> dict[str, Any]:
    from trl.import_utils import is_vllm_available

    from safevlm.bench import load_benchmark
    from safevlm.data.jsonl import write_samples
    from safevlm.models.loading import save_vlm
    from safevlm.rewards.oracle_reward import OracleScorer
    from safevlm.train.grpo import RewardAdapter, build_trainer, load_prompts, prompt_dataset
    from safevlm.train.grpo_settings import resolve_grpo_settings

    _reset_peak()
    use_vllm = torch.cuda.is_available() and is_vllm_available()
    samples = [s for s in load_benchmark("gym:test").samples if not s.history and not s.metadata.get("ambiguous")]
    write_samples(samples[:max(8, batch)], out / "prompts.jsonl")
    prompts = load_prompts(out / "prompts.jsonl", None)
    if use_vllm:  # vLLM loads the weights from a folder (TRL syncs them after each step)
        save_vlm(model, processor, out / "model")
        model.config._name_or_path = str(out / "model")
    settings = resolve_grpo_settings("cpu" if tiny else "gpu", overrides={
        "num_generations": 4, "per_device_train_batch_size": batch, "gradient_accumulation_steps": 1,
        "steps_per_generation": None, "max_completion_length": tokens, "max_steps": steps + 1, "save_steps": 10**6,
        "logging_steps": 1, "use_vllm": use_vllm, "mode": "full", "beta": 0.0 if tiny else 0.01})
    eos = {processor.tokenizer.convert_tokens_to_ids("<|im_end|>"), processor.tokenizer.eos_token_id}
    reward = RewardAdapter(OracleScorer(), prompts.samples, eos)
    trainer = build_trainer(model, processor, prompt_dataset(prompts), reward, settings, out / "grpo")
    stamps: list[float] = []

    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def on_step_end(self, *_a, **_k):
            _sync()
            stamps.append(time.perf_counter())

    trainer.add_callback(Clock())
    t0 = time.perf_counter()
    trainer.train()
    spans = [b - a for a, b in zip([t0, *stamps[:-1]], stamps, strict=True)][1:]  # first step not timed
    lengths = [h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h][1:]
    s_per_step = sum(spans) / len(spans)
    completion_tokens = sum(lengths) / len(lengths) * batch
    return {"vllm": use_vllm, "vllm_installed": is_vllm_available(), "completions_per_step": batch,
            "max_completion_tokens": tokens, "s_per_step": round(s_per_step, 3),
            "completion_tokens_per_s": round(completion_tokens / s_per_step, 1), "peak_gib": _peak_gib()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="tiny random model on the CPU (the test)")
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    ap.add_argument("--gen-batch", type=int, default=None)
    ap.add_argument("--gen-tokens", type=int, default=None)
    ap.add_argument("--sft-batch", type=int, default=None)
    ap.add_argument("--seq-len", type=int, default=None)
    ap.add_argument("--grpo-batch", type=int, default=None)
    ap.add_argument("--grpo-tokens", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None, help="timed steps per training section")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip (generate,sft_lora,sft_full,grpo)")
    args = ap.parse_args(argv)
    size = ({"gen_batch": 4, "gen_tokens": 8, "sft_batch": 2, "seq_len": 32, "grpo_batch": 8, "grpo_tokens": 8,
             "steps": 1} if args.tiny else
            {"gen_batch": 32, "gen_tokens": 256, "sft_batch": 8, "seq_len": 1024, "grpo_batch": 64, "grpo_tokens": 512,
             "steps": 3})
    size.update({k: v for k, v in vars(args).items() if k in size and v is not None})
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    torch.manual_seed(0)
    report: dict[str, Any] = {"checkpoint_architecture": "tiny qwen2_5_vl" if args.tiny else CHECKPOINT,
                              "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
                              "torch": torch.__version__, "python": platform.python_version(), "settings": size,
                              "date": time.strftime("%Y-%m-%d")}
    failed = False
    model, processor, report["build"] = build(args.tiny)
    with tempfile.TemporaryDirectory() as tmp:
        sections = {
            "generate": lambda: generate(model, processor, size["gen_batch"], size["gen_tokens"]),
            "sft_lora": lambda: sft_step(model, processor, "lora", size["sft_batch"], size["seq_len"], size["steps"],
                                         args.tiny),
            "sft_full": lambda: sft_step(model, processor, "full", size["sft_batch"], size["seq_len"], size["steps"],
                                         args.tiny),
            "grpo": lambda: grpo_step(model, processor, Path(tmp), size["grpo_batch"], size["grpo_tokens"],
                                      size["steps"], args.tiny),
        }
        for name, run in sections.items():
            if name in skip:
                report[name] = {"skipped": True}
                continue
            try:
                report[name] = run()
            except Exception as exc:  # noqa: BLE001 (a failed section is recorded and fails the run; the rest run)
                failed = True
                report[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}
            print(name, json.dumps(report[name])[:300], flush=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
