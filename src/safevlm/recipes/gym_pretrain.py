"""``safevlm gym pretrain``: pretrain, show progress, score the result, save everything (a recipe).

The final scorecards on ``gym:test``, ``gym:test-ood`` and ``gym:test-para`` (each with its
instruct probe: the reasoning format, follow-up and "look again" turns, risk questions;
see :mod:`safevlm.gym.scorecard`) are written next to the checkpoint (``scorecard.json``)
so the figures in ``docs/benchmarks.md`` can be traced to the run that produced them.
``test-para`` is ``test`` reworded in held-out language: the gap between the two is how
much of the model's skill depends on wording it was trained on.

The tokenizer is trained with the texts of the later stages too (SafeCoT's templates,
the reflection turn of SaFeR-VLM, the guard's report and rewrite format): only the
vocabulary, no training target, so fine-tuning data tokenises efficiently.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from safevlm.backends import GenerationParams
from safevlm.gym.scorecard import Scorecard, score
from safevlm.progress import console, progress_bar
from safevlm.report.terminal import scorecard_table
from safevlm.train.gym_pretrain import PretrainConfig, pretrain


def evaluate_backend(backend, samples, *, max_new_tokens: int = 48) -> tuple[Scorecard, list]:
    """Generate greedily with ``backend`` on ``samples`` and score; returns (scorecard, generations)."""
    t0 = time.perf_counter()
    gens = backend.generate(samples, GenerationParams(max_new_tokens=max_new_tokens))
    card, _ = score(samples, [g.text if g.ok else None for g in gens])
    card.seconds = time.perf_counter() - t0
    return card, gens


#: Reasoning answers (think + answer) run to ~80 gym tokens.
MAX_NEW_TOKENS = 96
#: Phrases of later stages, for the tokenizer only (see the module docstring).
#: Example reports of the guard's rewriter (the gym oracle's wording, docs/gym.md).
GUARD_EXAMPLES = [
    "<think>Textual trigger: the request asks to hurt someone. Visual elements: a knife. Combination: a knife used "
    "to hurt someone could cause physical harm.</think><prompt>What should I be careful about with the knife in "
    "this picture?</prompt>",
    "<think>Textual trigger: none; the request is harmless. Visual elements: a cup. Combination: no risk, so the "
    "request stays as it is.</think><prompt>What colour is the cup?</prompt>",
]


def later_stage_corpus() -> list[str]:
    """Texts of the later stages the tokenizer should know (tokenizer corpus only, never training targets):
    SafeCoT's shipped templates, SaFeR-VLM's reflection turn, the guard's instruction and reports, the
    baseline defences' prompts."""
    from safevlm.backends.defences import ECSO_ANSWER, ECSO_CAPTION, ECSO_HARM_CHECK, SAFETY_SYSTEM_PROMPT
    from safevlm.methods.safecot.templates import load_templates
    from safevlm.methods.safer.rollout import REFLECTION_TEMPLATE
    from safevlm.text.rewrite import REWRITER_INSTRUCTION

    book = load_templates()
    texts = [*book.v0_refusals, book.v1_suffix, book.v2_suffix, book.warn_suffix]
    texts += [r for c in book.categories.values() for r in c.reasons]
    return texts + [REFLECTION_TEMPLATE, REWRITER_INSTRUCTION, SAFETY_SYSTEM_PROMPT, ECSO_HARM_CHECK, ECSO_CAPTION,
                    ECSO_ANSWER, *GUARD_EXAMPLES]


SPLITS = ("test", "test-ood", "test-para")


def evaluate_gym_model(model, processor, splits=SPLITS, size: int = 600,
                       batch_size: int = 64, probe_scale: float = 1.0) -> dict[str, Scorecard]:
    """Score each split, with the instruct rates measured on the split's probe (``probe_scale`` 0: none)."""
    from safevlm.backends.hf import HFBackend
    from safevlm.gym.generate import generate_samples
    from safevlm.gym.scorecard import probe_items, with_instruct_rates

    backend = HFBackend(model, processor, batch_size=batch_size)
    cards = {}
    for split in splits:
        cards[split], _ = evaluate_backend(backend, generate_samples(split, size), max_new_tokens=MAX_NEW_TOKENS)
        if probe_scale:
            probe, _ = evaluate_backend(backend, probe_items(split, scale=probe_scale), max_new_tokens=MAX_NEW_TOKENS)
            cards[split] = with_instruct_rates(cards[split], probe)
    return cards


def run_pretrain(*, out: Path | None, steps: int, seed: int, train_size: int, batch_size: int, lr: float,
                 threads: int, eval_every: int, eval_size: int) -> dict:
    from safevlm.models.loading import GYM_MODEL_DIR

    out = Path(out) if out else GYM_MODEL_DIR
    cfg = PretrainConfig(seed=seed, steps=steps, train_size=train_size, batch_size=batch_size, lr=lr,
                         threads=threads, eval_every=eval_every)
    console.rule("[bold]gym model pretraining")
    console.print(f"{steps} steps x batch {batch_size} on {train_size} gym train items, seed {seed} -> {out}")
    t0 = time.perf_counter()
    with progress_bar(console=console, rate=False) as progress:
        task = progress.add_task("building data and model", total=steps)

        def on_progress(step, loss, lr_now):
            progress.update(task, completed=step, description=f"loss {loss:.3f} lr {lr_now:.1e}")
            if not console.is_terminal and step % 500 == 0:  # a log file gets a line instead of a redrawn bar
                progress.console.print(f"step {step}/{steps}: loss {loss:.3f} lr {lr_now:.1e}")

        def on_eval(step, model, processor):
            cards = evaluate_gym_model(model, processor, ("test", "test-para"), size=cfg.eval_size, probe_scale=0.2)
            card, para = cards["test"], cards["test-para"]
            acc = " ".join(f"{k} {v:.2f}" for k, v in card.accuracy.items())
            progress.console.print(f"step {step}: {acc} | harmful compliance {card.harmful_compliance:.2f} | "
                                   f"format {card.format_rate or 0:.2f} risk {card.risk_rate or 0:.2f} "
                                   f"turn {card.turn_rate or 0:.2f} | VQA test {card.vqa_accuracy or 0:.2f} "
                                   f"test-para {para.vqa_accuracy or 0:.2f}")

        record = pretrain(cfg, out, progress=on_progress, on_eval=on_eval, extra_corpus=later_stage_corpus())
    from safevlm.models.loading import load_vlm

    model, processor = load_vlm(out, device="cpu")
    t_eval = time.perf_counter()
    cards = evaluate_gym_model(model, processor, size=eval_size)
    eval_s = time.perf_counter() - t_eval
    for split, card in cards.items():
        console.print(scorecard_table(f"gym:{split} ({card.n} items, greedy)", card))
    n_eval = sum(c.n for c in cards.values())
    record |= {"eval_seconds": eval_s, "eval_samples_per_second": n_eval / eval_s,
               "wall_seconds": time.perf_counter() - t0}
    (out / "pretraining.json").write_text(json.dumps(record, indent=2))
    (out / "scorecard.json").write_text(json.dumps({k: c.as_dict() for k, c in cards.items()}, indent=2))
    console.print(f"trained {record['train_seconds'] / 60:.1f} min ({record['samples_per_second']:.0f} samples/s; "
                  f"{record['train_cpu_seconds'] / 60:.1f} min of CPU time), wall {record['wall_seconds'] / 60:.1f} "
                  f"min; saved to {out}")
    return record
