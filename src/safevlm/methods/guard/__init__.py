"""VLMGuard-R1: a reasoning prompt rewriter in front of any VLM (docs/methods.md, "VLMGuard-R1").

The pipeline: :mod:`.pairs` (safe/unsafe response pairs from evaluation runs or
reference responses) -> :mod:`.synth` (three teacher stages -> rewriter SFT data) ->
``safevlm train sft`` (the rewriter) -> the guard backend
(:class:`safevlm.backends.defences.GuardedBackend`, spec ``guard:REWRITER>TARGET``),
usable wherever a model spec is.
"""

from safevlm.methods.guard.pairs import Pair, pairs_from_references, pairs_from_runs
from safevlm.methods.guard.synth import SynthConfig, synthesize

__all__ = ["Pair", "SynthConfig", "pairs_from_references", "pairs_from_runs", "synthesize"]
