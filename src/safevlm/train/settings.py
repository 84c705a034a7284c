"""The generic settings resolver: preset, then a YAML file, then ``key=value`` overrides.

Every trainer (SFT, GRPO...) describes its settings as a dataclass whose defaults are
the GPU recipe, plus named presets (partial dicts of fields). :func:`resolve_settings`
layers, in order: the preset (``auto``: :func:`auto_preset`), the YAML file, the
command-line overrides, then explicit keyword values (CLI flags).

- Values are coerced to each field's annotated type (``float``, ``int``, ``bool``,
  ``str``, ``list[...]``, ``dict``, ``X | None``), with errors naming the setting.
- A dotted key ``reward.weights.safety=0.3`` sets a value inside a ``dict`` field,
  merged into the preset's and the file's values rather than replacing them.
- An unknown key is an error that lists the known ones.

The resolved dataclass is saved with every checkpoint, so a run can be read back and
repeated exactly.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any, TypeVar

from safevlm.config import parse_assignments, parse_value, read_yaml_mapping
from safevlm.errors import ConfigError

S = TypeVar("S")


def _coerce(name: str, kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        null = value is None or (isinstance(value, str) and value.lower() in ("null", "none"))
        if null and type(None) in typing.get_args(kind):
            return None
        if len(args) == 1:
            return _coerce(name, args[0], value)
        for a in args:
            try:
                return _coerce(name, a, value)
            except ConfigError:
                continue
        raise ConfigError(f"setting {name}: cannot read {value!r} as {kind}")
    if value is None:
        raise ConfigError(f"setting {name} cannot be null")
    try:
        if kind is bool:
            value = parse_value(value) if isinstance(value, str) else value
            if isinstance(value, bool):
                return value
            raise ValueError(f"expected true/false, got {value!r}")
        if kind is float:
            return float(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"expected a whole number, got {value!r}")
            return int(value)
        if kind is str:
            return str(value)
        if origin is list or kind is list:
            (inner,) = typing.get_args(kind) or (str,)
            items = value if isinstance(value, list) else [v for v in str(value).split(",") if v.strip()]
            return [_coerce(name, inner, v) for v in items]
        if origin is dict or kind is dict:
            if not isinstance(value, dict):
                raise ValueError(f"expected a mapping, got {value!r}")
            return dict(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name}: {exc}") from exc
    return value


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    head, _, rest = dotted.partition(".")
    if not rest:
        target[head] = value
        return
    node = target.setdefault(head, {})
    if not isinstance(node, dict):
        raise ConfigError(f"setting {dotted}: {head} is not a mapping")
    _set_dotted(node, rest, value)


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in layer.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def auto_preset(model: str | None) -> tuple[str, str]:
    """The preset ``auto`` stands for, chosen by the machine and the model, and why:

    - CUDA visible: ``gpu`` (the paper's recipe);
    - no CUDA and the gym model (or a fine-tune of its architecture): ``cpu``, the recipe
      measured on the gym (full fine-tuning at a high learning rate: right for a 1 M
      parameter model, harmful for a real one);
    - no CUDA and any other checkpoint (or none named): ``cpu-lora``, the paper's LoRA recipe
      in float32 at batch 1, conservative and slow, never the gym's.
    """
    import torch

    from safevlm.models.loading import is_gym_model

    if torch.cuda.is_available():
        return "gpu", "CUDA is visible"
    if model is not None and is_gym_model(model):
        return "cpu", f"no CUDA, and {model} is the gym model (its recipe was measured on it)"
    what = f"{model} is not the gym model" if model is not None else "no model was named"
    return "cpu-lora", (f"no CUDA, and {what}: the gym's recipe (full fine-tuning, high learning rate) would "
                        "damage a real checkpoint; this is a conservative LoRA recipe (the paper's learning rate, "
                        "float32, a small batch), slow on a CPU (--preset gpu on a machine with a GPU)")


def resolve_settings(cls: type[S], presets: dict[str, dict[str, Any]], preset: str = "auto",
                     config_file: str | Path | None = None,
                     overrides: list[str] | dict[str, Any] | None = None, *, model: str | None = None,
                     **explicit: Any) -> S:
    """Build ``cls`` from ``presets[preset]``, the YAML file, ``overrides`` and ``explicit`` (None ignored).

    ``model``: the checkpoint to be trained, for ``auto`` (:func:`auto_preset`).
    """
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    file_values = read_yaml_mapping(config_file, "training config") if config_file is not None else {}
    over = dict(overrides) if isinstance(overrides, dict) else parse_assignments(overrides, "override")
    chosen = over.pop("preset", None) or explicit.pop("preset", None) or file_values.pop("preset", None) or preset
    if chosen == "auto":
        chosen = auto_preset(model)[0]
    if chosen not in presets:
        raise ConfigError(f"unknown preset {chosen!r}; choose one of auto, {', '.join(presets)}")
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.default_factory is not MISSING and isinstance(default := f.default_factory(), dict):
            values[f.name] = default  # so a dotted override changes one entry, not the whole mapping
    values = _merge(values, presets[chosen])
    explicit = {k: v for k, v in explicit.items() if v is not None}
    for source, layer in (("config file", file_values), ("override", over), ("option", explicit)):
        nested: dict[str, Any] = {}
        for key, value in layer.items():
            top = key.partition(".")[0]
            if top not in known:
                close = difflib.get_close_matches(top, known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ConfigError(f"unknown training setting {key!r} in {source}; {hint}"
                                  f"known: {', '.join(sorted(known))}")
            if "." in key:
                _set_dotted(nested, key, value)
            else:
                nested[key] = value
        for key, value in nested.items():
            value = _coerce(key, hints[key], value)
            is_map = isinstance(value, dict) and isinstance(values.get(key), dict)
            values[key] = _merge(values[key], value) if is_map else value
    if "preset" in known:
        values["preset"] = chosen
    return cls(**values)


def settings_dict(settings: Any) -> dict[str, Any]:
    """The resolved settings as a JSON-ready dict (what ``safevlm_training.json`` records)."""
    return asdict(settings)
