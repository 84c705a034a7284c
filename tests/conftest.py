"""Shared fixtures: the real benchmark files in ../shared/benchdata, isolated config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
    config.user_config.cache_clear()
    yield
    config.user_config.cache_clear()


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
