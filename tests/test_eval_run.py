"""The evaluation loop on the gym with a scripted backend and stub judges (no safevlm.judges needed)."""

from __future__ import annotations

import json
import logging

import pytest

from safevlm.backends.base import Generation, GenerationParams
from safevlm.backends.mock import MockBackend
from safevlm.errors import ConfigError
from safevlm.eval import evaluate, rejudge
from safevlm.eval.config import EvalConfig
from safevlm.eval.judging import default_judges

BENCH = "gym:smoke"


class Counting(MockBackend):
    """mock:refuse that remembers which samples it generated; ``fail`` uids give errors."""

    def __init__(self, mode="refuse", fail=()):
        super().__init__(mode)
        self.generated: list[str] = []
        self.fail = set(fail)

    def generate(self, samples, params=None, progress=None):
        self.generated += [s.uid for s in samples]
        out = super().generate(samples, params, progress)
        return [Generation.failed("scripted failure") if s.uid in self.fail else g for s, g in zip(samples, out)]


class Stub:
    """Refused iff the response says sorry; ``bad`` ids give error verdicts; ``explode`` raises."""

    def __init__(self, name="stub", bad=(), explode=False):
        self.name, self.bad, self.explode, self.seen = name, set(bad), explode, 0

    def judge(self, items):
        if self.explode:
            raise TimeoutError("judge server went away")
        self.seen += len(items)
        return [{"judge": self.name, "error": "unparseable"} if it.sample.id in self.bad
                else {"judge": self.name, "refused": "sorry" in it.response.lower()} for it in items]


def lines(run_dir):
    return [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]


def run(tmp_path, backend=None, judges=None, limit=8, **kw):
    """A run of the first ``limit`` items (file order, so tests can name the items they script)."""
    backend = backend or Counting()
    res = evaluate(backend, [BENCH], judges or [Stub()], limit=limit, out=tmp_path / "run", progress=False,
                   **{"limit_mode": "first", **kw})
    return backend, res


def test_run_directory_holds_config_env_records_results(tmp_path):
    backend, res = run(tmp_path)
    d = tmp_path / "run"
    cfg = json.loads((d / "config.json").read_text())
    env = json.loads((d / "env.json").read_text())
    assert cfg["model"] == "mock:refuse" and cfg["benches"] == [BENCH] and cfg["judges"] == ["stub"]
    assert cfg["limit"] == 8 and cfg["generation"]["max_new_tokens"] == 256
    assert env["packages"]["safevlm"] and env["python"] and "git" in env
    recs = lines(d)
    assert len(recs) == 8 == len({r["uid"] for r in recs}) and len(backend.generated) == 8
    r = recs[0]
    for field in ("uid", "bench", "id", "expected", "category", "risk_category", "text", "images", "answer",
                  "choices", "response", "generation", "cache_key", "verdicts"):
        assert field in r
    assert r["bench"] == BENCH and r["verdicts"]["stub"]["refused"] is True
    # the gym image, made in memory, is saved in the run so reports can show it
    assert r["images"][0].startswith("images/") and (d / r["images"][0]).is_file()
    assert set(r["generation"]) >= {"prompt_tokens", "completion_tokens", "latency_s", "finish_reason", "error"}
    assert json.loads((d / "results.json").read_text()) == res
    m = res["benchmarks"][BENCH]["metrics"]
    assert m["crr"]["value"] == 1.0 and m["car"]["value"] == 0.0  # mock:refuse refuses everything
    assert res["run"]["primary_judge"] == "stub" and res["overall"]["n"] == 8


def test_resume_extends_without_regenerating(tmp_path):
    backend, _ = run(tmp_path, limit=4)
    first = list(backend.generated)
    backend, res = run(tmp_path, limit=8)  # a fresh backend: it must only see the 4 new samples
    assert len(backend.generated) == 4 and not set(first) & set(backend.generated)
    backend, _ = run(tmp_path, limit=8)
    assert backend.generated == []
    recs = lines(tmp_path / "run")
    assert len(recs) == 8 == len({r["uid"] for r in recs}) and res["overall"]["n"] == 8


def test_truncated_last_line_is_dropped_and_redone(tmp_path, caplog):
    run(tmp_path, limit=6)
    path = tmp_path / "run" / "samples.jsonl"
    text = path.read_text()
    cut = text.rstrip("\n").rfind("\n") + 1
    last_uid = json.loads(text[cut:])["uid"]
    path.write_text(text[:cut + 40])  # a kill in the middle of writing the last record
    with caplog.at_level(logging.WARNING):
        backend, _ = run(tmp_path, limit=6)
    assert "truncated" in caplog.text
    assert backend.generated == [last_uid]
    recs = lines(tmp_path / "run")
    assert len(recs) == 6 == len({r["uid"] for r in recs})


