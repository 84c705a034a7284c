"""Loading user code named by a string: ``module:function`` or ``path/to/file.py:function``.

Benchmark hooks and judges (and any future user reward, backend or teacher) can be the
user's own Python; this is the one place that turns such a reference into a callable,
with errors that name the file and what it does define, and **the one trust gate**:
code from outside safevlm (a user file or another package; ``safevlm.*`` always runs)
is imported only when the user trusts it, like Hugging Face's ``trust_remote_code``:
``--trust-code`` on the command line (``trust_code=True`` from Python), or
``trust_code: true`` in the user's config file / ``SAFEVLM_TRUST_CODE=1``
(:func:`safevlm.config.trust_code`). What names the code never grants trust: a
benchmark spec, a data file or a run directory's ``config.json`` can name a judge, and
resuming that run still needs the flag. ``tests/test_trust.py`` checks that nothing
else in safevlm imports code from a path or a name.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safevlm import config
from safevlm.errors import ConfigError

TRUST_HINT = ("pass --trust-code (trust_code=True from Python), or set trust_code: true in your safevlm config "
              "file or SAFEVLM_TRUST_CODE=1")


class UntrustedCode(ConfigError):
    """User code was named but is not trusted (see the module docstring)."""


def needs_trust(ref: str) -> bool:
    """Whether ``ref`` names code from outside safevlm (a user file or another package)."""
    return not is_builtin(ref)


def check_trusted(ref: str, *, trust: bool | None = None, what: str = "user code", source: str | None = None
                  ) -> None:
    """:class:`UntrustedCode` unless ``ref`` is safevlm's own code or trusted (``trust``; None: the user's config)."""
    if not needs_trust(ref) or (trust if trust is not None else config.trust_code()):
        return
    where = f" (named in {source})" if source else ""
    raise UntrustedCode(f"{what} {ref!r}{where} is Python from outside safevlm and runs only when you trust it: "
                        f"{TRUST_HINT}")


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


def load_callable(ref: str, *, base_dir: Path | None = None, what: str = "user code", trust: bool | None = None,
                  source: str | None = None) -> Callable[..., Any]:
    """The callable ``ref`` names, once the trust gate lets it through (module docstring).

    Args:
        ref: ``module:function`` (an importable module) or ``path/to/file.py:function``.
        base_dir: where a relative ``.py`` path is resolved (default: the working directory).
        what: how errors name the thing being loaded (``hook 'x.py:read'``, ``judge``...).
        trust: the user's ``--trust-code`` (None: their config file or environment).
        source: where the reference was found (a spec file, a run's config.json), for the error.
    """
    module_part, colon, func = ref.rpartition(":")
    if not colon or not module_part or not func:
        raise ConfigError(f"{what} {ref!r}: expected 'module:function' or 'path/to/file.py:function'")
    check_trusted(ref, trust=trust, what=what, source=source)
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
