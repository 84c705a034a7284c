"""Shared CLI pieces: the console, option types, and turning errors into messages."""

from __future__ import annotations

import errno
import functools
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.markup import escape

from safevlm.errors import SafeVLMError
from safevlm.progress import console, err_console

__all__ = ["MODEL_SPECS_HELP", "DataRootOpt", "SpecOpt", "TrustHooksOpt", "console", "err_console", "friendly_errors",
           "setup_logging"]

#: Every model spec form, for the help of each --model that takes any backend (safevlm.backends.SPEC_FORMS).
MODEL_SPECS_HELP = ("gym, hf:PATH_OR_ID, openai:BASE_URL#MODEL, mock:refuse|comply|echo|error|FILE, "
                    "guard:REWRITER>TARGET (VLMGuard-R1 rewriter in front of any model) or "
                    "defence:safety-prompt|ecso>TARGET")

DataRootOpt = Annotated[Path | None, typer.Option("--data-root", help="Folder with one sub-folder per benchmark "
                                                     "(default: $SAFEVLM_DATA_ROOT, the config file, ~/.cache/safevlm/benchdata).")]
SpecOpt = Annotated[list[Path] | None, typer.Option("--spec", help="Extra benchmark spec YAML file or folder (repeatable).")]
TrustHooksOpt = Annotated[bool, typer.Option("--trust-hooks", help="Run the Python hooks of user benchmark specs "
                                             "(off by default, like trust_remote_code; also trust_hooks: true in "
                                             "the config file or SAFEVLM_TRUST_HOOKS=1).")]


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)], force=True)


#: OSErrors that are the machine's state, not a bug: shown as one line naming the path.
ENVIRONMENT_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG,
                                errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR})
INTERRUPTED = 130  # the shell's code for "ended by Ctrl-C" (128 + SIGINT)
WORK_FAILED = 1  # the command ran but its work failed (e.g. most generations failed); 2 is bad input


def friendly_errors(fn=None, *, on_interrupt: str = "interrupted"):
    """Print errors a person can fix as one red line instead of a traceback.

    safevlm's own errors and a full disk, read-only or forbidden path (with the
    path) exit 2; Ctrl-C prints ``on_interrupt`` and exits 130 at once (what finished
    is on disk already: run files are appended and flushed batch by batch).
    """
    if fn is None:
        return functools.partial(friendly_errors, on_interrupt=on_interrupt)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SafeVLMError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc
        except OSError as exc:
            if exc.errno not in ENVIRONMENT_ERRNOS:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            err_console.print(f"[bold red]error:[/] {where}{exc.strerror or exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc
        except KeyboardInterrupt:
            err_console.print(f"[yellow]{on_interrupt}[/]", highlight=False)
            raise typer.Exit(INTERRUPTED) from None

    return wrapper
