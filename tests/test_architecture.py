"""The package layering of docs/architecture.md holds (import-linter contract in pyproject.toml).

A library package importing the CLI, a method importing a recipe, the gym importing a
backend...: any import against the layers fails this test, naming the import chain.
"""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_are_kept(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    assert code == 0, capsys.readouterr().out