def test_malformed_line_in_the_middle_stops_the_read(tmp_path):
    run(tmp_path, limit=3)
    path = tmp_path / "run" / "samples.jsonl"
    rows = path.read_text().splitlines()
    path.write_text("\n".join([rows[0], "{not json", rows[2]]) + "\n")
    with pytest.raises(Exception, match=r"samples.jsonl:2"):
        run(tmp_path, limit=3)


def test_new_judge_on_existing_run_costs_no_generation(tmp_path):
    run(tmp_path, limit=6)
    other = Stub("other")
    backend, res = run(tmp_path, judges=[other], limit=6)
    assert backend.generated == [] and other.seen == 6
    assert res["run"]["primary_judge"] == "other"
    assert set(res["by_judge"]) == {"other", "stub"}  # the old verdicts are kept and still reported
    assert all(set(r["verdicts"]) == {"stub", "other"} for r in lines(tmp_path / "run"))


def test_rejudge_function(tmp_path):
    run(tmp_path, limit=5)
    again = Stub("stub", bad={"test-000001"})
    res = rejudge(tmp_path / "run", [again], progress=False)
    assert again.seen == 5  # forced: stored verdicts of this judge are recomputed
    assert res["benchmarks"][BENCH]["judge_errors"] == {"stub": 1}
    assert len(lines(tmp_path / "run")) == 5


def test_judge_errors_are_excluded_and_counted(tmp_path):
    _, first = run(tmp_path, limit=8)
    recs = lines(tmp_path / "run")
    clear = [r["id"] for r in recs if not r["metadata"]["ambiguous"]]  # ambiguous items are in no metric
    _, res = run(tmp_path, judges=[Stub("flaky", bad=set(clear[:3]))], limit=8)
    b = res["benchmarks"][BENCH]
    assert b["judge_errors"] == {"flaky": 3} and res["run"]["judge_errors"] == 3
    assert b["metrics"]["accuracy"]["n"] == len(clear) - 3
    assert first["benchmarks"][BENCH]["metrics"]["accuracy"]["n"] == len(clear)
    assert first["benchmarks"][BENCH].get("ambiguous", {}).get("n", 0) == 8 - len(clear)


def test_a_judge_that_raises_gives_error_verdicts(tmp_path):
    _, res = run(tmp_path, judges=[Stub("down", explode=True)], limit=4)
    assert res["benchmarks"][BENCH]["judge_errors"] == {"down": 4}
    assert res["benchmarks"][BENCH]["metrics"]["crr"] is None
    assert "TimeoutError" in lines(tmp_path / "run")[0]["verdicts"]["down"]["error"]


def test_generation_errors_are_counted_then_retried(tmp_path):
    backend = Counting()
    backend.fail = {f"{BENCH}:test-000002", f"{BENCH}:test-000005"}
    _, res = run(tmp_path, backend=backend, limit=8)
    assert res["benchmarks"][BENCH]["generation_errors"] == 2 and res["run"]["n_errors"] == 2
    clear = [r for r in lines(tmp_path / "run") if not r["metadata"]["ambiguous"] and not r["generation"]["error"]]
    assert res["benchmarks"][BENCH]["metrics"]["accuracy"]["n"] == len(clear)
    bad = [r for r in lines(tmp_path / "run") if r["generation"]["error"]]
    assert len(bad) == 2 and all(r["verdicts"] == {} for r in bad)  # never judged
    backend, res = run(tmp_path, limit=8)
    assert sorted(backend.generated) == sorted(r["uid"] for r in bad)
    assert res["run"]["n_errors"] == 0 and len(lines(tmp_path / "run")) == 8


def test_other_generation_settings_refuse_the_run_dir(tmp_path):
    run(tmp_path, limit=2)
    with pytest.raises(ConfigError, match="generation"):
        run(tmp_path, limit=2, generation=GenerationParams(max_new_tokens=8))
    backend, _ = run(tmp_path, limit=2, generation=GenerationParams(max_new_tokens=8), overwrite=True)
    assert len(backend.generated) == 2


def test_a_run_directory_made_by_another_model_is_refused_and_left_as_it_was(tmp_path):
    """Resuming into RUN_DIR with another model would mix two models' responses under one name: refused
    before anything is generated or written, naming both models and the way out."""
    run(tmp_path, limit=3)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    other = Counting("echo")
    with pytest.raises(ConfigError) as err:
        evaluate("mock:echo", [BENCH], [Stub()], limit=3, out=tmp_path / "run", progress=False, limit_mode="first")
    message = str(err.value)
    assert "model = 'mock:refuse'" in message and "not 'mock:echo'" in message
    assert "another --out" in message and "--overwrite" in message
    with pytest.raises(ConfigError, match="model = 'mock:refuse'"):  # a backend object is refused the same way
        evaluate(other, [BENCH], [Stub()], limit=3, out=tmp_path / "run", progress=False, limit_mode="first")
    assert other.generated == []
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()} == before


def test_default_judges():
    assert default_judges("gym:test") == ["oracle", "refusal"]
    assert default_judges("xstest:default") == ["refusal"]


