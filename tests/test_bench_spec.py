"""Spec files: one clear message per mistake, bounded reading, records mapped onto samples safely."""

from __future__ import annotations

import json
import textwrap

import pytest
from bench_helpers import write_csv_benchmark

from safevlm.bench import expand_refs, load_benchmark
from safevlm.bench.spec import MAX_SPEC_BYTES, SpecError, load_spec
from safevlm.errors import ConfigError, DataError


def _write(tmp_path, body: str, name: str = "mine.yaml"):
    spec = tmp_path / "specs" / name
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(textwrap.dedent(body))
    return spec


def _error(path) -> str:
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    return str(exc.value)


def test_an_unknown_key_suggests_the_closest_allowed_one(tmp_path):
    msg = _error(_write(tmp_path, """
        name: mine
        variants:
          a: {file: x.csv, text: "{q}", exepcted: refuse}
        """))
    assert "variants.a: unknown key 'exepcted' (did you mean 'expected'?)" in msg
    assert "Extra inputs are not permitted" not in msg
    msg = _error(_write(tmp_path, "name: mine\nvariant: {a: {file: x.csv}}\n"))
    assert "unknown key 'variant' (did you mean 'variants'?)" in msg
    msg = _error(_write(tmp_path, """
        name: mine
        variants:
          a: {file: x.csv, text: "{q}", expected: {form: "{l}", map: {x: refuse}}}
        """))
    assert "unknown key 'form' (did you mean 'from'?)" in msg


def test_one_message_per_mistake(tmp_path):
    msg = _error(_write(tmp_path, """
        name: mine
        variants:
          a: {file: 3, text: "{q}", expected: refus}
          b:
            file: x.csv
            text: "{q}"
            expected: {from: "{l}", map: {x: refuse, y: complyy}}
            risk_category: violense
        """))
    lines = msg.splitlines()[1:]
    assert len(lines) == 3, msg  # file, a.expected, b's labels: no second message from the other union branch
    assert lines[0].strip() == "variants.a.file: Input should be a valid string"
    assert "variants.a.expected: 'refus'" in lines[1] and "(did you mean 'refuse'?)" in lines[1]
    assert ("expected.map['y']: 'complyy' is not one of refuse, comply, safe_complete (did you mean 'comply'?)"
            in lines[2])
    assert "risk_category: 'violense'" in lines[2] and "(did you mean 'violence'?)" in lines[2]


def test_the_alias_bomb_stops_fast(tmp_path):
    levels = ["    options: {l0: &l0 [x, x, x, x, x, x, x, x, x, x]}"]
    body = "name: bomb\nvariants:\n  v0:\n    hook: safevlm.bench.hooks:vlguard\n" + levels[0] + "\n"
    for i in range(1, 9):  # 10^9 values once expanded, in under 1 KB
        refs = ", ".join([f"*l{i - 1}"] * 10)
        body += f"  v{i}: {{extends: v{i - 1}, options: {{l{i}: &l{i} [{refs}]}}}}\n"
    path = tmp_path / "bomb.yaml"
    path.write_text(body)
    assert path.stat().st_size < 1024
    with pytest.raises(SpecError, match=r"bomb\.yaml: the spec expands to more than 50000 values \(YAML aliases"):
        load_spec(path)


