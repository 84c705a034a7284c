"""The evaluation's resolved configuration, saved as ``RUN_DIR/config.json``.

One dataclass holds everything that decides what a run computes (the resolved config
is saved in every run directory). ``model``, the generation
parameters and the backend options that change outputs make up the response cache
key; re-using a run directory with different values of these is refused rather than
silently mixing two models' responses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safevlm.backends.base import DEFAULT_MAX_NEW_TOKENS, GenerationParams
from safevlm.backends.registry import GUARD_OPTS
from safevlm.errors import ConfigError
from safevlm.eval.metrics import DEFAULT_THRESHOLDS, RESAMPLES

#: backend options that change what is generated (part of the cache key): image size and how a guard works
OUTPUT_OPTIONS = ("max_image_side", *GUARD_OPTS)
LIMIT_MODES = ("stratified", "first")
MISSING_IMAGE_POLICIES = ("skip", "text_only", "error")
#: the key of a per-benchmark ``on_missing_image`` mapping that holds the choice for every other benchmark
EVERY_BENCH = "*"


def parse_missing_image(values: str | list[str] | dict[str, str] | None) -> str | dict[str, str] | None:
    """``--on-missing-image`` values -> one policy for every benchmark, or a per-benchmark mapping.

    Each value is ``POLICY`` (every benchmark) or ``BENCH=POLICY`` (``BENCH`` is ``NAME`` or
    ``NAME:VARIANT``), comma-separated or repeated: ``siuo=text_only,mm-safetybench:sd=skip``.
    A mapping keeps the default for every other benchmark under ``"*"``.
    """
    if values is None or isinstance(values, dict):
        out: dict[str, str] = dict(values or {})
    else:
        items = [values] if isinstance(values, str) else list(values)
        out = {}
        for item in items:
            for part in (p.strip() for p in str(item).split(",")):
                if not part:
                    continue
                bench, eq, policy = part.rpartition("=")
                key = bench.strip().lower() if eq else EVERY_BENCH
                if eq and not key:
                    raise ConfigError(f"--on-missing-image {part!r}: expected POLICY or BENCH=POLICY")
                out[key] = policy.strip()
    for key, policy in out.items():
        if policy not in MISSING_IMAGE_POLICIES:
            where = "" if key == EVERY_BENCH else f" (for {key})"
            raise ConfigError(f"on_missing_image must be {', '.join(MISSING_IMAGE_POLICIES)}{where}, got {policy!r}")
    if not out:
        return None
    if set(out) == {EVERY_BENCH}:
        return out[EVERY_BENCH]
    return out


def missing_image_policy(setting: str | dict[str, str] | None, uid: str) -> tuple[str | None, bool]:
    """The policy for benchmark ``uid`` (``NAME:VARIANT``) and whether it was chosen (not the default):
    ``NAME:VARIANT`` wins over ``NAME``, which wins over ``*``; None: the spec's own, else skip."""
    if setting is None or isinstance(setting, str):
        return setting, setting is not None
    name = uid.partition(":")[0]
    for key in (uid, name, EVERY_BENCH):
        if key in setting:
            return setting[key], True
    return None, False


