"""Shared CLI pieces: the console, option types, and turning errors into messages."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.logging import RichHandler

from safevlm.errors import SafeVLMError
from safevlm.progress import console, err_console

__all__ = ["DataRootOpt", "SpecOpt", "TrustHooksOpt", "console", "err_console", "friendly_errors", "setup_logging"]

DataRootOpt = Annotated[Optional[Path], typer.Option("--data-root", help="Folder with one sub-folder per benchmark "
                                                     "(default: $SAFEVLM_DATA_ROOT, the config file, ~/.cache/safevlm/benchdata).")]
SpecOpt = Annotated[Optional[list[Path]], typer.Option("--spec", help="Extra benchmark spec YAML file or folder (repeatable).")]
TrustHooksOpt = Annotated[bool, typer.Option("--trust-hooks", help="Run the Python hooks of user benchmark specs "
                                             "(off by default, like trust_remote_code; also trust_hooks: true in "
                                             "the config file or SAFEVLM_TRUST_HOOKS=1).")]


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)], force=True)


def friendly_errors(fn):
    """Print safevlm's own errors as one red line and exit 2, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SafeVLMError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc

    return wrapper
