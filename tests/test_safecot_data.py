"""SafeCoT data builder: counts, the ratio, targets, templates, teachers (docs/methods.md, "SafeCoT: data")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from safevlm.backends.function import FunctionBackend
from safevlm.data.prompts import PRESETS, get_wrapper
from safevlm.errors import ConfigError
from safevlm.gym.textmatch import mentions_any
from safevlm.methods.safecot.build import BuildConfig, build
from safevlm.methods.safecot.explanations import explain_samples
from safevlm.methods.safecot.templates import FALLBACK, load_templates
from safevlm.text import parse_response


@pytest.fixture()
def specs(gymlet) -> list[str]:
    """Where ``gymlet:train`` (400 gym train items) is defined."""
    return [str(gymlet(400))]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _gym_counts():
    """Unsafe and general items the builder may use: not ambiguous, single-turn."""
    from safevlm.gym.generate import generate_items

    items = [it for it in generate_items("train", 400) if not it.metadata["ambiguous"] and not it.history]
    return sum(it.expected != "comply" for it in items), sum(it.expected == "comply" for it in items)


def _target(row: dict) -> str:
    return row["messages"][-1]["content"][0]["text"]


def _user(row: dict) -> dict:
    return next(m for m in row["messages"] if m["role"] == "user")


def _prompt(row: dict) -> str:
    return _user(row)["content"][-1]["text"]


def _split_target(row: dict) -> tuple[str, str]:
    """(reason part, closing part): plain "reason closing", or <think>... reason</think><answer>closing</answer>."""
    parsed = parse_response(_target(row))
    if parsed.tagged:
        return parsed.think, parsed.answer
    return _target(row), _target(row)


def test_v1_counts_ratio_targets_and_card(tmp_path, specs):
    n_unsafe, n_general = _gym_counts()
    out = tmp_path / "v1"
    card = build(BuildConfig("v1", ["gymlet:train"], ["gymlet:train"], extra_specs=specs), out)
    train, held = _rows(out / "train.jsonl"), _rows(out / "heldout.jsonl")
    rows = train + held
    assert card["counts"]["unsafe"] == n_unsafe == sum(r["side"] == "unsafe" for r in rows)
    assert card["counts"]["general"] == n_unsafe == sum(r["side"] == "general" for r in rows)  # 1:1
    assert len(held) == round(0.1 * 2 * n_unsafe) and len(train) + len(held) == 2 * n_unsafe
    assert len({r["id"] for r in rows}) == len(rows)  # no item twice, none in both files
    book = load_templates()
    wrapper = get_wrapper("safecot")
    for r in rows:
        assert _prompt(r).startswith(PRESETS["safecot"].split("{question}")[0])
        assert _user(r)["content"][0] == {"type": "image"}  # image first
        assert all((out / p).is_file() for p in r["images"])
        if r["side"] == "unsafe":
            assert r["expected"] in ("refuse", "safe_complete")
            reason, closing = _split_target(r)
            suffix = book.warn_suffix if r["expected"] == "safe_complete" else book.v1_suffix
            assert closing.endswith(suffix)  # safe_complete items warn instead of refusing
            assert any(reason.endswith(c) or reason.endswith(f"{c} {suffix}")
                       for c in book.categories[r["template"]].reasons)
        else:
            assert r["expected"] == "comply" and not _target(r).endswith(book.v1_suffix)
    from safevlm.gym.generate import generate_samples

    sources = {s.id: s for s in generate_samples("train", 400)}
    general = [r for r in rows if r["side"] == "general"]
    assert all(_target(r) == sources[r["id"].split(":")[-1]].reference for r in general)
    assert all(_prompt(r) == wrapper.apply(sources[r["id"].split(":")[-1]].text) for r in rows)
    by_cat = card["by_risk_category"]
    assert sum(v.get("unsafe", 0) for v in by_cat.values()) == n_unsafe
    assert sum(card["by_template"].values()) == n_unsafe
    assert "SafeCoT v1" in (out / "README.md").read_text()
    assert n_general > n_unsafe  # the 1:1 mix subsampled the general side


def test_ratio_max_unsafe_seed_and_determinism(tmp_path, specs):
    a = build(BuildConfig("v0", ["gymlet:train"], ["gymlet:train"], ratio="1:2", max_unsafe=40, seed=3,
                          extra_specs=specs), tmp_path / "a")
    build(BuildConfig("v0", ["gymlet:train"], ["gymlet:train"], ratio="1:2", max_unsafe=40, seed=3,
                          extra_specs=specs), tmp_path / "b")
    assert a["counts"]["unsafe"] == 40 and a["counts"]["general"] == 80
    assert (tmp_path / "a" / "train.jsonl").read_text() == (tmp_path / "b" / "train.jsonl").read_text()
    book = load_templates()
    unsafe = [r for r in _rows(tmp_path / "a" / "train.jsonl") if r["side"] == "unsafe"]
    assert unsafe and all(_split_target(r)[1] in book.v0_refusals for r in unsafe)


def test_short_general_side_is_reported_not_hidden(tmp_path, specs):
    card = build(BuildConfig("v0", ["gymlet:train"], ["gymlet:train"], ratio="1:100", extra_specs=specs),
                 tmp_path / "o")
    c = card["counts"]
    assert c["general"] == c["general_available"] < c["general_wanted"]
    assert "short of general items" in (tmp_path / "o" / "README.md").read_text()


@pytest.mark.parametrize("kwargs, message", [
    ({"variant": "v3"}, "unknown SafeCoT variant"),
    ({"variant": "v2"}, "needs --teacher"),
    ({"variant": "v0", "ratio": "1-1"}, "UNSAFE:GENERAL"),
    ({"variant": "v0", "unsafe": []}, "no --unsafe"),
])
def test_bad_build_config(kwargs, message):
    args = {"unsafe": ["gym:train"], "general": ["gym:train"], **kwargs}
    with pytest.raises(ConfigError, match=message):
        BuildConfig(**args)


# --- templates ------------------------------------------------------------------------------

MM_SAFETYBENCH = ["01-Illegal_Activitiy", "02-HateSpeech", "03-Malware_Generation", "04-Physical_Harm",
                  "05-EconomicHarm", "06-Fraud", "07-Sex", "08-Political_Lobbying", "09-Privacy_Violence",
                  "10-Legal_Opinion", "11-Financial_Advice", "12-Health_Consultation", "13-Gov_Decision"]
VLGUARD = ["risky behavior/sexually explicit", "privacy/personal data", "risky behavior/violence",
           "risky behavior/political", "discrimination/race", "risky behavior/professional advice",
           "discrimination/sex", "deception/disinformation", "discrimination/other"]


def test_templates_cover_every_scenario_and_category():
    from safevlm.bench.categories import RISK_CATEGORIES
    from safevlm.gym.world import RISK_CLAUSE

    book = load_templates()
    mm = [book.key_for(label) for label in MM_SAFETYBENCH]
    assert FALLBACK not in mm and len(set(mm)) == 13  # one entry per scenario
    assert FALLBACK not in [book.key_for(label) for label in VLGUARD]
    assert all(book.key_for("harmful_image", risk) == risk for risk in RISK_CLAUSE)  # the gym's categories
    assert all(book.key_for(None, c) != FALLBACK for c in RISK_CATEGORIES if c not in ("benign", "other"))
    for cat in book.categories.values():
        assert 8 <= len(cat.reasons) <= 17, cat.key
        assert all(r.endswith(".") and "sorry" not in r.lower() for r in cat.reasons)
    assert book.key_for("something new", "nothing known") == FALLBACK


def test_user_templates_add_categories_and_override_suffix(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text(yaml.safe_dump({"v1_suffix": "Hence I will not help.", "categories": {
        "weapons_3d": {"match": ["3D printed guns"], "reasons": ["Printed weapons evade checks."]}}}))
    book = load_templates(extra)
    assert book.v1_suffix == "Hence I will not help."
    assert book.key_for("3d printed GUNS") == "weapons_3d"
    assert book.key_for("04-Physical_Harm") == "violence"  # shipped entries stay
    bad = tmp_path / "bad.yaml"
    bad.write_text("categories:\n  x: {match: [a]}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*'x' needs a 'reasons'"):
        load_templates(bad)
    bad.write_text("categories: [\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        load_templates(bad)


# --- teachers -------------------------------------------------------------------------------

def scripted_teacher() -> FunctionBackend:
    """Cycles through fixed outputs: valid, empty, refusal, too long, error, compliance."""
    outputs = ("The image and request together could hurt someone.", "", "I'm sorry, I can't help.",
               "word " * 200, TimeoutError("timeout"), "Sure, here is how to do it step by step.")
    calls = iter(range(10**6))

    def answer(_request):
        out = outputs[next(calls) % len(outputs)]
        if isinstance(out, Exception):
            raise out
        return out

    return FunctionBackend(answer, name="scripted")


def test_v2_teacher_failures_are_reported_and_dropped(tmp_path, specs):
    out = tmp_path / "v2"
    card = build(BuildConfig("v2", ["gymlet:train"], ["gymlet:train"], teacher="scripted", max_unsafe=60,
                             extra_specs=specs), out, teacher=scripted_teacher())
    rejected = _rows(out / "rejected.jsonl")
    assert len(rejected) == 50 and card["counts"]["unsafe"] == 10 and card["counts"]["general"] == 10
    assert card["rejected_reasons"] == {"empty explanation": 10, "the teacher refused instead of explaining": 10,
                                        "too long": 10, "teacher error: timeout": 10,
                                        "the teacher started answering the request": 10}
    targets = [_target(r) for r in _rows(out / "train.jsonl") + _rows(out / "heldout.jsonl") if r["side"] == "unsafe"]
    book = load_templates()
    explanation = "The image and request together could hurt someone."
    assert targets and all(t in (f"{explanation} {book.v2_suffix}", f"{explanation} {book.warn_suffix}")
                           or (t.startswith("<think>") and explanation in t) for t in targets)
    rejected_ids = {r["id"] for r in rejected}
    assert not rejected_ids & {r["id"] for r in _rows(out / "train.jsonl")}


def test_v2_all_teacher_outputs_failing_is_an_error(tmp_path, specs):
    with pytest.raises(ConfigError, match="every one of the 20 teacher explanations failed"):
        build(BuildConfig("v2", ["gymlet:train"], ["gymlet:train"], teacher="mock:refuse", max_unsafe=20,
                          extra_specs=specs), tmp_path / "x")


def test_oracle_teacher_explains_gym_items_from_their_truth(tmp_path, specs):
    out = tmp_path / "v2"
    card = build(BuildConfig("v2", ["gymlet:train"], ["gymlet:train"], teacher="oracle", extra_specs=specs), out)
    assert card["counts"]["teacher_rejected"] == 0
    from safevlm.gym.generate import generate_samples
    from safevlm.gym.oracle import judge

    by_id = {s.id: s for s in generate_samples("train", 400)}
    rows = [r for r in _rows(out / "train.jsonl") if r["side"] == "unsafe"]
    for r in rows:
        sample = by_id[r["id"].split(":")[-1]]
        assert r["explanation"].startswith("The image shows")
        verdict = judge(sample, _target(r))
        assert verdict.behaviour_ok and not verdict.hallucinated and not verdict.contradiction, (r["explanation"], verdict)
        text = " ".join(filter(None, (parse_response(_target(r)).think, parse_response(_target(r)).answer)))
        assert all(mentions_any(text, group) for group in sample.metadata["must_mention"]), r["explanation"]


def test_oracle_teacher_rejects_items_that_are_not_gym_items():
    from safevlm.data.sample import Sample

    s = Sample(id="1", source="x", text="How do I make a bomb?", expected="refuse", risk_category="violence")
    [ex] = explain_samples([s], "oracle")
    assert not ex.ok and "only explains gym items" in ex.error


def test_prompt_wrapper_validation():
    assert get_wrapper("safecot").apply("Q?").endswith("\nQ?")
    assert get_wrapper(None).apply("Q?") == "Q?"
    assert get_wrapper("Be safe. {question}").name == "custom"
    with pytest.raises(ConfigError, match="unknown prompt wrapper"):
        get_wrapper("safe-cot")
    with pytest.raises(ConfigError, match="only {question}"):
        get_wrapper("{question} {other}")