def test_items_that_carry_gym_truth_get_the_oracle_under_any_name(tmp_path):
    """Gym items reworded by hand and saved under another name keep their truth: the oracle judges them."""
    from safevlm.data.jsonl import write_samples
    from safevlm.eval.selection import load_items
    from safevlm.gym import generate_samples

    samples = generate_samples("test", 6)
    assert default_judges("reworded:default", samples) == ["oracle", "refusal"]
    stripped = [s.model_copy(update={"metadata": {}}) for s in samples]
    assert default_judges("reworded:default", stripped) == ["refusal"]
    assert default_judges("reworded:default", samples[:3] + stripped[3:]) == ["refusal"]  # all or nothing
    write_samples((s.model_copy(update={"text": s.text.upper()}) for s in samples), tmp_path / "items.jsonl")
    (tmp_path / "hooks.py").write_text(
        "from safevlm.bench.native import Where\nfrom safevlm.data.jsonl import read_samples\n"
        "def read(ctx):\n    path = ctx.path('items.jsonl')\n"
        "    for i, s in enumerate(read_samples(path), 1):\n        yield Where(path, line=i), s\n")
    spec = tmp_path / "reworded.yaml"
    spec.write_text(f"name: reworded\nroot: {tmp_path}\nvariants:\n  default:\n    hook: hooks.py:read\n")
    cfg = EvalConfig(model="mock:comply", benches=["reworded"], extra_specs=[str(spec)])
    _, judges_of, _ = load_items(cfg, "mock:comply", verify_images=False, trust_hooks=True)
    assert judges_of == {"reworded:default": ["oracle", "refusal"]}


def test_remote_backends_keep_their_concurrency_busy():
    from safevlm.backends.openai_compat import OpenAIBackend
    from safevlm.eval.runner import _chunk_size

    assert _chunk_size(OpenAIBackend("http://127.0.0.1:9/v1", "m", concurrency=16), None) == 16
    assert _chunk_size(MockBackend("refuse"), 3) == 3 and _chunk_size(MockBackend("refuse"), None) == 8


def test_library_resumes_a_run_with_its_stored_settings(tmp_path):
    """evaluate(out=RUN_DIR) alone finishes a run: model, benchmarks, limit, judges, generation come from it."""
    d = tmp_path / "run"
    evaluate("mock:refuse", [BENCH], ["refusal"], limit=3, out=d, progress=False,
             generation=GenerationParams(max_new_tokens=7), prompt_wrapper="safecot")
    res = evaluate(out=d, limit=5, progress=False)  # more samples, everything else as stored
    cfg = json.loads((d / "config.json").read_text())
    assert (res["run"]["model"], res["run"]["judges"], res["benchmarks"]["gym:smoke"]["n"]) == (
        "mock:refuse", ["refusal"], 5)
    assert cfg["generation"]["max_new_tokens"] == 7 and cfg["prompt_wrapper"] == "safecot"
    assert all(r["text"].startswith("You are a helpful and harmless assistant.") for r in lines(d))
    res = evaluate(out=d, generation={"max_new_tokens": 7}, judges="phrases:gcg", progress=False)
    assert res["run"]["judges"][0] == "phrases:gcg"
    with pytest.raises(ConfigError, match="give a model and benchmarks"):
        evaluate(out=tmp_path / "empty", progress=False)


def test_rejudging_reads_saved_gym_images_from_the_run(tmp_path):
    """A record's saved image (images/<hash>.png) resolves against the run directory, not the data root."""
    from safevlm.data.run_record import read_records
    from safevlm.eval.selection import sample_from_record

    run(tmp_path, limit=2)
    d = tmp_path / "run"
    rec = next(iter(read_records(d / "samples.jsonl")[0].values()))
    assert rec.images[0].startswith("images/")
    sample = sample_from_record(rec, d, data_root=tmp_path / "elsewhere")
    assert sample.images[0].path == str(d / rec.images[0]) and sample.load_images()[0].size == (112, 112)


def test_a_run_directory_cannot_point_at_a_file_outside_its_folders(tmp_path):
    """Record image paths are data: one that leads out of the run directory and the data root (``..``, an
    absolute path, a symbolic link among the run's images) is left out, never opened, judged or trained on."""
    from safevlm.data.run_record import read_records
    from safevlm.eval.selection import sample_from_record

    run(tmp_path, limit=1)
    d = tmp_path / "run"
    rec = next(iter(read_records(d / "samples.jsonl")[0].values()))
    (tmp_path / "secret.png").write_bytes((d / rec.images[0]).read_bytes())
    (d / "images" / "link.png").symlink_to(tmp_path / "secret.png")
    for path in ("../secret.png", str(tmp_path / "secret.png"), "images/link.png"):
        tampered = rec.model_copy(update={"images": [path, rec.images[0]]})
        assert [ref.path for ref in sample_from_record(tampered, d, data_root=tmp_path / "elsewhere").images] \
            == [str((d / rec.images[0]).resolve())], path
