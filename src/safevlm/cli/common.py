"""Shared CLI pieces: the console, option types, and turning errors into messages."""

from __future__ import annotations

import errno
import functools
import logging
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.markup import escape

from safevlm.errors import SafeVLMError
from safevlm.progress import console, err_console

__all__ = ["MODEL_SPECS_HELP", "WORK_FAILED", "DataRootOpt", "GuardFailOpenOpt", "RequestTimeoutOpt", "RetriesOpt",
           "SpecOpt", "TrustCodeOpt", "TrustHooksOpt", "console", "err_console", "friendly_errors", "remote_options",
           "setup_logging"]

#: Every model spec form, for the help of each --model that takes any backend (safevlm.backends.SPEC_FORMS).
MODEL_SPECS_HELP = ("gym, hf:PATH_OR_ID, openai:BASE_URL#MODEL, mock:refuse|comply|echo|error|FILE, "
                    "guard:REWRITER>TARGET (VLMGuard-R1 rewriter in front of any model) or "
                    "defence:safety-prompt|ecso>TARGET")

DataRootOpt = Annotated[Path | None, typer.Option("--data-root", help="Folder with one sub-folder per benchmark "
                                                     "(default: $SAFEVLM_DATA_ROOT, the config file, ~/.cache/safevlm/benchdata).")]
SpecOpt = Annotated[list[Path] | None, typer.Option("--spec", help="Extra benchmark spec YAML file or folder (repeatable).")]
TrustCodeOpt = Annotated[bool, typer.Option("--trust-code", "--trust-hooks", help="Run your own Python named by "
                                            "the command, a benchmark spec or a run directory: spec hooks, "
                                            "FILE.py:FUNCTION judges (off by default, like trust_remote_code; also "
                                            "trust_code: true in the config file or SAFEVLM_TRUST_CODE=1).")]
TrustHooksOpt = TrustCodeOpt  # its older name
RequestTimeoutOpt = Annotated[float | None, typer.Option("--request-timeout", min=0.1, help="Remote (openai:) "
                                                         "backends: seconds one attempt of a request may take "
                                                         "(default 120, or request_timeout in the config file).")]
RetriesOpt = Annotated[int | None, typer.Option("--retries", min=0, help="Remote (openai:) backends: retries of a "
                                                "request that timed out or got 429/5xx (default 3, or retries in the config file).")]
GuardFailOpenOpt = Annotated[bool, typer.Option("--guard-fail-open", help="guard: specs: when the rewriter fails, "
                                                "send the request unrewritten instead of refusing (the default "
                                                "fails closed).")]


def remote_options(timeout: float | None, retries: int | None, guard_fail_open: bool = False) -> dict:
    """Backend options from ``--request-timeout``, ``--retries`` and ``--guard-fail-open`` (unset: none)."""
    out = {"timeout_s": timeout, "max_retries": retries, "on_failure": "original" if guard_fail_open else None}
    return {k: v for k, v in out.items() if v is not None}


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)], force=True)


#: OSErrors that are the machine's state, not a bug: shown as one line naming the path.
ENVIRONMENT_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG,
                                errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR})
INTERRUPTED = 130  # the shell's code for "ended by Ctrl-C" (128 + SIGINT)
WORK_FAILED = 1  # the command ran but its work failed (e.g. most generations failed); 2 is bad input


#: how libraries that do not raise OSError report a full disk (safetensors, torch.save)
_DISK_FULL = re.compile(r"No space left on device|os error 28|StorageFull|file write failed", re.IGNORECASE)


def friendly_errors(fn=None, *, on_interrupt: str = "interrupted"):
    """Print errors a person can fix as one red line instead of a traceback.

    safevlm's own errors and a full disk, read-only or forbidden path exit 2, naming the
    path: the file the error names, else the command's ``--out`` (a write that fails on a
    full disk often names no file, and safetensors and torch report it in their own
    exception types); Ctrl-C prints ``on_interrupt`` and exits 130 at once (what finished
    is on disk already: run files are appended and flushed batch by batch).
    """
    if fn is None:
        return functools.partial(friendly_errors, on_interrupt=on_interrupt)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        out = kwargs.get("out")
        try:
            return fn(*args, **kwargs)
        except SafeVLMError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc
        except OSError as exc:
            if exc.errno not in ENVIRONMENT_ERRNOS:
                raise
            where = f"{exc.filename}: " if exc.filename else f"writing under {out}: " if out else ""
            err_console.print(f"[bold red]error:[/] {where}{exc.strerror or exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc
        except Exception as exc:  # a full disk as safetensors (SafetensorError) or torch.save (RuntimeError) say it
            if not _DISK_FULL.search(str(exc)):
                raise
            where = f"writing under {out}: " if out else ""
            err_console.print(f"[bold red]error:[/] {where}no space left on device ({str(exc)[:200]})",
                              highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc
        except KeyboardInterrupt:
            err_console.print(f"[yellow]{on_interrupt}[/]", highlight=False)
            raise typer.Exit(INTERRUPTED) from None

    return wrapper
