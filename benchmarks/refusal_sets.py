"""The labelled response sets used to develop and measure the refusal detector.

The readers live in the package (:mod:`safevlm.eval.labelled`), because ``safevlm judge-eval`` ships the
same sets as its built-in examples; this module keeps the names the benchmark scripts import. Every
reader returns rows ``{"id", "source", "kind", "label", "refused", "prompt", "response", "split"}``; see
that module for each set's mapping.
"""

from __future__ import annotations

from pathlib import Path

from safevlm.eval.labelled import (
           HAND,
           LABELLED,
           all_sets,
           chatgpt_set,
           gptfuzz_set,
           hand_set,
           rbr_set,
           vlguard_set,
)

REPO = Path(__file__).resolve().parents[1]

__all__ = ["HAND", "LABELLED", "REPO", "all_sets", "chatgpt_set", "gptfuzz_set", "hand_set", "rbr_set",
           "vlguard_set"]
