"""One trust gate for user code (safevlm.plugins): a run directory never grants trust, and nothing else in
safevlm imports code by path or by name; a full disk is one line naming the path."""

from __future__ import annotations

import ast
import errno
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from safevlm.cli.main import app
from safevlm.errors import ConfigError
from safevlm.eval import evaluate

SRC = Path(__file__).resolve().parents[1] / "src" / "safevlm"
EVIL = "from pathlib import Path\nPath({marker!r}).write_text('imported')\n" \
       "def judge(items):\n    return [{{'refused': True}} for _ in items]\n"


def test_a_judge_file_named_in_a_run_directory_runs_only_with_the_trust_flag(tmp_path):
    run = tmp_path / "run"
    r = CliRunner().invoke(app, ["eval", "-m", "mock:refuse", "-b", "gym:smoke", "--limit", "3", "-o", str(run),
                                 "-j", "refusal"])
    assert r.exit_code == 0, r.output
    marker = tmp_path / "judge-was-imported"
    (run / "evil.py").write_text(EVIL.format(marker=str(marker)))  # a file inside the run directory itself
    cfg = json.loads((run / "config.json").read_text())
    cfg["judges"] = [f"{run / 'evil.py'}:judge"]
    (run / "config.json").write_text(json.dumps(cfg))

    r = CliRunner().invoke(app, ["eval", "-o", str(run)])  # resume: the run's own settings
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "evil.py:judge" in out and f"named in {run / 'config.json'}" in out and "--trust-code" in out
    assert not marker.exists()  # refused before the file was imported
    with pytest.raises(ConfigError, match="trust_code=True"):
        evaluate(out=run, progress=False)
    assert not marker.exists()

    r = CliRunner().invoke(app, ["eval", "-o", str(run), "--trust-code", "--json"])
    assert r.exit_code == 0, r.output
    assert marker.exists() and json.loads(r.output)["run"]["judges"][0].endswith("evil.py:judge")


def test_a_judge_file_given_on_the_command_line_needs_the_flag_too(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "mine.py").write_text(EVIL.format(marker=str(marker)))
    data = tmp_path / "responses.jsonl"
    data.write_text(json.dumps({"response": "no"}) + "\n")
    args = ["judge", "-j", f"{tmp_path / 'mine.py'}:judge", "-i", str(data), "-o", str(tmp_path / "v.jsonl")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and "--trust-code" in r.output and not marker.exists()
    monkeypatch.setenv("SAFEVLM_TRUST_CODE", "1")  # or trust_code: true in the config file
    assert CliRunner().invoke(app, args).exit_code == 0 and marker.exists()


#: importing code by name or path is plugins.py's job; these modules import fixed, internal names only
INTERNAL_IMPORTS = {"models/__init__.py", "models/families.py", "models/processors.py"}
IMPORTERS = {"import_module", "spec_from_file_location", "exec_module", "__import__", "run_path", "run_module",
             "exec", "eval", "load"}


def test_user_code_is_imported_in_one_place_only():
    """Every way of running code by name or path (importlib, runpy, exec, pickle / torch.load) is in
    safevlm.plugins, behind its trust gate, or imports safevlm's and transformers' own fixed names."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "plugins.py" or rel in INTERNAL_IMPORTS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
                if name in IMPORTERS and (owner in ("importlib", "util", "runpy", "pickle", "torch", "")
                                          or name in ("import_module", "spec_from_file_location", "exec_module")):
                    if name == "load" and owner not in ("pickle", "torch"):
                        continue
                    found.append(f"{rel}:{node.lineno}: {owner + '.' if owner else ''}{name}")
    assert found == []


def test_a_full_disk_names_the_path_even_when_the_error_does_not(tmp_path, monkeypatch):
    out = tmp_path / "gen.jsonl"
    real_open = Path.open

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")  # what a write on a full disk raises

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(Path, "open", lambda self, *a, **kw: Full(real_open(self, *a, **kw)) if self == out
                        else real_open(self, *a, **kw))
    r = CliRunner().invoke(app, ["generate", "-m", "mock:refuse", "--bench", "gym:smoke", "--limit", "2", "-o",
                                 str(out)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert f"{out}: No space left on device" in r.output.replace("\n", "")


def test_a_full_disk_during_a_save_names_the_output_folder(capsys):
    """safetensors and torch.save report a full disk in their own exception types, naming no file."""
    import typer
    from safetensors import SafetensorError

    from safevlm.cli.common import friendly_errors

    @friendly_errors
    def save(out: Path):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    with pytest.raises(typer.Exit) as exc:
        save(out=Path("/data/ckpt"))
    assert exc.value.exit_code == 2
    assert "writing under /data/ckpt: no space left on device" in " ".join(capsys.readouterr().err.split())
