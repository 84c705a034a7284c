"""``safevlm eval``: evaluate a model on benchmarks into a resumable run directory.

Thin wrapper over :func:`safevlm.eval.evaluate` / :func:`safevlm.eval.rejudge`:
parsing here, work there. Re-running the same command resumes; the same command with
another ``--judge`` re-judges the stored responses without generating.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from safevlm.backends.base import DEFAULT_MAX_NEW_TOKENS, MAX_FAILED_SHARE
from safevlm.cli.common import (
    MODEL_SPECS_HELP,
    WORK_FAILED,
    DataRootOpt,
    GuardFailOpenOpt,
    RequestTimeoutOpt,
    RetriesOpt,
    SpecOpt,
    TrustCodeOpt,
    console,
    err_console,
    friendly_errors,
    remote_options,
)
from safevlm.config import parse_assignments
from safevlm.errors import ConfigError
from safevlm.report.official import official_table
from safevlm.report.terminal import results_table, run_notes, selection_lines


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _thresholds(values: list[str] | None) -> dict[str, float] | None:
    if not values:
        return None
    from safevlm.eval import DEFAULT_THRESHOLDS

    out = dict(DEFAULT_THRESHOLDS)
    for item in values:
        if "=" not in item:
            raise ConfigError(f"--threshold {item!r}: expected KEY=NUMBER, e.g. safety=2")
    for key, val in parse_assignments(values, "--threshold").items():
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            raise ConfigError(f"--threshold {key}={val}: expected KEY=NUMBER, e.g. safety=2")
        out[key] = float(val)
    return out


@friendly_errors(on_interrupt="interrupted; re-run the same command to resume")
def eval_cmd(out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (resumed when it exists).")],
             model: Annotated[str | None, typer.Option("--model", "-m", help=f"{MODEL_SPECS_HELP} (default: the "
                                                       "run directory's).")] = None,
             bench: Annotated[list[str] | None, typer.Option("--bench", "-b", help="NAME[:VARIANT][,NAME...] "
                                                             "(repeatable; default: the run directory's). A bare "
                                                             "NAME is its default variant (bench list), NAME:* "
                                                             "every variant.")] = None,
             judge: Annotated[list[str] | None, typer.Option("--judge", "-j", help="Judge NAME[,NAME...], primary "
                                                             "first (default: gym oracle,refusal; else refusal).")] = None,
             limit: Annotated[int | None, typer.Option("--limit", help="At most N samples per benchmark: a seeded "
                                                       "sample stratified by category, pairs kept whole (see "
                                                       "--limit-mode).", min=1)] = None,
             limit_mode: Annotated[str | None, typer.Option("--limit-mode", help="stratified (default) | first "
                                                            "(the first N in file order).")] = None,
             limit_seed: Annotated[int | None, typer.Option("--limit-seed", help="Seed of the stratified sample "
                                                            "(default 0).")] = None,
             batch_size: Annotated[int | None, typer.Option("--batch-size", help="Samples per generate call (local) "
                                                            "or requests in flight (openai).", min=1)] = None,
             max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", help=f"Default "
                                                                f"{DEFAULT_MAX_NEW_TOKENS} (or the run "
                                                                "directory's).", min=1)] = None,
             temperature: Annotated[float | None, typer.Option("--temperature", help="0 = greedy (default).",
                                                               min=0.0)] = None,
             top_p: Annotated[float | None, typer.Option("--top-p", help="Default 1.", min=0.0, max=1.0)] = None,
             seed: Annotated[int | None, typer.Option("--seed", help="Sampling seed.")] = None,
             max_image_side: Annotated[int | None, typer.Option("--max-image-side", min=1)] = None,
             device: Annotated[str | None, typer.Option("--device", help="hf: auto, cpu, cuda...")] = None,
             dtype: Annotated[str | None, typer.Option("--dtype", help="hf: auto, float32, bfloat16...")] = None,
             on_missing_image: Annotated[list[str] | None, typer.Option("--on-missing-image", help="Items whose "
                                                                        "images are not on disk: skip | text_only | "
                                                                        "error, for every benchmark or per "
                                                                        "benchmark as BENCH=POLICY (repeatable, "
                                                                        "e.g. siuo=text_only; default: the spec's, "
                                                                        "else skip).")] = None,
             prompt_wrapper: Annotated[str | None, typer.Option("--prompt-wrapper", help="Wrap prompts as the model "
                                                                "was fine-tuned: safecot, none or a template with "
                                                                "{question} (default: the run directory's, else "
                                                                "none).")] = None,
             threshold: Annotated[list[str] | None, typer.Option("--threshold", help="Rubric threshold KEY=NUMBER "
                                                                 "(repeatable), e.g. safety=2.")] = None,
             judge_model: Annotated[str | None, typer.Option("--judge-model", help="The model every official "
                                                             "LLM-judge protocol asks: openai:URL#MODEL (GPT-4o, a "
                                                             "vLLM server), hf:PATH, mock:FILE; calls are cached in "
                                                             "the run directory (default: the run directory's; "
                                                             "none: those metrics are reported as not "
                                                             "computed).")] = None,
             parity: Annotated[bool | None, typer.Option("--parity/--no-parity", help="Official scores with the "
                                                         "upstream defects that change numbers reproduced "
                                                         "(default: fixed; docs/benchmark-protocols.md).")] = None,
             safecot_metrics: Annotated[bool | None, typer.Option("--safecot-metrics/--no-safecot-metrics",
                                                                  help="Also report SafeCoT's own metric "
                                                                  "definitions per benchmark.")] = None,
             rejudge: Annotated[bool, typer.Option("--rejudge", help="Judge stored responses again even where a "
                                                   "verdict is stored (no generation).")] = False,
             overwrite: Annotated[bool, typer.Option("--overwrite", help="Discard the run directory's records and "
                                                     "start again.")] = False,
             max_failed_share: Annotated[float, typer.Option("--max-failed-share", help="Exit 1 when more than "
                                                             "this share of the generations failed (0: any; 1: "
                                                             "never).", min=0.0, max=1.0)] = MAX_FAILED_SHARE,
             as_json: Annotated[bool, typer.Option("--json", help="Print results.json to stdout.")] = False,
             request_timeout: RequestTimeoutOpt = None, retries: RetriesOpt = None,
             guard_fail_open: GuardFailOpenOpt = False,
             data_root: DataRootOpt = None, spec: SpecOpt = None, trust_code: TrustCodeOpt = False):
    """Evaluate a model on benchmarks: responses, judge verdicts and metrics with 95 % intervals.

    An existing --out is resumed with its stored settings; options given here change them.
    Nothing is written until the model, the benchmarks, the judges and the benchmarks' official
    protocols resolve. Exit codes:
    0 done, 1 too many generations failed (--max-failed-share), 2 bad input, 130 Ctrl-C.
    """
    from safevlm.eval import evaluate
    from safevlm.eval import rejudge as rejudge_run
    from safevlm.eval.run_dir import CONFIG
    from safevlm.eval.runner import GenerationsFailed

    benches, judges = _split(bench), _split(judge) or None
    official_given = judge_model is not None or parity is not None or safecot_metrics is not None
    if rejudge and not (model or benches or official_given) and (out / CONFIG).is_file() and not overwrite:
        if not judges:
            raise ConfigError("--rejudge needs --judge NAME[,NAME...]")
        results = rejudge_run(out, judges, trust_code=trust_code or None, progress=not as_json)
    else:
        given = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p, "seed": seed}
        options = {"max_image_side": max_image_side, "device": device, "dtype": dtype,
                   **remote_options(request_timeout, retries, guard_fail_open)}
        failed = None
        try:
            results = evaluate(model, benches or None, judges, limit, out, limit_mode=limit_mode,
                               limit_seed=limit_seed, trust_code=trust_code or None,
                               generation={k: v for k, v in given.items() if v is not None}, batch_size=batch_size,
                               backend_options={k: v for k, v in options.items() if v is not None},
                               on_missing_image=on_missing_image or None, data_root=data_root,
                               extra_specs=spec or None, thresholds=_thresholds(threshold),
                               prompt_wrapper=prompt_wrapper, overwrite=overwrite,
                               judge_model=judge_model, parity=parity, safecot_metrics=safecot_metrics,
                               force_judges=rejudge, progress=not as_json, max_failed_share=max_failed_share)
        except GenerationsFailed as exc:
            failed, results = exc, exc.results
        if failed is not None:
            _print(results, out, as_json)
            err_console.print(f"[bold red]error:[/] {escape(str(failed))}", highlight=False, soft_wrap=True)
            raise typer.Exit(WORK_FAILED)
    _print(results, out, as_json)


def _print(results: dict, out: Path, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    console.print(results_table(results))
    official = official_table(results)
    if official is not None:
        console.print(official)
    for line in selection_lines(results):
        console.print(line, highlight=False, soft_wrap=True)
    for line in run_notes(results):
        err_console.print(f"[yellow]{line}[/]", highlight=False, soft_wrap=True)
    run = results["run"]
    if run["generation_errors"]:
        err_console.print(f"[yellow]{run['generation_errors']} generation error(s): see 'generation.error' in "
                          f"{out / 'samples.jsonl'}[/]", highlight=False)
    if run["judge_errors"]:
        err_console.print(f"[yellow]{run['judge_errors']} judge error(s), excluded from the metrics[/]",
                          highlight=False)
        low, high = (results["overall"]["metrics"].get(k) for k in ("asr_lower", "asr_upper"))
        if high and high["judge_errors"]:
            err_console.print(f"[yellow]ASR with the {high['judge_errors']} judge error(s) on unsafe items counted "
                              f"as safe / as harmful: {low['value']:.3f} / {high['value']:.3f}[/]", highlight=False)
    console.print(f"wrote {out}/results.json", highlight=False)
