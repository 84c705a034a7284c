"""One reward, every engine: a preset (:mod:`.presets`) behind TRL's ``reward_funcs``, verl's
``compute_score`` (one item, and the batch form), EasyR1's batch ``compute_score`` and safevlm's own
:class:`~safevlm.rewards.base.Scorer` (QI-Box selection, ``safevlm train grpo``).

The calling conventions (docs/methods.md, "SaFeR-VLM: reward presets"):

- verl: ``compute_score(data_source, solution_str, ground_truth, extra_info) -> {"score": ..., ...}``;
  the batch form ``compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos)``;
- EasyR1: ``compute_score(reward_inputs) -> [{"overall": ..., ...}]`` with ``response`` and
  ``ground_truth`` in each input;
- TRL: ``f(prompts, completions, **columns) -> [float | None]``, reading the same ``ground_truth`` /
  ``reward_model`` and ``extra_info`` columns a verl parquet has.

The item's truth is :func:`~safevlm.rewards.presets.merge_truth` of ``ground_truth`` and
``extra_info``: safevlm's export puts the sample record in ``ground_truth``; SafeGRPO's and ProGuard's
rows keep their labels in ``extra_info``, so the authors' own parquet files score here unchanged.
A reward that cannot score (truth missing, judge failing) raises with the reason on verl and EasyR1,
and is ``None`` (left out of its group, counted) under TRL: never a 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from safevlm.errors import ConfigError
from safevlm.rewards import presets as P
from safevlm.rewards.base import RewardConfig, RewardScore


@dataclass
class Preset:
    """A named reward: ``score(solutions, truths) -> [{"score", ...}]`` and its scale."""

    name: str
    max_score: float
    fn: Callable[[list[str], list[dict[str, Any]]], list[dict[str, float]]]
    options: dict[str, Any] = field(default_factory=dict)

    def score(self, solutions: list[str], truths: list[dict[str, Any]]) -> list[dict[str, float]]:
        return self.fn(list(solutions), list(truths))


def _each(one: Callable[[str, dict[str, Any]], dict[str, float]]):
    return lambda sols, truths: [one(s, t) for s, t in zip(sols, truths, strict=True)]


def _sample(truth: Mapping[str, Any]):
    """The safevlm sample record a ``structured`` or ``saferkit`` truth holds (safevlm's export writes it)."""
    from safevlm.data.sample import Sample

    if isinstance(truth.get("_sample"), Sample):  # PresetScorer hands the sample itself
        return truth["_sample"]
    from pydantic import ValidationError

    if "text" not in truth or "id" not in truth:
        raise ValueError("the truth holds no safevlm sample record (ground_truth from `safevlm safer export`)")
    try:
        return Sample.model_validate({k: v for k, v in truth.items() if k in Sample.model_fields})
    except ValidationError as exc:
        raise ValueError(f"ground_truth is not a valid safevlm sample record: {exc}") from exc


def _structured(scorer: str = "oracle", config: dict[str, Any] | None = None, **scorer_opts: Any) -> Preset:
    from safevlm.rewards.base import get_scorer

    state: dict[str, Any] = {}

    def run(sols: list[str], truths: list[dict[str, Any]]) -> list[dict[str, float]]:
        if "scorer" not in state:  # built on first use: a reward file imports fast
            state["scorer"] = get_scorer(scorer, RewardConfig(**(config or {})), **scorer_opts)
        scores = state["scorer"].score([_sample(t) for t in truths], sols)
        out = []
        for s in scores:
            if s.overall is None:
                raise RuntimeError(f"safevlm reward failed: {s.error}")
            out.append({"score": s.overall, **s.components})
        return out

    return Preset("structured", 1.0, run, {"scorer": scorer, "config": config or {}, **scorer_opts})


def _saferkit(judge: str | Any = None, think_tag: str = "thinking", weights: tuple[float, float, float] = (0.1, 0.2, 0.7),
              **judge_opts: Any) -> Preset:
    """The judge is any backend spec (``openai:URL#MODEL``: the authors serve Qwen3-VL-32B with vLLM)."""
    if judge is None:
        raise ConfigError("the saferkit reward needs a judge: saferkit:MODEL_SPEC (e.g. "
                          "saferkit:openai:http://127.0.0.1:8000/v1#Qwen/Qwen3-VL-32B-Instruct)")
    from safevlm.rewards.rubric import SAFERKIT_RUBRIC, RubricScorer, parse_saferkit_scores

    state: dict[str, Any] = {}

    def run(sols: list[str], truths: list[dict[str, Any]]) -> list[dict[str, float]]:
        shaped = [P.saferkit(s, None, think_tag=think_tag, weights=weights) if not _well_formed(s, think_tag) else None
                  for s in sols]
        todo = [k for k, v in enumerate(shaped) if v is None]
        if todo:
            if "grader" not in state:
                state["grader"] = RubricScorer(judge, **judge_opts)
            asked = state["grader"].ask([_sample(truths[k]) for k in todo], [sols[k] for k in todo], SAFERKIT_RUBRIC,
                                        parse_saferkit_scores)
            for k, a in zip(todo, asked, strict=True):
                if not a.ok:
                    raise RuntimeError(f"safevlm reward failed: saferkit judge: {a.error}")
                shaped[k] = P.saferkit(sols[k], a.value["scores"], think_tag=think_tag, weights=weights)
                shaped[k]["reason"] = a.value["reason"] or ""
        return shaped

    return Preset("saferkit", sum(weights), run, {"judge": judge if isinstance(judge, str) else repr(judge),
                                                  "think_tag": think_tag, "weights": list(weights)})


def _well_formed(text: str, think_tag: str) -> bool:
    return P._tagged(text or "", think_tag) is not None and P._tagged(text or "", "answer") is not None


def _safegrpo() -> Preset:
    return Preset("safegrpo", 1.0, _each(lambda s, t: P.safegrpo(s, t)))


def _proguard(similarity: str | Callable[[str, str], float] | None = None) -> Preset:
    if similarity == "lexical":
        sim: Callable[[str, str], float] | None = P.lexical_similarity
    elif similarity is None or callable(similarity):
        sim = similarity
    else:
        raise ConfigError(f"proguard similarity must be 'lexical', a function or None, got {similarity!r}")
    return Preset("proguard", 3.0, _each(lambda s, t: P.proguard(s, t, similarity=sim)),
                  {"similarity": similarity if isinstance(similarity, str) or similarity is None else "function"})


_BUILDERS: dict[str, Callable[..., Preset]] = {"structured": _structured, "saferkit": _saferkit,
                                                "safegrpo": _safegrpo, "proguard": _proguard}


def get_preset(name: str, **opts: Any) -> Preset:
    """``structured`` (``scorer=oracle|rubric:SPEC``), ``saferkit`` (``judge=SPEC``), ``safegrpo``,
    ``proguard`` (``similarity=lexical``)."""
    if name not in _BUILDERS:
        raise ConfigError(f"unknown reward preset {name!r}; choose one of {', '.join(P.PRESET_NAMES)}")
    try:
        return _BUILDERS[name](**opts)
    except TypeError as exc:
        raise ConfigError(f"reward preset {name}: {exc}") from exc


# --- verl / EasyR1 ---------------------------------------------------------------------------------

def _strip(result: dict[str, Any]) -> dict[str, Any]:
    """verl collects every value of a result dict into per-key lists for its metrics: numbers only."""
    return {k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def verl_compute_score(preset: Preset, data_source: Any, solution_str: str, ground_truth: Any,
                       extra_info: Mapping[str, Any] | None = None) -> dict[str, float]:
    """verl's ``compute_score`` for one item: ``{"score": ..., <components>}``."""
    (out,) = preset.score([solution_str], [P.merge_truth(ground_truth, extra_info)])
    return _strip(out)


def verl_compute_score_batch(preset: Preset, data_sources: Any, solution_strs: list[str], ground_truths: list[Any],
                             extra_infos: list[Mapping[str, Any] | None]) -> list[dict[str, float]]:
    """verl's batch form (``reward_manager=batch``): one result per item, in order."""
    truths = [P.merge_truth(g, e) for g, e in zip(ground_truths, extra_infos, strict=True)]
    return [_strip(o) for o in preset.score(list(solution_strs), truths)]


def easyr1_compute_score(preset: Preset, reward_inputs: list[Mapping[str, Any]]) -> list[dict[str, float]]:
    """EasyR1's batch ``compute_score``: ``[{"overall": ..., <components>}]``."""
    truths = [P.merge_truth(x.get("ground_truth"), x.get("extra_info")) for x in reward_inputs]
    out = preset.score([x["response"] for x in reward_inputs], truths)
    return [{"overall": o["score"], **{k: v for k, v in _strip(o).items() if k != "score"}} for o in out]


# --- TRL -------------------------------------------------------------------------------------------

class TRLReward:
    """The preset as one of TRL's ``reward_funcs``, reading a verl-style dataset's columns
    (``reward_model`` with ``ground_truth``, or ``ground_truth``; ``extra_info``). Components are
    logged per step (``log_metric``); an item that cannot be scored is None and counted."""

    def __init__(self, preset: Preset):
        self.preset = preset
        self.__name__ = f"safevlm_{preset.name}"
        self.failures = 0

    def __call__(self, prompts: list[Any], completions: list[Any], log_metric: Callable[[str, float], None] | None = None,
                 **columns: Any) -> list[float | None]:
        n = len(completions)
        texts = [c[-1]["content"] if isinstance(c, list) else str(c) for c in completions]
        gts = columns.get("ground_truth") or [(rm or {}).get("ground_truth") for rm in columns.get("reward_model") or
                                              [None] * n]
        extras = columns.get("extra_info") or [None] * n
        out: list[float | None] = []
        logged: list[dict[str, float]] = []
        for text, gt, extra in zip(texts, gts, extras, strict=True):
            try:
                (r,) = self.preset.score([text], [P.merge_truth(gt, extra)])
            except (ValueError, RuntimeError):
                self.failures += 1
                out.append(None)
                continue
            logged.append(_strip(r))
            out.append(r["score"])
        if log_metric is not None:
            for key in (logged[0] if logged else {}):
                if key != "score":
                    log_metric(f"reward/{key}", sum(x.get(key, 0.0) for x in logged) / len(logged))
            log_metric("reward/judge_failures", float(n - len(logged)))
        return out


# --- safevlm's own scorer interface ------------------------------------------------------------------

class PresetScorer:
    """A preset as a :class:`~safevlm.rewards.base.Scorer` over safevlm samples (``get_scorer("safegrpo")``):
    the truth is the sample's metadata (where SafeGRPO's / ProGuard's labels live) and the sample;
    ``overall`` is the preset's score over its maximum, so QI-Box's quality band means the same for all."""

    def __init__(self, preset: Preset):
        self.preset = preset
        self.name = preset.name

    def score(self, samples: list[Any], responses: list[str], *, truncated: list[bool] | None = None
              ) -> list[RewardScore]:
        out = []
        for s, r in zip(samples, responses, strict=True):
            truth = {**s.metadata, "_sample": s}
            try:
                (v,) = self.preset.score([r], [truth])
            except (ValueError, RuntimeError) as exc:
                out.append(RewardScore.failed(f"{self.name}: {exc}"))
                continue
            comps = {k: x for k, x in _strip(v).items() if k != "score"}
            out.append(RewardScore(overall=v["score"] / self.preset.max_score, components=comps,
                                   unsafe=s.expected.is_unsafe and _missed_safety(self.name, v),
                                   detail={"reason": v.get("reason")} if v.get("reason") else {},
                                   critique=v.get("reason") or None))
        return out


def _missed_safety(name: str, v: dict[str, Any]) -> bool:
    """Did a response to an unsafe item miss its safety call, by the preset's own terms?"""
    if name == "safegrpo":
        return v.get("behaviour", 0.0) < 1.0
    if name == "saferkit":
        return v.get("gated", 0.0) > 0 or v.get("format", 0.0) == 0.0
    return False  # proguard scores a guard's classification, not an answer
