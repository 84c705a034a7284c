"""Entry point of the ``safevlm`` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from safevlm import __version__
from safevlm.cli import bench, guard, gym, models, safecot, safer
from safevlm.cli import eval as eval_cli
from safevlm.cli import judge as judge_cli
from safevlm.cli import judge_eval as judge_eval_cli
from safevlm.cli import train as train_cli
from safevlm.cli.common import INTERRUPTED, friendly_errors, setup_logging
from safevlm.cli.report import report as report_cmd

app = typer.Typer(name="safevlm", help="Safety alignment toolkit for vision-language models.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
app.add_typer(bench.app, name="bench")
app.add_typer(gym.app, name="gym")
app.add_typer(safecot.app, name="safecot")
app.add_typer(safer.app, name="safer")
app.add_typer(guard.app, name="guard")
app.add_typer(train_cli.app, name="train")
app.command("merge")(train_cli.merge_cmd)
app.command("export", hidden=True)(train_cli.export_cmd)  # the old name of `merge`
app.add_typer(models.app, name="models")
app.command("generate")(models.generate)
app.command("chat")(models.chat)
app.command("serve")(models.serve)
app.command("judge")(judge_cli.judge)
app.command("judge-eval")(judge_eval_cli.judge_eval)
app.command("report")(report_cmd)
app.command("eval")(eval_cli.eval_cmd)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"safevlm {__version__}")
        raise typer.Exit()


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show info logs.")] = False,
          version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                                help="Print the version and exit.")] = False):
    setup_logging(verbose)


@app.command()
def version():
    """Print the safevlm version."""
    typer.echo(__version__)


@app.command()
@friendly_errors
def demo(data_root: bench.DataRootOpt = None,
         out: Annotated[Path, typer.Option("--out", help="Where the demo's run directories go.")] = Path("runs/demo")):
    """The main job on the embedded default (under 30 min on 2 CPU cores; a re-run reuses finished steps).

    1. benchmarks: every variant loaded and every image on disk checked (the inventory table);
    2. the bundled gym model evaluated on gym:test and gym:test-ood, with its report and scorecard;
    3. SafeCoT: v0, v1 and v2 data built from gym:train, one fine-tune per variant, each evaluated;
    4. SaFeR-VLM: QI-Box selection with the SafeCoT-v2 model, then GRPO (plain and reflective rollout);
    5. VLMGuard-R1: a rewriter put in front of the gym model and SafeCoT-v2, beside two training-free defences.

    Then one report of every model: OUT/report/report.html.
    """
    from safevlm.recipes.demo import run_demo

    run_demo(data_root, out)


def main() -> None:
    """The ``safevlm`` console script: :data:`app`, leaving at once after Ctrl-C.

    Interrupted commands have closed their files already (:func:`friendly_errors`);
    the interpreter's normal teardown of torch and transformers would take seconds more.
    """
    try:
        app()
    except SystemExit as exc:
        if exc.code == INTERRUPTED:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(INTERRUPTED)
        raise


if __name__ == "__main__":
    main()
