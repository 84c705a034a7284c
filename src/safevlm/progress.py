"""Console output of the library and the recipes: progress bars, spinners, the shared consoles.

Library code never imports the CLI; what it shows a person goes through here (or a
logger). One place for the progress columns, so generation, judging, evaluation, data
building and training look alike: done / total, (samples per second,) elapsed time
and ETA. :func:`progress_bar` draws on stderr by default, so stdout stays clean for
results; ``enabled=False`` gives a silent stand-in with the same methods (library
use, tests).

:data:`console` (stdout: results, tables) and :data:`err_console` (stderr: warnings,
errors) are shared with the CLI. Where output is not a terminal (CI logs, ``make demo
> log``) they are 120 columns wide instead of rich's 80, so tables are not cut.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120
# emoji off: benchmark refs such as vlguard:train: must print as written, not as a :train: emoji
console = Console(width=_WIDTH, emoji=False)
err_console = Console(stderr=True, width=_WIDTH, emoji=False)


class RateColumn(ProgressColumn):
    """Samples per second (rich only has a bytes-per-second column)."""

    def render(self, task: Any) -> Text:
        return Text(f"{task.speed:.2f} samples/s" if task.speed else "- samples/s", style="progress.data.speed")


def columns(rate: bool = True) -> tuple[ProgressColumn, ...]:
    """Description, bar, done/total, [samples/s], elapsed, ETA."""
    return (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            *((RateColumn(),) if rate else ()), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())


class _Silent:
    console = Console(stderr=True, quiet=True)

    def add_task(self, description: str, total: int | None = None, **kw: Any) -> int:
        return 0

    def advance(self, task: int, n: float = 1) -> None:
        pass

    def update(self, task: int, **kw: Any) -> None:
        pass


@contextmanager
def progress_bar(enabled: bool = True, console: Console | None = None, *, rate: bool = True,
                 transient: bool = False) -> Iterator[Any]:
    """A rich :class:`~rich.progress.Progress` (or a silent stand-in when disabled)."""
    if not enabled:
        yield _Silent()
        return
    with Progress(*columns(rate), console=console or Console(stderr=True), transient=transient) as bar:
        yield bar


@contextmanager
def download_bar(enabled: bool = True) -> Iterator[Any]:
    """Bytes done / total, speed and ETA on stderr (downloads: ``safevlm bench fetch``)."""
    if not enabled:
        yield _Silent()
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TextColumn("eta"), TimeRemainingColumn(), console=err_console) as bar:
        yield bar


def status(message: str, *, enabled: bool = True) -> Any:
    """A spinner with ``message`` on stderr while a block runs (a no-op when disabled)."""
    return err_console.status(message, spinner="dots") if enabled else nullcontext()