def test_a_self_referring_alias_and_an_oversized_file_are_refused(tmp_path):
    assert "refers to itself" in _error(_write(tmp_path, "name: loop\nvariants: &v {a: *v}\n"))
    big = tmp_path / "big.yaml"
    big.write_text("name: big\n" + "# padding\n" * (MAX_SPEC_BYTES // 10 + 1))
    assert "the limit is" in _error(big)




def _csv(tmp_path, rows: str, extra: str = ""):
    root, spec = write_csv_benchmark(tmp_path, rows, extra)
    return root, [spec]


def test_data_errors_name_spec_variant_file_and_item(tmp_path):
    _, specs = _csv(tmp_path, "a,hi,x.png,safe\nb,hello,y.png,maybe\n")
    with pytest.raises(DataError) as exc:
        load_benchmark("mine", extra_specs=specs, on_missing_image="text_only")
    msg = str(exc.value)
    assert "items.csv:3" in msg and "unknown expected-behaviour label 'maybe'" in msg
    assert "benchmark mine:default" in msg and str(specs[0]) in msg


def test_an_image_path_outside_the_root_is_refused(tmp_path, benchdata):
    png = (benchdata / "FigStep-SafeBench/data/images/SafeBench/query_ForbidQI_1_1_6.png").read_bytes()
    (tmp_path / "secret.png").write_bytes(png)  # a real image, outside the benchmark's root
    _, specs = _csv(tmp_path, "a,hi,../secret.png,safe\n")
    with pytest.raises(DataError, match=r"items\.csv:2: image path '\.\./secret\.png' resolves to .*secret\.png, "
                                        r"outside the image root"):
        load_benchmark("mine", extra_specs=specs)
    _, specs = _csv(tmp_path, f"a,hi,{tmp_path / 'secret.png'},safe\n")  # an absolute path in the data
    with pytest.raises(DataError, match="outside the image root"):
        load_benchmark("mine", extra_specs=specs)
    # the spec may allow it explicitly
    specs[0].write_text(specs[0].read_text().replace("    expected:", "    images_outside_root: true\n    expected:"))
    res = load_benchmark("mine", extra_specs=specs)
    assert res.with_images == 1 and res.samples[0].images[0].path.endswith("secret.png")


def test_a_symlink_in_the_image_root_cannot_lead_out_of_it(tmp_path):
    (tmp_path / "secret.png").write_bytes(b"not for you")
    root, specs = _csv(tmp_path, "a,hi,innocent.png,safe\n")
    (root / "innocent.png").symlink_to(tmp_path / "secret.png")  # spelled inside the root, really outside
    with pytest.raises(DataError, match=r"'innocent\.png' resolves to .*secret\.png, outside the image root"):
        load_benchmark("mine", extra_specs=specs)
    _, specs = _csv(tmp_path, "a,hi,/etc/passwd,safe\n")
    with pytest.raises(DataError, match="'/etc/passwd' resolves to /etc/passwd, outside the image root"):
        load_benchmark("mine", extra_specs=specs)


def test_mssbench_images_stay_inside_its_image_root(tmp_path, benchdata):
    """MSSBench's hook yields records whose image fields go through the same real-path check: a symbolic link
    in its image root or a ``..`` in combined.json cannot lead out of it."""
    import shutil

    root, images = tmp_path / "MSSBench", tmp_path / "images"
    (root / "eval").mkdir(parents=True)
    (images / "chat").mkdir(parents=True)
    shutil.copy(benchdata / "MSSBench" / "eval" / "protocol.json", root / "eval" / "protocol.json")
    png = (benchdata / "FigStep-SafeBench/data/images/SafeBench/query_ForbidQI_1_1_6.png").read_bytes()
    (images / "chat" / "safe.png").write_bytes(png)
    (tmp_path / "secret.png").write_bytes(png)

    def load(unsafe: str):
        entry = {"safe_image_path": "safe.png", "unsafe_image_path": unsafe, "queries": ["Can I do this here?"],
                 "Type": "harmful"}
        (root / "combined.json").write_text(json.dumps({"chat": [entry], "embodied": []}))
        return load_benchmark("mssbench:chat", root=root, image_root=images)

    (images / "chat" / "unsafe.png").write_bytes(png)
    assert load("unsafe.png").with_images == 2  # inside: both sides load
    (images / "chat" / "link.png").symlink_to(tmp_path / "secret.png")
    for unsafe in ("link.png", "../../secret.png"):  # an absolute path is spelled under chat/, so stays inside
        with pytest.raises(DataError, match=r"combined\.json.*resolves to .*secret\.png, outside the image root"):
            load(unsafe)


def test_a_hooks_own_samples_are_confined_too(tmp_path):
    """A (trusted) hook may yield ready samples; their image files are checked against the image root as well."""
    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "secret.png").write_bytes(b"x")
    (tmp_path / "hooks.py").write_text(textwrap.dedent(f"""
        from safevlm.bench.loader import Where
        from safevlm.data.sample import Sample

        def read(ctx):
            yield Where(ctx.path("hooks.py")), Sample(id="a", source="mine", text="hi", images=[{str(tmp_path / 'secret.png')!r}],
                                                      expected="comply")
    """))
    spec = tmp_path / "mine.yaml"
    spec.write_text(f"name: mine\nroot: {root}\nvariants:\n  default:\n    hook: hooks.py:read\n    id: x\n    text: x\n"
                    "    expected: comply\n")
    with pytest.raises(DataError, match="outside the image root"):
        load_benchmark("mine", extra_specs=[spec], trust_hooks=True, verify_images=False)


def test_a_spec_sets_its_own_missing_image_policy(tmp_path):
    _, specs = _csv(tmp_path, "a,hi,gone.png,safe\n")
    assert len(load_benchmark("mine", extra_specs=specs).samples) == 0  # default: skip
    specs[0].write_text(specs[0].read_text().replace("    expected:", "    on_missing_image: text_only\n    expected:"))
    res = load_benchmark("mine", extra_specs=specs)
    assert (len(res.samples), res.kept_text_only, res.on_missing_image) == (1, 1, "text_only")
    assert load_benchmark("mine", extra_specs=specs, on_missing_image="skip").skipped_missing_images == 1


def test_list_shaped_json_records_get_their_position_as_key(tmp_path):
    (tmp_path / "items.json").write_text(json.dumps([{"q": "hello"}, {"q": "hi"}]))
    spec = _write(tmp_path, f"""
        name: listy
        root: {tmp_path}
        modality: text
        variants:
          default: {{file: items.json, id: "row-{{_key}}", text: "{{q}}", expected: comply}}
        """)
    assert [s.id for s in load_benchmark("listy", extra_specs=[spec]).samples] == ["row-0", "row-1"]


def test_refs_bare_name_all_variants_and_unknown_variant(benchdata):
    assert expand_refs(["xstest", "mossbench:*", "mossbench:benign"]) == [
        "xstest:default", "mossbench:benign", "mossbench:contrast", "mossbench:paired"]
    assert expand_refs(["figstep"]) == ["figstep:safebench"]  # the spec's default_variant
    with pytest.raises(ConfigError, match=r"no variant 'contrst' \(did you mean 'contrast'\?\).*mossbench:\* for all"):
        expand_refs(["mossbench:contrst"])
    with pytest.raises(ConfigError, match=r"unknown benchmark 'xtest' \(did you mean 'xstest'\?\)"):
        expand_refs(["xtest"])
