"""Where safevlm finds data, specs and caches.

Resolution order for each setting: command-line option > environment variable >
config file (``$SAFEVLM_CONFIG`` or ``~/.config/safevlm/config.yaml``) > default.

Config file example::

    data_root: /data/vlm-safety
    bench_paths: [/home/me/my-benchmarks]
    trust_code: false           # run user Python: spec hooks, file judges (--trust-code)
    request_timeout: 120        # remote (openai:) models, judges, teachers, rewards: seconds per attempt
    retries: 3                  # ... and retries after a timeout, 429 or 5xx
    benchmarks:
      mm-safetybench: {image_root: /data/MM-SafetyBench/imgs}
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from safevlm.errors import ConfigError

DEFAULT_DATA_ROOT = Path("~/.cache/safevlm/benchdata").expanduser()
DEFAULT_CACHE_DIR = Path("~/.cache/safevlm").expanduser()


def read_yaml_mapping(path: str | Path, what: str = "config") -> dict[str, Any]:
    """A YAML file holding a mapping (empty file: ``{}``); errors name ``what`` and the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what}: {path} not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what}: {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: {path} must hold a mapping at the top level, got {type(data).__name__}")
    return data


@lru_cache(maxsize=1)
def user_config() -> dict[str, Any]:
    path = Path(os.environ.get("SAFEVLM_CONFIG", "~/.config/safevlm/config.yaml")).expanduser()
    return read_yaml_mapping(path, "safevlm config") if path.is_file() else {}


def data_root(override: str | Path | None = None) -> Path:
    """The folder that holds one sub-folder per benchmark (e.g. ``XSTest/``)."""
    value = override or os.environ.get("SAFEVLM_DATA_ROOT") or user_config().get("data_root")
    return Path(value).expanduser() if value else DEFAULT_DATA_ROOT


def cache_dir() -> Path:
    value = os.environ.get("SAFEVLM_CACHE_DIR") or user_config().get("cache_dir")
    return Path(value).expanduser() if value else DEFAULT_CACHE_DIR


def bench_paths() -> list[Path]:
    """Extra folders or files holding user benchmark specs (``*.yaml``)."""
    paths = [Path(p).expanduser() for p in os.environ.get("SAFEVLM_BENCH_PATH", "").split(os.pathsep) if p]
    paths += [Path(p).expanduser() for p in user_config().get("bench_paths", [])]
    return paths


def trust_code() -> bool:
    """Whether Python from outside safevlm (spec hooks, judges...) may run without ``--trust-code``.

    ``SAFEVLM_TRUST_CODE=1`` or ``trust_code: true`` in the config file (the older names
    ``SAFEVLM_TRUST_HOOKS`` / ``trust_hooks`` are read too); off by default, like Hugging
    Face's ``trust_remote_code``. Only the user's own settings count: nothing in a run
    directory or a data file can turn it on (:mod:`safevlm.plugins`).
    """
    for name in ("SAFEVLM_TRUST_CODE", "SAFEVLM_TRUST_HOOKS"):
        env = os.environ.get(name)
        if env is not None:
            return env.strip().lower() in ("1", "true", "yes", "on")
    cfg = user_config()
    return bool(cfg.get("trust_code", cfg.get("trust_hooks", False)))


trust_hooks = trust_code  # the older name, used by the benchmark layer


def remote_defaults() -> tuple[float, int]:
    """``(timeout_s, max_retries)`` for remote backends wherever they are used (models, judges, teachers,
    rewards) when a command does not set them (``--request-timeout``, ``--retries``):
    ``SAFEVLM_REQUEST_TIMEOUT`` / ``SAFEVLM_RETRIES``, else ``request_timeout`` / ``retries`` in the
    config file, else 120 s and 3 retries."""
    cfg = user_config()
    try:
        timeout = float(os.environ.get("SAFEVLM_REQUEST_TIMEOUT") or cfg.get("request_timeout") or 120.0)
        retries = int(os.environ.get("SAFEVLM_RETRIES") or cfg.get("retries", 3))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"request_timeout / retries: expected numbers ({exc})") from exc
    if timeout <= 0 or retries < 0:
        raise ConfigError(f"request_timeout must be > 0 and retries >= 0, got {timeout} and {retries}")
    return timeout, retries


def benchmark_overrides(name: str) -> dict[str, Any]:
    """Per-benchmark settings from the config file (``root``, ``image_root``...)."""
    return dict((user_config().get("benchmarks") or {}).get(name) or {})


_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def parse_value(raw: str) -> Any:
    """A command-line value read as a YAML scalar or list: ``1e-4``, ``true``, ``[q_proj,v_proj]``, ``cpu``.

    Numbers in exponent form are numbers (YAML 1.1 would read ``1e-4`` as a string).
    """
    if _NUMBER.match(raw.strip()):
        return float(raw) if any(c in raw for c in ".eE") else int(raw)
    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        return raw


def parse_assignments(items: list[str] | tuple[str, ...] | None, what: str = "setting") -> dict[str, Any]:
    """``["lr=1e-4", "lora.r=8"]`` -> ``{"lr": 0.0001, "lora.r": 8}``: the one ``KEY=VALUE`` parser.

    Values are read as YAML (:func:`parse_value`); keys keep their dots (a settings
    resolver may treat them as paths into nested settings). A later key wins.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what} {item!r}: expected KEY=VALUE")
        out[key.strip()] = parse_value(raw.strip())
    return out
