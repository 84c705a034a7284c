"""Every progress bar in safevlm: done / total, (samples per second,) elapsed time and ETA.

One place for the columns so generation, judging, evaluation, data building and training
look alike. :func:`progress_bar` draws on stderr by default, so stdout stays clean for
results; ``enabled=False`` gives a silent stand-in with the same methods (library use,
tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


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
