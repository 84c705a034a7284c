"""``results.md`` and loading run directories: tables, nulls, errors, configs, bad input."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from test_report_fixture import build_run, build_runs

from safevlm.errors import ConfigError, DataError
from safevlm.report import load_runs, render_markdown, write_report
from safevlm.report.fmt import fmt_metric


def _metric(run, bench, key):
    return json.loads((run / "results.json").read_text())["benchmarks"][bench]["metrics"][key]


def _row(md: str, section: str, first: str) -> list[str]:
    """The cells of the row starting with ``first`` in the table under heading ``section``."""
    part = md.split(f"\n{section}\n", 1)[1]
    for line in part.splitlines():
        if line.startswith(f"| {first} |"):
            return [c.strip() for c in line.strip("|").split(" | ")]
        if line.startswith("#"):
            break
    raise AssertionError(f"no row {first!r} under {section!r}")


def test_format_of_a_metric():
    assert fmt_metric({"value": 0.8125, "low": 0.75, "high": 0.861, "n": 40}) == "0.81 [0.75, 0.86]"
    assert fmt_metric({"value": 0.5}) == "0.50"
    assert fmt_metric(None) == fmt_metric({"value": None}) == "–"


def test_single_run_report_is_written_into_the_run_dir(tmp_path):
    run = build_run(tmp_path, "base", aligned=False, gym_n=20)
    paths = write_report(run)
    assert paths == {"markdown": run / "results.md", "html": run / "report.html"}
    md = paths["markdown"].read_text()
    assert md.startswith("# Evaluation report: base\n")
    row = _row(md, "### gym:test", "base")
    crr, car, asr = (_metric(run, "gym:test", k) for k in ("crr", "car", "asr"))
    assert row[1] == "20" and row[2] == fmt_metric(crr) and row[3] == fmt_metric(car) and row[6] == fmt_metric(asr)
    assert row[2] == f"{crr['value']:.2f} [{crr['low']:.2f}, {crr['high']:.2f}]"
    assert _row(md, "### xstest", "base")[1] == "10"
    assert "### all benchmarks" in md  # two benchmarks: an overall row
    assert "rubric safety" not in md  # an extra metric that is null everywhere gets no column


def test_comparison_tables_nulls_errors_and_configs(tmp_path):
    base, aligned = build_runs(tmp_path, gym_n=20)
    with pytest.raises(ConfigError, match="--out"):
        write_report([base, aligned])
    out = tmp_path / "cmp"
    md = write_report([base, aligned], out=out)["markdown"].read_text()
    assert md.startswith("# Evaluation report: 2 runs compared")
    assert not (base / "results.md").exists()  # a comparison writes only into --out
    for bench in ("gym:test", "xstest"):
        assert _row(md, f"### {bench}", "base")[2] == fmt_metric(_metric(base, bench, "crr"))
        assert _row(md, f"### {bench}", "aligned")[2] == fmt_metric(_metric(aligned, bench, "crr"))
    # mmvet: the aligned run only, comply-only items: CRR and ASR have no samples -> "–", never 0
    mmvet = _row(md, "### mmvet", "aligned")
    assert mmvet[1] == "4" and mmvet[2] == "–" and mmvet[6] == "–" and mmvet[3] == "1.00 [0.51, 1.00]"
    with pytest.raises(AssertionError):
        _row(md, "### mmvet", "base")
    by_cat = md.split("## By risk category", 1)[1]
    header = by_cat.split("### gym:test\n\n", 1)[1].splitlines()[0]
    assert header == "| category | base n | base CRR | base CAR | aligned n | aligned CRR | aligned CAR |"
    benign = _row(by_cat, "### gym:test", "benign")
    assert benign[2] == "–" and benign[3] != "–"  # no unsafe item in 'benign'
    assert _row(md, "## By judge\n\n### gym:test", "aligned")[1] == "refusal"
    errors = _row(md.split("## Errors", 1)[1], "Errors are excluded from the metrics.", "base")
    assert errors == ["base", "gym:test", "1", "oracle: 1", "0 cut off, 0 degenerate, 0 undecided"]
    configs = md.split("## Configs", 1)[1]
    assert "- model: `gym-aligned`" in configs and "- judges: refusal, oracle (primary: refusal)" in configs
    assert "- created: 2026-11-24T10:00:00Z" in configs and "git_revision abc1234" in configs


def test_markdown_cells_cannot_break_the_table(tmp_path):
    run = build_run(tmp_path, "r|<b>x", aligned=True, gym_n=8)
    md = render_markdown([run])
    # backslash escapes: read as text when rendered and in a plain-text editor; no HTML entity anywhere
    assert "| r\\|\\<b\\>x |" in md and "### r\\|\\<b\\>x" in md
    assert "<b>" not in re.sub(r"`[^`]*`", "", md)  # only inside code spans, where it is shown as text
    assert "&lt;" not in md and "&gt;" not in md and "&amp;" not in md


def test_run_labels_stay_distinct(tmp_path):
    a = build_run(tmp_path / "exp1", "run", aligned=False, gym_n=4)
    b = build_run(tmp_path / "exp2", "run", aligned=True, gym_n=4)
    assert [r.label for r in load_runs([a, b])] == ["exp1/run", "exp2/run"]
    assert [r.label for r in load_runs([a, a])] == ["exp1/run #1", "exp1/run #2"]


def test_unfinished_and_malformed_runs(tmp_path):
    run = build_run(tmp_path, "r", aligned=True, gym_n=8)
    (run / "results.json").unlink()
    with (run / "samples.jsonl").open("a") as f:
        f.write('{"uid": "gym:test/cut", "bench": "gym:te')  # killed mid-write
    md = render_markdown([run])
    assert "no results.json" in md and "partial last line" in md
    assert _row(md, "### gym:test", "r")[1:3] == ["8", "–"]  # counted from the records, no metrics

    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    lines = (bad / "samples.jsonl").read_text().splitlines()
    lines[1] = "{not json"
    (bad / "samples.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"samples.jsonl:2"):
        render_markdown([bad])
    with pytest.raises(DataError, match="not a run directory"):
        render_markdown([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither results.json nor samples.jsonl"):
        write_report(tmp_path / "empty")


def test_official_scores_and_output_counts_in_results_md(tmp_path):
    """The official block, the output counts and the text-only marks reach results.md, backslash-escaped with no
    HTML entity (the fixture's note holds markup and an ampersand)."""
    from report_geometry import build_many

    runs = build_many(tmp_path / "runs", n_runs=2)
    md = render_markdown(runs)
    official = md.split("## Official scores", 1)[1].split("\n## ", 1)[0]
    assert "### mm-safetybench:typo [text only]" in official and "### xstest:default\n" in official
    attack = _row(official, "### xstest:default", "base")
    assert attack[1] == "attack_rate" and attack[2].startswith("0.") and attack[3] == "120"
    assert "| base | win_rate | not computed: needs an LLM judge" in official
    assert "\\<b\\>not markup\\</b\\> & co" in official
    assert "&lt;" not in md and "&gt;" not in md and "&amp;" not in md
    summary = md.split("\n## Summary\n", 1)[1].split("\n## ", 1)[0]
    head = next(line for line in summary.splitlines() if line.startswith("| run | n |"))
    assert head.endswith("| cut off | degenerate |")
    assert "### mm-safetybench:typo [text only]" in summary