@dataclass
class EvalConfig:
    """What ``safevlm eval`` runs.

    Attributes:
        model: backend spec (``gym``, ``hf:PATH``, ``openai:URL#MODEL``, ``mock:...``).
        benches: benchmark refs ``NAME[:VARIANT]`` (resolved to ``NAME:VARIANT``).
        judges: judge names for every benchmark, primary first; ``None`` = per-benchmark
            defaults (gym: ``oracle, refusal``; others: ``refusal``).
        limit: at most this many samples per benchmark.
        limit_mode / limit_seed: how ``limit`` chooses them: ``stratified`` (a seeded sample,
            stratified by category, groups kept whole) or ``first`` (file order); see
            :func:`safevlm.eval.selection.choose`.
        generation: decoding settings (default :data:`DEFAULT_MAX_NEW_TOKENS` new tokens, greedy).
        batch_size: samples per generate call for local backends; requests in flight
            for remote ones (their ``concurrency``).
        backend_options: passed to :func:`safevlm.backends.load_backend` (device, dtype,
            max_image_side...).
        on_missing_image: ``skip`` | ``text_only`` | ``error`` (see the bench loader) for every
            benchmark, or a mapping ``{"siuo": "text_only", "*": "skip"}`` per benchmark
            (:func:`parse_missing_image`); None: each benchmark spec's own setting, else ``skip``.
        data_root / extra_specs: where benchmarks are found.
        mcqa_prompt: list a multiple-choice sample's options in the prompt (see :mod:`.mcqa`).
        prompt_wrapper: wrap every prompt as a model was fine-tuned to see it
            (``safecot`` or a template with ``{question}``; see
            :mod:`safevlm.data.prompts`); ``None`` sends the benchmark text as is.
        thresholds / bootstrap_seed / resamples: metric options (see :mod:`.metrics`).
        judge_model: the one model spec every official LLM-judge protocol asks (GPT-4o behind
            ``openai:``, a vLLM-served judge, ``hf:`` local, ``mock:`` in tests); None: those
            official metrics are reported as not computed (:mod:`.official`).
        parity: reproduce the upstream scoring defects that change numbers (docs/benchmark-protocols.md);
            off: they are fixed.
        safecot_metrics: also report SafeCoT's own metric definitions per benchmark.
    """

    model: str
    benches: list[str]
    judges: list[str] | None = None
    limit: int | None = None
    limit_mode: str = "stratified"
    limit_seed: int = 0
    generation: GenerationParams = field(default_factory=lambda: GenerationParams(max_new_tokens=DEFAULT_MAX_NEW_TOKENS))
    batch_size: int | None = None
    backend_options: dict[str, Any] = field(default_factory=dict)
    on_missing_image: str | dict[str, str] | None = None
    data_root: str | None = None
    extra_specs: list[str] = field(default_factory=list)
    mcqa_prompt: bool = True
    prompt_wrapper: str | None = None
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    bootstrap_seed: int = 0
    resamples: int = RESAMPLES
    judge_model: str | None = None
    parity: bool = False
    safecot_metrics: bool = False

    def __post_init__(self) -> None:
        if not self.benches:
            raise ConfigError("no benchmark given (use --bench NAME[,NAME...])")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1, got {self.limit}")
        self.on_missing_image = parse_missing_image(self.on_missing_image)
        if self.limit_mode not in LIMIT_MODES:
            raise ConfigError(f"limit_mode must be {' or '.join(LIMIT_MODES)}, got {self.limit_mode!r}")
        if self.judges is not None and not self.judges:
            self.judges = None
        if self.prompt_wrapper in ("", "none"):
            self.prompt_wrapper = None
        if self.prompt_wrapper is not None:
            from safevlm.data.prompts import get_wrapper

            get_wrapper(self.prompt_wrapper)  # a bad template fails before any loading

    @property
    def output_options(self) -> dict[str, Any]:
        return {k: self.backend_options[k] for k in OUTPUT_OPTIONS if self.backend_options.get(k) is not None}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["generation"] = asdict(self.generation)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["generation"] = GenerationParams(**(d.get("generation") or {}))
        return cls(**known)

    def check_compatible(self, old: dict[str, Any], run_dir: Path) -> None:
        """Refuse to add to a run directory that holds another model's or settings' responses."""
        mine = self.to_dict()
        for key in ("model", "generation"):
            if old.get(key) != mine[key]:
                raise ConfigError(f"{run_dir} holds a run with {key} = {old.get(key)!r}, not {mine[key]!r}; "
                                  "use another --out, or --overwrite to start it again")
        old_out = {k: (old.get("backend_options") or {}).get(k) for k in OUTPUT_OPTIONS}
        new_out = {k: self.backend_options.get(k) for k in OUTPUT_OPTIONS}
        if old_out != new_out:
            raise ConfigError(f"{run_dir} holds a run with backend options {old_out}, not {new_out}; "
                              "use another --out, or --overwrite")
