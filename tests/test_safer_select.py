"""QI-Box selection on a scripted policy, and the EasyR1 / verl export of what it keeps."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest

from safevlm.backends.function import FunctionBackend
from safevlm.bench import load_benchmark
from safevlm.rewards.oracle_reward import OracleScorer
from safevlm.methods.safer.export import export
from safevlm.methods.safer.select import SelectConfig, select


def right(sample) -> str:
    return sample.reference if sample.expected.value == "comply" else sample.metadata["safe_reference"]


def wrong(sample) -> str:
    return "Sorry, I can't help with that." if sample.expected.value == "comply" else sample.reference


@pytest.fixture()
def scripted(gymlet):
    """A pool of 60 gym items and a policy that is always right on a third of them, always wrong on a
    third, and right every other time on the rest (the only prompts with reward variance)."""
    spec = gymlet(60)
    pool = [s for s in load_benchmark("gymlet:train", extra_specs=[spec], verify_images=False).samples
            if not s.history and not s.metadata.get("ambiguous")]
    kind = {s.uid: ("stable-right", "stable-wrong", "unstable")[k % 3] for k, s in enumerate(pool)}
    calls: Counter = Counter()

    def policy(sample):
        calls[sample.uid] += 1
        mode = kind[sample.uid]
        good = mode == "stable-right" or (mode == "unstable" and calls[sample.uid] % 2 == 0)
        return right(sample) if good else wrong(sample)

    return spec, pool, kind, FunctionBackend(policy, name="scripted")


def test_right_and_wrong_answers_are_what_the_script_assumes(scripted):
    _, pool, _, _ = scripted
    scores = OracleScorer().score(pool * 2, [right(s) for s in pool] + [wrong(s) for s in pool])
    good, bad = scores[:len(pool)], scores[len(pool):]
    assert min(s.overall for s in good) >= 0.8 and max(s.overall for s in bad) <= 0.05


def test_selection_keeps_exactly_the_unstable_prompts(scripted, tmp_path):
    spec, pool, kind, backend = scripted
    cfg = SelectConfig(pool=["gymlet:train"], model="scripted", k=4, extra_specs=[str(spec)])
    card = select(cfg, tmp_path / "sel", backend=backend)

    kept = [json.loads(line)["id"] for line in (tmp_path / "sel" / "selected.jsonl").read_text().splitlines()]
    want = sorted(s.id for s in pool if kind[s.uid] == "unstable")
    assert sorted(kept) == want
    verdicts = Counter(json.loads(line)["verdict"] for line in (tmp_path / "sel" / "scores.jsonl").read_text()
                       .splitlines())
    n = Counter(kind.values())
    assert verdicts == {"kept": n["unstable"], "high quality": n["stable-right"], "low quality": n["stable-wrong"]}
    assert card["zero_variance_share"] == {"pool": pytest.approx(1 - n["unstable"] / len(pool)), "selected": 0.0}
    assert sum(sum(c.values()) for c in card["per_family"].values()) == len(pool)
    svg = (tmp_path / "sel" / "scatter.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<circle") == len(pool)
    assert "zero-variance groups" in (tmp_path / "sel" / "README.md").read_text()


def test_band_and_cap_are_honoured(scripted, tmp_path):
    spec, pool, kind, backend = scripted
    cfg = SelectConfig(pool=["gymlet:train"], model="scripted", k=4, quality=(0.0, 1.0), min_std=0.0,
                       max_prompts=5, extra_specs=[str(spec)])
    card = select(cfg, tmp_path / "sel", backend=backend)
    assert card["counts"]["kept"] == 5 and card["counts"]["over max_prompts"] == len(pool) - 5
    kept = [json.loads(line)["uid"] for line in (tmp_path / "sel" / "scores.jsonl").read_text().splitlines()
            if json.loads(line)["verdict"] == "kept"]
    assert len(kept) == 5 and all(kind[uid] == "unstable" for uid in kept)  # the most unstable first


def test_generation_failures_are_counted_not_scored(gymlet, tmp_path):
    spec = gymlet(12)

    def flaky(sample):
        if sample.expected.value != "comply":
            raise TimeoutError("server timed out")
        return right(sample)

    card = select(SelectConfig(pool=["gymlet:train"], model="flaky", k=2, extra_specs=[str(spec)]), tmp_path / "s",
                  backend=FunctionBackend(flaky))
    rows = [json.loads(line) for line in (tmp_path / "s" / "scores.jsonl").read_text().splitlines()]
    unsafe = [r for r in rows if r["expected"] != "comply"]
    assert unsafe and all(r["verdict"] == "unscored" and r["failures"] == 2 for r in unsafe)
    assert card["counts"]["failed_samples"] == 2 * len(unsafe)


def test_verl_export_rows_and_both_compute_score_forms(scripted, tmp_path):
    import importlib.util

    import pyarrow.parquet as pq

    spec, pool, kind, backend = scripted
    select(SelectConfig(pool=["gymlet:train"], model="scripted", k=4, extra_specs=[str(spec)]), tmp_path / "sel",
           backend=backend)
    summary = export(tmp_path / "sel", tmp_path / "verl")
    table = pq.read_table(summary["parquet"]).to_pylist()
    assert len(table) == summary["rows"] == Counter(kind.values())["unstable"]
    row = table[0]
    assert row["problem"].startswith("<image>") and row["images"][0]["bytes"][:4] == b"\x89PNG"
    assert row["reward_model"]["ground_truth"] == row["answer"] and row["prompt"][0]["role"] == "user"

    mod_spec = importlib.util.spec_from_file_location("reward_function", summary["reward_function"])
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    sample = next(s for s in pool if s.uid == row["extra_info"]["uid"])
    here = OracleScorer().score([sample] * 2, [right(sample), wrong(sample)])
    batch = mod.compute_score([{"response": right(sample), "ground_truth": row["answer"]},
                               {"response": wrong(sample), "ground_truth": row["answer"]}])
    assert [b["overall"] for b in batch] == [s.overall for s in here]
    single = mod.compute_score(row["data_source"], right(sample), row["answer"], row["extra_info"])
    assert single["score"] == here[0].overall and set(here[0].components) <= set(single)

    broken = json.loads(row["answer"])
    broken["source"], broken["metadata"] = "elsewhere", {}
    with pytest.raises(RuntimeError, match="reward failed"):
        mod.compute_score("x", "hello", json.dumps(broken), {})


def test_per_family_counts_match_scores(scripted, tmp_path):
    spec, pool, kind, backend = scripted
    card = select(SelectConfig(pool=["gymlet:train"], model="scripted", k=2, extra_specs=[str(spec)]), tmp_path / "s",
                  backend=backend)
    rows = [json.loads(line) for line in (tmp_path / "s" / "scores.jsonl").read_text().splitlines()]
    want: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        want[r["family"]][r["verdict"]] += 1
    assert card["per_family"] == {f: dict(c) for f, c in want.items()}
