"""Evaluation: run a model on benchmarks, judge the responses, compute metrics.

``evaluate(model=..., benches=[...], judges=[...], limit=..., out=RUN_DIR)`` writes a
resumable run directory (docs/eval-contract.md) and returns results.json's dict;
``rejudge(RUN_DIR, judges)`` judges stored responses again without generating.
Metric definitions: docs/methods.md, "Metrics", and :mod:`safevlm.eval.metrics`.
"""

from safevlm.eval.config import EvalConfig
from safevlm.eval.metrics import DEFAULT_THRESHOLDS, bootstrap_ci, compute, estimate
from safevlm.eval.runner import evaluate, rejudge

__all__ = ["DEFAULT_THRESHOLDS", "EvalConfig", "bootstrap_ci", "compute", "estimate", "evaluate", "rejudge"]
