"""Bad input stops with an error that names the file, the line or item, and what was expected."""

from __future__ import annotations

import json
import logging
import shutil
import textwrap

import pytest
from bench_helpers import write_csv_benchmark

from safevlm.bench import load_benchmark
from safevlm.errors import ConfigError, DataError


def _spec(tmp_path, body: str) -> list:
    spec = tmp_path / "specs" / "mine.yaml"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(textwrap.dedent(body))
    return [spec]




def _csv_bench(tmp_path, rows: str, images: dict[str, bytes] | None = None):
    return [write_csv_benchmark(tmp_path, rows, images=images)[1]]


def _png_bytes(benchdata) -> bytes:
    return (benchdata / "FigStep-SafeBench/data/images/SafeBench/query_ForbidQI_1_1_6.png").read_bytes()


def test_corrupt_image_names_file_and_item(tmp_path, benchdata):
    good = _png_bytes(benchdata)
    specs = _csv_bench(tmp_path, "a,hi,ok.png,safe\nb,hello,bad.png,unsafe\n",
                       {"ok.png": good, "bad.png": good[: len(good) // 3]})
    with pytest.raises(DataError) as exc:
        load_benchmark("mine", extra_specs=specs)
    msg = str(exc.value)
    assert "bad.png" in msg and "item b" in msg and "corrupt" in msg


def test_garbage_image_bytes(tmp_path):
    specs = _csv_bench(tmp_path, "a,hi,x.png,safe\n", {"x.png": b"not an image at all"})
    with pytest.raises(DataError, match=r"x\.png.*corrupt or unreadable image"):
        load_benchmark("mine", extra_specs=specs)


def test_malformed_csv_line_names_line(tmp_path):
    specs = _csv_bench(tmp_path, "a,hi,x.png,safe\nb,oops,too,many,fields\n")
    with pytest.raises(DataError) as exc:
        load_benchmark("mine", extra_specs=specs, on_missing_image="text_only")
    assert "items.csv:3" in str(exc.value) and "expected 4" in str(exc.value)


def test_short_csv_line_names_missing_field(tmp_path):
    specs = _csv_bench(tmp_path, "a,hi,x.png,safe\nb,only-two\n")
    with pytest.raises(DataError, match=r"items\.csv:3: too few fields: missing image, label"):
        load_benchmark("mine", extra_specs=specs, on_missing_image="text_only")


def test_unknown_label_names_line_and_known_labels(tmp_path):
    specs = _csv_bench(tmp_path, "a,hi,x.png,maybe\n")
    with pytest.raises(DataError, match=r"items\.csv:2: unknown expected-behaviour label 'maybe'; expected one of: safe, unsafe"):
        load_benchmark("mine", extra_specs=specs, on_missing_image="text_only")


def test_missing_json_field_names_item_and_field(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "items.json").write_text(json.dumps({"k1": {"question": "q", "label": "safe"}, "k2": {"label": "safe"}}))
    specs = _spec(tmp_path, f"""
        name: mine
        root: {root}
        modality: text
        variants:
          default: {{file: items.json, id: "{{_key}}", text: "{{question}}", expected: comply}}
        """)
    with pytest.raises(DataError) as exc:
        load_benchmark("mine", extra_specs=specs)
    assert "items.json (item k2)" in str(exc.value) and "missing field 'question'" in str(exc.value)


def test_malformed_json_and_jsonl(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "a.jsonl").write_text('{"id": 1, "q": "fine"}\n{"id": 2, "q": broken}\n')
    specs = _spec(tmp_path, f"""
        name: mine
        root: {root}
        modality: text
        variants:
          default: {{file: a.jsonl, text: "{{q}}", expected: comply}}
        """)
    with pytest.raises(DataError, match=r"a\.jsonl:2: malformed JSON"):
        load_benchmark("mine", extra_specs=specs)


def test_missing_benchmark_file(tmp_path):
    specs = _spec(tmp_path, f"""
        name: mine
        root: {tmp_path}/nowhere
        variants:
          default: {{file: x.csv, text: "{{q}}", expected: comply}}
        """)
    with pytest.raises(DataError, match=r"nowhere/x\.csv: benchmark file not found"):
        load_benchmark("mine", extra_specs=specs)


def test_vlguard_record_without_instructions(tmp_path, benchdata):
    root = tmp_path / "VLGuard"
    shutil.copytree(benchdata / "VLGuard", root)
    recs = json.loads((root / "data/test.json").read_text())
    del recs[5]["instr-resp"]
    (root / "data/test.json").write_text(json.dumps(recs))
    with pytest.raises(DataError, match=r"test\.json \(item 5\): missing field\(s\) instr-resp"):
        load_benchmark("vlguard:test", root=root)


def test_invalid_spec_names_spec_file(tmp_path):
    specs = _spec(tmp_path, """
        name: mine
        variants:
          default: {file: x.csv, text: "{q}", expected: perhaps}
        """)
    with pytest.raises(ConfigError, match=r"mine\.yaml: invalid benchmark spec:\s+variants\.default\.expected"):
        load_benchmark("mine", extra_specs=specs)


def test_missing_images_are_counted_never_dropped_silently(tmp_path, caplog, benchdata):
    specs = _csv_bench(tmp_path, "a,hi,ok.png,safe\nb,hello,gone.png,unsafe\n", {"ok.png": _png_bytes(benchdata)})
    with caplog.at_level(logging.WARNING):
        res = load_benchmark("mine", extra_specs=specs)
    assert (res.total, res.with_images, res.skipped_missing_images, len(res.samples)) == (2, 1, 1, 1)
    assert "skipped 1 of 2 items whose images are not on disk" in caplog.text
    kept = load_benchmark("mine", extra_specs=specs, on_missing_image="text_only")
    assert [len(s.images) for s in kept.samples] == [1, 0]
    assert kept.samples[1].metadata["images_missing"][0].endswith("gone.png")
    with pytest.raises(DataError, match=r"items\.csv:3: image not found: .*gone\.png \(item b\)"):
        load_benchmark("mine", extra_specs=specs, on_missing_image="error")


def test_unknown_benchmark_and_variant():
    with pytest.raises(ConfigError, match="unknown benchmark 'nope'; known: .*xstest"):
        load_benchmark("nope")
    with pytest.raises(ConfigError, match="has no variant 'zzz'; variants: safebench"):
        load_benchmark("figstep:zzz")
