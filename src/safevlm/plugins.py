"""Loading user code named by a string: ``module:function`` or ``path/to/file.py:function``.

Benchmark hooks, judges and reward functions can all be the user's own Python; this
is the one place that turns such a reference into a callable, with errors that name
the file and what it does define.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safevlm.errors import ConfigError


def is_file_ref(ref: str) -> bool:
    """``path/to/file.py:function`` (as opposed to ``module:function`` or a built-in name)."""
    file_part, colon, func = ref.rpartition(":")
    return bool(colon and func and file_part.endswith(".py"))


def is_builtin(ref: str) -> bool:
    """``safevlm.x:function``: code shipped with safevlm (as opposed to a user file or another package)."""
    module_part, colon, _ = ref.rpartition(":")
    return bool(colon) and not module_part.endswith(".py") and (module_part == "safevlm"
                                                               or module_part.startswith("safevlm."))


def _module_from_file(path: Path, what: str) -> Any:
    name = f"safevlm_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:  # loaded once per process: a hook file imported twice would run twice
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{what}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user file can raise anything; report it with the file name
        del sys.modules[name]
        raise ConfigError(f"{what}: {path} failed to import ({type(exc).__name__}: {exc})") from exc
    return module


def load_callable(ref: str, *, base_dir: Path | None = None, what: str = "user code") -> Callable[..., Any]:
    """The callable ``ref`` names.

    Args:
        ref: ``module:function`` (an importable module) or ``path/to/file.py:function``.
        base_dir: where a relative ``.py`` path is resolved (default: the working directory).
        what: how errors name the thing being loaded (``hook 'x.py:read'``, ``judge``...).
    """
    module_part, colon, func = ref.rpartition(":")
    if not colon or not module_part or not func:
        raise ConfigError(f"{what} {ref!r}: expected 'module:function' or 'path/to/file.py:function'")
    if module_part.endswith(".py"):
        path = Path(module_part).expanduser()
        path = (base_dir / path if base_dir is not None and not path.is_absolute() else path).resolve()
        if not path.is_file():
            raise ConfigError(f"{what} {ref!r}: file {path} not found")
        module = _module_from_file(path, f"{what} {ref!r}")
        where = str(path)
    else:
        try:
            module = importlib.import_module(module_part)
        except ImportError as exc:
            raise ConfigError(f"{what} {ref!r}: cannot import module {module_part!r} ({exc})") from exc
        where = module_part
    fn = getattr(module, func, None)
    if fn is None or not callable(fn):
        known = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise ConfigError(f"{what} {ref!r}: {where} has no function {func!r}; it defines: "
                          f"{', '.join(known) or 'nothing callable'}")
    return fn
