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
    cfg |= {"trust_code": True, "trust_hooks": True}  # a run directory cannot vouch for itself either
    (run / "config.json").write_text(json.dumps(cfg))

    before = _tree(run)
    r = CliRunner().invoke(app, ["eval", "-o", str(run)])  # resume: the run's own settings
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "evil.py:judge" in out and f"named in {run / 'config.json'}" in out and "--trust-code" in out
    assert not marker.exists()  # refused before the file was imported
    assert _tree(run) == before  # and before anything in the run directory was written
    with pytest.raises(ConfigError, match="trust_code=True"):
        evaluate(out=run, progress=False)
    assert not marker.exists()

    # the official judge model it stores is a model spec, never code
    (run / "config.json").write_text(json.dumps({**cfg, "judges": ["refusal"],
                                                 "judge_model": f"{run / 'evil.py'}:judge"}))
    r = CliRunner().invoke(app, ["eval", "-o", str(run)])
    assert r.exit_code == 2 and "--judge-model" in r.output and not marker.exists()
    assert _tree(run) == {**before, "config.json": (run / "config.json").read_bytes()}
    (run / "config.json").write_text(json.dumps(cfg))

    r = CliRunner().invoke(app, ["eval", "-o", str(run), "--trust-code", "--json"])
    assert r.exit_code == 0, r.output
    assert marker.exists() and json.loads(r.output)["run"]["judges"][0].endswith("evil.py:judge")


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_untrusted_judge_file_leaves_nothing_written(tmp_path):
    """A new run naming an untrusted judge file (eval, judge, judge-eval) stops before any file or folder."""
    marker = tmp_path / "imported"
    (tmp_path / "mine.py").write_text(EVIL.format(marker=str(marker)))
    judge = f"{tmp_path / 'mine.py'}:judge"
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"response": "no", "label": "refused"}) + "\n")
    for args, out in ((["eval", "-m", "mock:refuse", "-b", "gym:smoke", "--limit", "2", "-j", judge], "run"),
                      (["judge", "-j", judge, "-i", str(labels)], "sub/verdicts.jsonl"),
                      (["judge-eval", "-j", judge, "-l", str(labels)], "meta")):
        r = CliRunner().invoke(app, [*args, "-o", str(tmp_path / out)])
        assert r.exit_code == 2 and "--trust-code" in r.output, (args[0], r.output)
        assert not (tmp_path / out.split("/")[0]).exists() and not marker.exists(), args[0]


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
#: calls that import or run code given by a name, a path or bytes; ``owner.name`` or a bare ``name``
CODE_RUNNERS = {"importlib": {"import_module"}, "util": {"spec_from_file_location", "module_from_spec"},
                "runpy": {"run_path", "run_module"}, "pickle": {"load", "loads", "Unpickler"},
                "marshal": {"load", "loads"}, "dill": {"load", "loads"}, "joblib": {"load"}, "torch": {"load"},
                "yaml": {"load", "unsafe_load", "full_load", "load_all", "unsafe_load_all"},
                "": {"__import__", "exec", "eval", "compile", "run_path", "run_module", "import_module",
                     "spec_from_file_location", "exec_module"}}
#: method names that load code whatever object they are called on
ANY_OWNER = {"exec_module", "spec_from_file_location", "import_module"}


def _owner(f: ast.expr) -> str:
    """``importlib`` for importlib.import_module, ``util`` for importlib.util.x; "" for a bare name; "?" for a
    method of a computed object (``model.eval()`` runs no code from outside)."""
    if isinstance(f, ast.Name):
        return ""
    if isinstance(f, ast.Attribute):
        v = f.value
        return v.id if isinstance(v, ast.Name) else v.attr if isinstance(v, ast.Attribute) else "?"
    return "?"


def _code_runners(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, "owner.name")`` of every call in ``tree`` that imports or runs code (see CODE_RUNNERS)."""
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        owner = _owner(f)
        pickled = owner in ("np", "numpy") and name == "load" and not any(
            k.arg == "allow_pickle" and isinstance(k.value, ast.Constant) and k.value.value is False
            for k in node.keywords)
        if name in CODE_RUNNERS.get(owner, set()) or name in ANY_OWNER or pickled:
            hits.append((node.lineno, f"{owner + '.' if owner else ''}{name}"))
    return hits


def test_user_code_is_imported_in_one_place_only():
    """Every way of running code by name, path or bytes (importlib, runpy, exec/eval/compile, pickle,
    torch.load, yaml.load, np.load with pickles) is in safevlm.plugins, behind its trust gate, or imports
    safevlm's and transformers' own fixed names. ``bench fetch`` reads the authors' code with ``ast.parse``
    only: it never imports or runs what it downloads."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "plugins.py" or rel in INTERNAL_IMPORTS:
            continue
        found += [f"{rel}:{line}: {call}" for line, call in _code_runners(ast.parse(path.read_text(encoding="utf-8")))]
    assert found == []


def test_the_code_scan_sees_every_kind_of_code_runner():
    """The scan above must see what it is there to see (a scan that finds nothing proves nothing)."""
    sample = ("import importlib, runpy, pickle, torch, yaml, numpy as np\n"
              "importlib.import_module(x); importlib.util.spec_from_file_location(n, p); runpy.run_path(p)\n"
              "exec(s); eval(s); compile(s, 'f', 'exec'); __import__(x); pickle.loads(b); torch.load(p)\n"
              "yaml.load(t); np.load(p, allow_pickle=True); np.load(p)\n"
              "model.eval(); re.compile(r); yaml.safe_load(t); np.load(p, allow_pickle=False); ast.parse(s)\n")
    assert sorted(call for _, call in _code_runners(ast.parse(sample))) == sorted(
        ["importlib.import_module", "util.spec_from_file_location", "runpy.run_path", "exec", "eval", "compile",
         "__import__", "pickle.loads", "torch.load", "yaml.load", "np.load", "np.load"])


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
