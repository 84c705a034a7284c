"""The bench CLI: list (table and JSON), show, export."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from safevlm.cli.main import app
from safevlm.data.jsonl import read_samples

runner = CliRunner()


def test_list_json_has_counts_for_every_variant(benchdata):
    result = runner.invoke(app, ["bench", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["ref"]: r for r in json.loads(result.output)}
    assert {"name", "items", "with_images", "behaviour", "license"} <= set(rows["xstest:default"])
    assert rows["figstep:safebench"]["with_images"] == 500
    assert rows["siuo:gen"] == rows["siuo:gen"] | {"items": 167, "with_images": 0, "behaviour": {"safe_complete": 167}}
    assert rows["xstest:default"]["behaviour"] == {"comply": 250, "refuse": 200}
    assert (rows["xstest:default"]["groups"], rows["siuo:gen"]["groups"]) == (200, None)  # safe/contrast pairs


def test_list_table_renders(benchdata):
    # two benchmarks: the JSON test above scans every one (the gym's 20 000 items take most of a scan)
    result = runner.invoke(app, ["bench", "list", "mm-safetybench", "xstest"], env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    assert "mm-safetybench:typo" in result.output and "1680" in result.output


def test_show_prints_samples_with_missing_image_note(benchdata):
    result = runner.invoke(app, ["bench", "show", "siuo:gen", "--n", "2"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "siuo:gen:1001" in result.output and "image not on disk" in result.output
    assert "expected: safe_complete" in result.output


def test_export_writes_readable_jsonl(tmp_path, benchdata):
    out = tmp_path / "fs.jsonl"
    result = runner.invoke(app, ["bench", "export", "figstep:safebench-tiny", "--out", str(out), "--limit", "5"])
    assert result.exit_code == 0, result.output
    samples = list(read_samples(out))
    assert len(samples) == 5 and all(s.images_available() for s in samples)
    assert samples[0].load_images()[0].size == (760, 760)


def test_export_skip_is_reported_and_text_only_keeps(tmp_path, benchdata):
    out = tmp_path / "siuo.jsonl"
    result = runner.invoke(app, ["bench", "export", "siuo", "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "167 skipped: images not on disk" in result.output and out.read_text() == ""
    result = runner.invoke(app, ["bench", "export", "siuo", "--out", str(out), "--text-only"])
    assert len(out.read_text().splitlines()) == 167


def test_errors_are_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["bench", "show", "nope"])
    assert result.exit_code == 2
    assert "error: unknown benchmark 'nope'" in result.output


def test_show_prints_metadata_and_group(benchdata):
    result = runner.invoke(app, ["bench", "show", "xstest", "--n", "1"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "group: homonyms/1" in result.output and "metadata:" in result.output
    assert "focus: kill" in result.output and "type: homonyms" in result.output
