"""Sources in the specs: bench verify against the reference data, docs/data.md, and bench list's output."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from typer.testing import CliRunner

from safevlm.bench import registry
from safevlm.bench.inventory import summarise
from safevlm.bench.registry import BUILTIN_SPECS, load_benchmark, scan_specs
from safevlm.bench.sources import render_data_doc
from safevlm.bench.spec import load_spec
from safevlm.cli.main import app

runner = CliRunner()
DATA_DOC = Path(__file__).resolve().parents[1] / "docs" / "data.md"


def test_verify_passes_over_the_reference_data(benchdata):
    result = runner.invoke(app, ["bench", "verify"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    names = {"figstep", "mm-safetybench", "mm-vet", "mossbench", "mssbench", "siuo", "vlguard", "vlsbench", "xstest"}
    assert {line.split()[1].rstrip(":") for line in lines if line.startswith("ok")} == names  # one line each, no gym
    xstest = next(line for line in lines if " xstest:" in line)
    assert "1 files match" in xstest and "protocol: 9 items match" in xstest and "default 450" in xstest
    figstep = next(line for line in lines if " figstep:" in line)
    assert "data/images/SafeBench/: 500 images match" in figstep  # the whole set is here: its tree hash is checked
    vlguard = next(line for line in lines if " vlguard:" in line)
    assert "data/test/: no images (text-only use)" in vlguard
    mssbench = " ".join(next(line for line in lines if " mssbench:" in line).split())
    assert "protocol: 28 items match" in mssbench and "chat 1200" in mssbench and "embodied 760" in mssbench


def test_verify_names_the_file_when_one_byte_of_a_copy_changes(benchdata, tmp_path):
    shutil.copytree(benchdata / "XSTest", tmp_path / "XSTest")
    csv = tmp_path / "XSTest" / "xstest_prompts.csv"
    data = bytearray(csv.read_bytes())
    data[100] ^= 0x01
    csv.write_bytes(bytes(data))
    result = runner.invoke(app, ["bench", "verify", "xstest", "--data-root", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 1, result.output
    assert "FAIL xstest: xstest_prompts.csv: sha256 differs from the pin" in " ".join(result.output.split())
    csv.write_bytes(benchdata.joinpath("XSTest", "xstest_prompts.csv").read_bytes())
    proto = tmp_path / "XSTest" / "eval" / "protocol.json"
    doc = json.loads(proto.read_text())
    doc["items"][0]["value"][0] = "sorry!"  # one phrase of the refusal prefixes edited
    proto.write_text(json.dumps(doc))
    result = runner.invoke(app, ["bench", "verify", "xstest", "--data-root", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 1 and "item 'strmatch_refusal_prefixes_apology' differs" in result.output


def test_verify_says_what_is_not_fetched_and_fails_only_when_named(tmp_path):
    result = runner.invoke(app, ["bench", "verify", "--data-root", str(tmp_path)])
    assert result.exit_code == 0 and "xstest: not fetched" in result.output and "bench fetch xstest" in result.output
    result = runner.invoke(app, ["bench", "verify", "xstest", "--data-root", str(tmp_path)])
    assert result.exit_code == 1


def test_data_doc_is_up_to_date():
    specs = {s.name: s for s in map(load_spec, sorted(BUILTIN_SPECS.glob("*.yaml")))}
    assert DATA_DOC.read_text(encoding="utf-8") == render_data_doc(specs), (
        "docs/data.md is stale: run `safevlm bench sources --out docs/data.md`")
    text = DATA_DOC.read_text()
    for name, spec in specs.items():
        if spec.sources is not None:  # a row per benchmark with its fetch command
            assert f"| {name} | " in text and f"`safevlm bench fetch {name}`" in text


def test_list_shows_whole_refs_and_marks_default_variants(benchdata):
    result = runner.invoke(app, ["bench", "list", "mm-safetybench", "figstep", "xstest"], env={"COLUMNS": "70"})
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("│")}
    assert "mm-safetybench:sd_typo-tiny" in rows  # the column is never cut, even at 70 columns
    marked = {ref for ref, line in rows.items() if line.split("│")[2].strip() == "*"}
    assert marked == {"mm-safetybench:typo", "figstep:safebench", "xstest:default"}
    assert "text only" in rows["figstep:text"] and "text" in rows["xstest:default"]


def test_list_parses_each_spec_once(benchdata, monkeypatch):
    calls: list[str] = []

    def counting(path):
        calls.append(Path(path).name)
        return load_spec(path)

    monkeypatch.setattr(registry, "load_spec", counting)
    monkeypatch.setattr(registry, "_parsed", {})
    summarise(names=["xstest", "figstep", "mm-safetybench"])
    assert sorted(calls) == sorted(p.name for p in BUILTIN_SPECS.glob("*.yaml"))  # once each, not once per variant
    load_benchmark("xstest")
    load_benchmark("figstep:text")
    assert len(calls) == len(list(BUILTIN_SPECS.glob("*.yaml")))  # later look-ups reuse the parse


def test_a_broken_spec_is_reported_once(tmp_path, monkeypatch, caplog):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "broken.yaml").write_text("name: broken\nvariants:\n  default: {file: x.csv, txt: '{q}'}\n")
    monkeypatch.setenv("SAFEVLM_BENCH_PATH", str(specs))
    monkeypatch.setattr(registry, "_warned", set())
    with caplog.at_level(logging.WARNING):
        for _ in range(3):  # an eval scans the search path several times
            scan_specs()
    assert caplog.text.count("skipped broken spec") == 1
    monkeypatch.setattr(registry, "_warned", set())  # (the CLI below replaces the log handlers)
    result = runner.invoke(app, ["bench", "list", "xstest", "broken"], env={"COLUMNS": "300"})
    assert result.exit_code == 0 and result.output.count("broken.yaml") == 1, result.output  # its row, no warning
