"""``safevlm guard synth``: VLMGuard-R1's rewriter data (docs/methods.md, "VLMGuard-R1").

The rewriter is trained with ``safevlm train sft``; the guard is used through the model
spec ``guard:REWRITER>TARGET`` in ``eval``, ``generate``, ``chat`` and ``serve``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from safevlm.cli.common import DataRootOpt, SpecOpt, console, friendly_errors
from safevlm.errors import ConfigError
from safevlm.progress import progress_bar

app = typer.Typer(help="VLMGuard-R1: synthesize rewriter training data (docs/methods.md).", no_args_is_help=True)


@app.command("synth")
@friendly_errors
def synth_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (train.jsonl + data card).")],
    runs: Annotated[list[Path] | None, typer.Option("--runs", help="An evaluation run folder (repeat: two or more "
                                                    "runs of the same benchmark, e.g. a base and a SafeCoT model).")] = None,
    judge: Annotated[str, typer.Option("--judge", help="Which judge's verdicts in the runs decide safe vs unsafe.")] = "oracle",
    bench: Annotated[list[str] | None, typer.Option("--bench", help="Benchmarks whose items carry reference responses "
                                                    "(reference; metadata.safe_reference on risky items).")] = None,
    teacher: Annotated[str, typer.Option("--teacher", help="Any model spec, or oracle (gym items).")] = "oracle",
    templates: Annotated[Path | None, typer.Option("--templates", help="YAML overriding the stage prompts.")] = None,
    benign_ratio: Annotated[float, typer.Option("--benign-ratio", min=0.0, help="Benign items per risky item.")] = 1.0,
    max_items: Annotated[int | None, typer.Option("--max-items", min=1, help="Use a seeded subset of N pairs.")] = None,
    holdout: Annotated[float, typer.Option("--holdout", min=0.0, max=0.9)] = 0.1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    system_turns: Annotated[bool, typer.Option("--system-turns/--no-system-turns", help="Also teach each kept item's "
                                               "system prompt as a benign request (the guard reads every turn).")] = True,
    data_root: DataRootOpt = None, spec: SpecOpt = None,
):
    """Pairs -> hindsight analysis -> causal report -> rewrite, validated; writes the rewriter's SFT set."""
    from safevlm.methods.guard import SynthConfig, pairs_from_references, pairs_from_runs, synthesize

    if not runs and not bench:
        raise ConfigError("give --runs RUN --runs RUN (evaluation runs to pair) or --bench NAME (reference responses)")
    pairs, counts = [], {}
    sources = [str(r) for r in runs or []] + list(bench or [])
    if runs:
        p, c = pairs_from_runs(runs, judge, data_root=data_root)
        pairs += p
        counts.update(c)
    for ref in bench or []:
        from safevlm.bench import load_benchmark

        res = load_benchmark(ref, data_root=data_root, extra_specs=spec)
        p, c = pairs_from_references(res.samples)
        pairs += p
        for k, v in c.items():
            counts[k] = counts.get(k, 0) + v
    console.print("pairs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    cfg = SynthConfig(teacher=teacher, templates=str(templates) if templates else None, benign_ratio=benign_ratio,
                      max_items=max_items, holdout=holdout, seed=seed, batch_size=batch_size, sources=sources,
                      system_turns=system_turns)
    with progress_bar(console=console) as bar:
        task = bar.add_task("teacher stages", total=None)
        card = synthesize(pairs, cfg, out, progress=lambda n: bar.advance(task, n))
    c = card["counts"]
    console.print(f"{c['kept']} examples ({c['train']} train, {c['heldout']} held out), {c['rejected']} rejected; "
                  f"data card: {out / 'README.md'}")
    console.print(f"train the rewriter: safevlm train sft --model gym --data {out} --out runs/rewriter")
