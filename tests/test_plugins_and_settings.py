"""User-code references and the generic settings resolver (presets, YAML, dotted overrides)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from safevlm.config import parse_assignments
from safevlm.errors import ConfigError
from safevlm.plugins import load_callable
from safevlm.train.settings import resolve_settings


def test_load_callable_from_a_file_and_a_module(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text("CALLS = []\nCALLS.append(1)\ndef double(x):\n    return 2 * x\n")
    fn = load_callable("mine.py:double", base_dir=tmp_path, what="hook", trust=True)
    assert fn(4) == 8
    assert load_callable(f"{f}:double", trust=True) is fn  # the file is imported once per process
    assert load_callable("json:dumps", trust=True)([1]) == "[1]"
    assert load_callable("safevlm.gym:bench_hook") is not None  # safevlm's own code needs no trust
    with pytest.raises(ConfigError, match=r"hook 'mine.py:triple': .*mine.py has no function 'triple'; it defines: double"):
        load_callable("mine.py:triple", base_dir=tmp_path, what="hook", trust=True)
    with pytest.raises(ConfigError, match="file .*nope.py not found"):
        load_callable("nope.py:f", base_dir=tmp_path, trust=True)
    with pytest.raises(ConfigError, match="expected 'module:function'"):
        load_callable("no_colon")
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom at import')\n")
    with pytest.raises(ConfigError, match="failed to import .*boom at import"):
        load_callable("broken.py:f", base_dir=tmp_path, trust=True)


def test_parse_assignments_reads_yaml_values():
    assert parse_assignments(["lr=1e-4", "flag=true", "names=[a,b]", "reward.weights.safety=0.3", "s=cpu"]) == {
        "lr": 1e-4, "flag": True, "names": ["a", "b"], "reward.weights.safety": 0.3, "s": "cpu"}
    with pytest.raises(ConfigError, match="--opt 'x': expected KEY=VALUE"):
        parse_assignments(["x"], "--opt")


@dataclass
class Toy:
    preset: str = "auto"
    lr: float = 1e-6
    steps: int = -1
    use_x: bool = True
    targets: list[str] = field(default_factory=lambda: ["q", "v"])
    weights: dict[str, float] = field(default_factory=lambda: {"safety": 0.2, "help": 0.4})
    cap: int | None = None


PRESETS = {"gpu": {}, "cpu": {"lr": 3e-3, "use_x": False, "weights": {"help": 0.5}}}


def test_layers_presets_file_overrides_and_dotted_keys(tmp_path):
    s = resolve_settings(Toy, PRESETS, "cpu")
    assert (s.preset, s.lr, s.use_x, s.weights) == ("cpu", 3e-3, False, {"safety": 0.2, "help": 0.5})
    cfg = tmp_path / "c.yaml"
    cfg.write_text("steps: 10\nweights: {extra: 1}\ncap: null\n")
    s = resolve_settings(Toy, PRESETS, "cpu", cfg, ["weights.safety=0.9", "targets=[a,b,c]", "cap=4"], lr=None)
    assert s.steps == 10 and s.cap == 4 and s.targets == ["a", "b", "c"] and s.lr == 3e-3
    assert s.weights == {"safety": 0.9, "help": 0.5, "extra": 1}  # merged, not replaced
    assert resolve_settings(Toy, PRESETS, "gpu", overrides={"cap": None}).cap is None


def test_errors_name_the_setting_and_suggest(tmp_path):
    with pytest.raises(ConfigError, match="unknown training setting 'stesp' in override; did you mean 'steps'"):
        resolve_settings(Toy, PRESETS, "cpu", overrides=["stesp=3"])
    with pytest.raises(ConfigError, match="setting steps: expected a whole number"):
        resolve_settings(Toy, PRESETS, "cpu", overrides=["steps=2.5"])
    with pytest.raises(ConfigError, match="setting use_x: expected true/false"):
        resolve_settings(Toy, PRESETS, "cpu", overrides=["use_x=maybe"])
    with pytest.raises(ConfigError, match="unknown preset 'tpu'"):
        resolve_settings(Toy, PRESETS, "tpu")
