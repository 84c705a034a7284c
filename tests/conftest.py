"""Shared fixtures: the real benchmark files in ../shared/benchdata, isolated config, tiny VLMs of
every family, SFT examples."""

from __future__ import annotations

import json
import os

# One thread per torch process, whatever the caller's environment: set before torch is first imported
# (here and in every subprocess a test starts, which inherits the environment). On a shared machine
# torch's OpenMP threads spin-wait against each other and a run takes several times as long.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

torch.set_num_threads(1)
if torch.get_num_interop_threads() != 1:  # settable once per process (a second pytest.main, as mutmut runs, skips it)
    torch.set_num_interop_threads(1)

REPO = Path(__file__).resolve().parents[1]
BENCHDATA = Path(os.environ.get("SAFEVLM_TEST_BENCHDATA", REPO.parent / "shared" / "benchdata"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_config(monkeypatch, tmp_path_factory):
    """No user config file, a private cache, and the shared benchmark data as data root."""
    from safevlm import config

    monkeypatch.setenv("SAFEVLM_CONFIG", str(tmp_path_factory.getbasetemp() / "no-config.yaml"))
    monkeypatch.setenv("SAFEVLM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("SAFEVLM_DATA_ROOT", str(BENCHDATA))
    monkeypatch.delenv("SAFEVLM_BENCH_PATH", raising=False)
    monkeypatch.delenv("SAFEVLM_TRUST_HOOKS", raising=False)
    monkeypatch.delenv("SAFEVLM_TRUST_CODE", raising=False)
    monkeypatch.delenv("SAFEVLM_REQUEST_TIMEOUT", raising=False)
    monkeypatch.delenv("SAFEVLM_RETRIES", raising=False)
    config.user_config.cache_clear()
    yield
    config.user_config.cache_clear()


#: Set by .ci/run: where a test needs a headless browser, its absence fails the test instead of skipping it.
REQUIRE_BROWSER = "SAFEVLM_REQUIRE_BROWSER"


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless browser the report's JavaScript tests open pages in (Debian's ``chromium``). Skipped
    where it is absent, except where ``SAFEVLM_REQUIRE_BROWSER=1`` (CI): there a missing browser fails."""
    import shutil

    found = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if found is None:
        why = "headless Chromium not installed (apt-get install chromium)"
        if os.environ.get(REQUIRE_BROWSER) == "1":
            pytest.fail(f"{why}; {REQUIRE_BROWSER}=1 says this run must test the report's JavaScript")
        pytest.skip(why)
    return found


@pytest.fixture(scope="session")
def benchdata() -> Path:
    if not BENCHDATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"benchmark data not found at {BENCHDATA} (CI must run with shared/ beside the clone)")
        pytest.skip(f"benchmark data not found at {BENCHDATA}")
    return BENCHDATA


GYMLET_SPEC = """name: gymlet
title: a small gym train split for tests
root: .
default_variant: train
variants:
  train: {{hook: "safevlm.gym:bench_hook", options: {{split: train, size: {size}, seed: 0}}}}
"""


@pytest.fixture()
def gymlet(tmp_path):
    """``gymlet(size)`` -> a spec file registering ``gymlet:train``, the first ``size`` gym train items
    (loads in a fraction of the 4 s ``gym:train``'s 20 000 items take)."""

    def make(size: int) -> Path:
        spec = tmp_path / f"gymlet-{size}.yaml"
        spec.write_text(GYMLET_SPEC.format(size=size))
        return spec

    return make


# -- tiny VLMs of every supported family (docs/models.md, "Families") ----------------------------------

#: image side of the shared tiny models where the family default is larger (Qwen-VL 224, SmolVLM 224)
TINY_IMAGE_SIZE = {"qwen2_vl": 112, "qwen2_5_vl": 112, "qwen3_vl": 112, "smolvlm": 112}


def _family_names() -> list[str]:
    from safevlm.models.families import FAMILIES

    return list(FAMILIES)


@dataclass
class TinyVLM:
    """One family's tiny random model: the objects, and the folder ``hf:PATH`` loads."""

    family: str
    model: Any
    processor: Any
    path: Path


@pytest.fixture(scope="session")
def tiny_vlms(tmp_path_factory):
    """``tiny_vlms(family)`` -> that family's :class:`TinyVLM`, built and saved once per session.

    Tests must not change the shared objects (train from ``path`` instead)."""
    built: dict[str, TinyVLM] = {}
    root = tmp_path_factory.mktemp("tiny-vlms")

    def get(family: str) -> TinyVLM:
        if family not in built:
            from safevlm.models import build_tiny_vlm, save_vlm

            model, processor = build_tiny_vlm(family, image_size=TINY_IMAGE_SIZE.get(family))
            built[family] = TinyVLM(family, model, processor, save_vlm(model, processor, root / family))
        return built[family]

    return get


@pytest.fixture(params=_family_names())
def tiny_family(request, tiny_vlms) -> TinyVLM:
    """Every supported family in turn: a test taking this fixture runs once per family."""
    return tiny_vlms(request.param)


SFT_ANSWERS = ["It is red.", "The image shows a knife and the request is to hurt someone. So I cannot help with that."]


@pytest.fixture()
def sft_rows():
    """``sft_rows(n)`` -> chat-format SFT examples: one 56-px image, a user question, an answer."""
    from PIL import Image

    def make(n: int = 2) -> list[dict[str, Any]]:
        colours = ["red", "blue", "green", "yellow"]
        return [{"images": [Image.new("RGB", (56, 56), colours[i % 4])], "messages": [
            {"role": "user", "content": [{"type": "image"}, {
                "type": "text", "text": "You are a helpful and harmless assistant.\nWhat is it?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": SFT_ANSWERS[i % 2]}]}]} for i in range(n)]

    return make


@pytest.fixture()
def chat_set(sft_rows):
    """``chat_set(folder, n)`` -> ``folder`` holding ``train.jsonl`` and its PNGs (what
    ``safevlm safecot build`` writes), from :func:`sft_rows`."""

    def make(folder: Path, n: int = 8) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for i, row in enumerate(sft_rows(n)):
            row["images"][0].save(folder / f"{i}.png")
            lines.append(json.dumps({"images": [f"{i}.png"], "messages": row["messages"]}))
        (folder / "train.jsonl").write_text("\n".join(lines) + "\n")
        return folder

    return make
