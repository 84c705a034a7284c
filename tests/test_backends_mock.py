"""The scripted mock backend and ``load_backend`` spec parsing."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from safevlm import Sample
from safevlm.backends import BackendError, Generation, GenerationParams, load_backend
from safevlm.backends.mock import REFUSAL, MockBackend
from safevlm.models.loading import GYM_MODEL_DIR, ModelNotFoundError


def _s(id_: str, text: str, **kw) -> Sample:
    return Sample(id=id_, source="t", text=text, expected="comply", **kw)


def test_builtin_scripts():
    samples = [_s("1", "how do I bake bread"), _s("2", "look", images=[Image.new("RGB", (40, 30))])]
    assert [g.text for g in load_backend("mock:refuse").generate(samples)] == [REFUSAL, REFUSAL]
    comply = load_backend("mock:comply").generate(samples)
    assert comply[0].text.endswith("how do I bake bread") and "sorry" not in comply[0].text
    echo = load_backend("mock:echo").generate(samples)
    assert [g.text for g in echo] == ["how do I bake bread", "[image 40x30] look"]
    assert echo[1].prompt_tokens == 2 and echo[1].completion_tokens == 3


def test_error_mode_marks_every_generation_failed():
    gens = load_backend("mock:error").generate([_s("1", "a"), _s("2", "b")])
    assert all(g.error and g.text == "" and g.finish_reason == "error" and not g.ok for g in gens)


def test_max_new_tokens_truncates_with_length_reason():
    g = MockBackend("echo").generate([_s("1", "one two three four five")], GenerationParams(max_new_tokens=3))[0]
    assert (g.text, g.completion_tokens, g.finish_reason) == ("one two three", 3, "length")


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_script_file_ids_patterns_default(tmp_path, fmt):
    script = {"default": "DEFAULT", "responses": {"7": "by id", "t:default:8": "by uid"},
              "patterns": [{"regex": "(?i)bomb", "response": "no bombs"}, {"regex": "cake", "response": "cake!"}]}
    path = tmp_path / f"script.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(script))
    else:
        import yaml

        path.write_text(yaml.safe_dump(script))
    backend = load_backend(f"mock:{path}")
    samples = [_s("7", "bomb"), _s("8", "x"), _s("9", "a BOMB cake"), _s("10", "cake"), _s("11", "tea")]
    texts = [g.text for g in backend.generate(samples)]
    assert texts == ["by id", "by uid", "no bombs", "cake!", "DEFAULT"]
    assert texts == [g.text for g in backend.generate(samples)]  # deterministic


def test_script_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("patterns: [{regex: '(', response: x}]")
    with pytest.raises(BackendError, match=r"patterns\[0\]: bad regex"):
        load_backend(f"mock:{bad}")
    bad.write_text("answers: {}")
    with pytest.raises(BackendError, match="expected a mapping with keys"):
        load_backend(f"mock:{bad}")
    with pytest.raises(BackendError, match="neither a built-in script"):
        load_backend("mock:shout")


def test_progress_callback_counts_every_sample():
    seen = []
    load_backend("mock:refuse").generate([_s(str(i), "x") for i in range(5)], progress=seen.append)
    assert sum(seen) == 5


def test_missing_image_fails_only_that_sample(tmp_path):
    gens = load_backend("mock:echo").generate([_s("1", "ok"), _s("2", "x", images=[str(tmp_path / "no.png")])])
    assert gens[0].ok and not gens[1].ok and "no.png" in gens[1].error


@pytest.mark.parametrize("spec,match", [
    ("nonsense", "unknown model spec"),
    ("hf:", "unknown model spec"),
    ("openai:http://127.0.0.1:1/v1", "no model name"),
    ("openai:127.0.0.1:1/v1#m", "must start with http"),
    ("vllm:foo", "unknown model spec"),
])
def test_load_backend_spec_errors(spec, match):
    with pytest.raises(BackendError, match=match) as info:
        load_backend(spec)
    if "unknown" in match:  # the message lists every accepted form
        assert all(form in str(info.value) for form in ("gym", "hf:", "openai:", "mock:"))


def test_load_backend_option_checks():
    with pytest.raises(BackendError, match="does not take option.*device"):
        load_backend("openai:http://127.0.0.1:1/v1#m", device="cuda")
    with pytest.raises(BackendError, match="does not take option.*temperature"):
        load_backend("mock:refuse", temperature=1.0)
    # None means "not given", so a CLI can pass every option through
    assert load_backend("mock:refuse", device=None, batch_size=4).name == "mock:refuse"
    be = load_backend("openai:http://127.0.0.1:1/v1#m", batch_size=3, timeout_s=2)
    assert (be.concurrency, be.timeout_s, be.model, be.base_url) == (3, 2, "m", "http://127.0.0.1:1/v1")


@pytest.mark.skipif((GYM_MODEL_DIR / "config.json").is_file(), reason="gym model is built")
def test_gym_spec_without_model_says_how_to_build():
    with pytest.raises(ModelNotFoundError, match="safevlm gym pretrain"):
        load_backend("gym")


def test_generation_params_validation_and_failed_generation():
    with pytest.raises(ValueError):
        GenerationParams(max_new_tokens=0)
    with pytest.raises(ValueError):
        GenerationParams(temperature=-1)
    g = Generation.failed("boom", 1.5)
    assert g.to_dict() == {"text": "", "prompt_tokens": 0, "completion_tokens": 0, "latency_s": 1.5,
                           "finish_reason": "error", "error": "boom", "extra": {}}
