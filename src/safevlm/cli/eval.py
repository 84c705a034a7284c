"""``safevlm eval``: evaluate a model on benchmarks into a resumable run directory.

Thin wrapper over :func:`safevlm.eval.evaluate` / :func:`safevlm.eval.rejudge`:
parsing here, work there. Re-running the same command resumes; the same command with
another ``--judge`` re-judges the stored responses without generating.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from safevlm.backends import GenerationParams
from safevlm.cli.common import DataRootOpt, SpecOpt, console, err_console, friendly_errors
from safevlm.errors import ConfigError

HEADLINE = ("crr", "car", "over_refusal", "accuracy", "asr", "mcqa_accuracy")


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _thresholds(values: list[str] | None) -> dict[str, float] | None:
    if not values:
        return None
    from safevlm.eval import DEFAULT_THRESHOLDS

    out = dict(DEFAULT_THRESHOLDS)
    for item in values:
        key, sep, val = item.partition("=")
        try:
            out[key.strip()] = float(val)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise ConfigError(f"--threshold {item!r}: expected KEY=NUMBER, e.g. safety=2")
    return out


def _cell(m: dict[str, Any] | None) -> str:
    if m is None:
        return "[dim]-[/]"
    return f"{m['value']:.3f} [dim]({m['low']:.2f}-{m['high']:.2f}, n={m['n']})[/]"


def results_table(results: dict[str, Any]) -> Table:
    """Headline metrics per benchmark (primary judge) with 95 % intervals."""
    table = Table(title=f"{results['run']['model']} (primary judge first per benchmark)")
    table.add_column("benchmark", no_wrap=True)
    table.add_column("n", justify="right")
    for name in HEADLINE:
        table.add_column(name, justify="right")
    table.add_column("errors", justify="right")
    rows = [(f"{escape(b)} [dim]{escape('[' + str(v['primary_judge']) + ']')}[/]", v)
            for b, v in results["benchmarks"].items()]
    rows.append(("[bold]overall[/]", results["overall"]))
    for label, block in rows:
        errs = block["generation_errors"] + sum(block["judge_errors"].values())
        table.add_row(label, str(block["n"]), *(_cell(block["metrics"].get(k)) for k in HEADLINE),
                      f"[yellow]{errs}[/]" if errs else "0")
    return table


@friendly_errors
def eval_cmd(out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (resumed when it exists).")],
             model: Annotated[str | None, typer.Option("--model", "-m", help="gym, hf:PATH_OR_ID, openai:BASE_URL"
                                                       "#MODEL or mock:refuse|comply|echo|error|FILE (default: the "
                                                       "run directory's).")] = None,
             bench: Annotated[list[str] | None, typer.Option("--bench", "-b", help="NAME[:VARIANT][,NAME...] "
                                                             "(repeatable; default: the run directory's).")] = None,
             judge: Annotated[list[str] | None, typer.Option("--judge", "-j", help="Judge NAME[,NAME...], primary "
                                                             "first (default: gym oracle,refusal; else refusal).")] = None,
             limit: Annotated[int | None, typer.Option("--limit", help="At most N samples per benchmark.", min=1)] = None,
             batch_size: Annotated[int | None, typer.Option("--batch-size", help="Samples per generate call (local) "
                                                            "or requests in flight (openai).", min=1)] = None,
             max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", help="Default 256 (or the "
                                                                "run directory's).", min=1)] = None,
             temperature: Annotated[float | None, typer.Option("--temperature", help="0 = greedy (default).",
                                                               min=0.0)] = None,
             top_p: Annotated[float | None, typer.Option("--top-p", help="Default 1.", min=0.0, max=1.0)] = None,
             seed: Annotated[int | None, typer.Option("--seed", help="Sampling seed.")] = None,
             max_image_side: Annotated[int | None, typer.Option("--max-image-side", min=1)] = None,
             device: Annotated[str | None, typer.Option("--device", help="hf: auto, cpu, cuda...")] = None,
             dtype: Annotated[str | None, typer.Option("--dtype", help="hf: auto, float32, bfloat16...")] = None,
             on_missing_image: Annotated[str | None, typer.Option("--on-missing-image", help="skip (default) | "
                                                                  "text_only | error")] = None,
             prompt_wrapper: Annotated[str | None, typer.Option("--prompt-wrapper", help="Wrap prompts as the model "
                                                                "was fine-tuned: safecot, none or a template with "
                                                                "{question} (default: the run directory's, else "
                                                                "none).")] = None,
             threshold: Annotated[list[str] | None, typer.Option("--threshold", help="Rubric threshold KEY=NUMBER "
                                                                 "(repeatable), e.g. safety=2.")] = None,
             rejudge: Annotated[bool, typer.Option("--rejudge", help="Judge stored responses again even where a "
                                                   "verdict is stored (no generation).")] = False,
             overwrite: Annotated[bool, typer.Option("--overwrite", help="Discard the run directory's records and "
                                                     "start again.")] = False,
             as_json: Annotated[bool, typer.Option("--json", help="Print results.json to stdout.")] = False,
             data_root: DataRootOpt = None, spec: SpecOpt = None):
    """Evaluate a model on benchmarks: responses, judge verdicts and metrics with 95 % intervals."""
    from safevlm.eval import evaluate
    from safevlm.eval import rejudge as rejudge_run
    from safevlm.eval.records import CONFIG, read_json

    old = read_json(out / CONFIG) if not overwrite else None
    benches, judges = _split(bench), _split(judge) or None
    if rejudge and not (model or benches) and old is not None:
        if not judges:
            raise ConfigError("--rejudge needs --judge NAME[,NAME...]")
        results = rejudge_run(out, judges, progress=not as_json)
    else:
        model = model or (old or {}).get("model")
        benches = benches or list((old or {}).get("benches") or [])
        if not model or not benches:
            raise ConfigError("give --model and --bench (or --out an existing run directory)")
        if old is not None and judges is None and old.get("judges"):
            judges = list(old["judges"])
        prev = old or {}
        given = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p, "seed": seed}
        generation = {"max_new_tokens": 256, **(prev.get("generation") or {}),
                      **{k: v for k, v in given.items() if v is not None}}
        opts = {"max_image_side": (prev.get("backend_options") or {}).get("max_image_side")}
        opts.update({k: v for k, v in {"max_image_side": max_image_side, "device": device, "dtype": dtype}.items()
                     if v is not None})
        results = evaluate(model, benches, judges, limit if limit is not None else prev.get("limit"), out,
                           generation=GenerationParams(**generation), batch_size=batch_size,
                           backend_options={k: v for k, v in opts.items() if v is not None},
                           on_missing_image=on_missing_image or prev.get("on_missing_image") or "skip",
                           data_root=data_root or prev.get("data_root"),
                           extra_specs=list(spec or prev.get("extra_specs") or []), thresholds=_thresholds(threshold),
                           prompt_wrapper=prompt_wrapper if prompt_wrapper is not None else prev.get("prompt_wrapper"),
                           overwrite=overwrite, force_judges=rejudge, progress=not as_json)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    console.print(results_table(results))
    run = results["run"]
    if run["generation_errors"]:
        err_console.print(f"[yellow]{run['generation_errors']} generation error(s): see 'generation.error' in "
                          f"{out / 'samples.jsonl'}[/]", highlight=False)
    if run["judge_errors"]:
        err_console.print(f"[yellow]{run['judge_errors']} judge error(s), excluded from the metrics[/]",
                          highlight=False)
    console.print(f"wrote {out}/results.json", highlight=False)
