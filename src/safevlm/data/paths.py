"""Where a data file may point: image paths confined to folders, by their real path.

A path written in a data file (a benchmark record, a training example) is not trusted:
``../../etc/passwd``, an absolute path, or a symbolic link inside an allowed folder
that points elsewhere must not make safevlm open a file outside the folders the data is
allowed to use. Containment is decided on real paths (:func:`os.path.realpath`: every
symbolic link and ``..`` resolved), never on the spelling.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def real(path: str | Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def inside(path: str | Path, root: str | Path) -> bool:
    """Whether ``path`` really is ``root`` or under it (links and ``..`` resolved on both)."""
    p, r = real(path), real(root)
    return p == r or r in p.parents


def within(path: str | Path, roots: Iterable[str | Path]) -> Path | None:
    """The real path of ``path`` when it lies under one of ``roots``, else None."""
    roots = list(roots)
    return real(path) if any(inside(path, r) for r in roots) else None
