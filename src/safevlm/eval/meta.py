"""Judge meta-evaluation: how well a judge agrees with human labels (``safevlm judge-eval``).

Every safety figure rests on a judge, so a user must be able to measure one against labels they trust:
any judge (any name ``--judge`` takes) reads a human-labelled set (a built-in development set, or a
JSONL/CSV file, :mod:`safevlm.eval.labelled`) and its binary call (``refused``, the positive class) is
scored against the human one:

- accuracy, precision and recall of ``refused``, rates each with its 95 % Wilson score interval over its
  own denominator (the one interval function of every rate, :func:`safevlm.eval.metrics.estimate`), and
  F1 and Cohen's kappa, which are not rates, with a 95 % percentile bootstrap interval (1,000 resamples
  of the items, seed 0, so the same inputs give the same interval);
- the confusion matrix (human rows, judge columns), and the three-way table of the human label
  (refused / partial / complied) against the judge's call (refused / safe_completion / complied /
  undecided);
- the same figures per source (a file's ``source`` column; never pooled into one number when the
  sources' labels mean different things: the built-in sets are scored one at a time);
- every disagreement, with the response and both labels;
- what was left out and why: a judge error, or a response the judge left undecided (empty, looping,
  gibberish). Both are excluded from the figures and counted (``coverage``);
- the judge's **fingerprint** (:func:`fingerprint`): its name, options, model, prompt text, weights and
  parser version, hashed into one ``id``; two results are comparable when their ids are equal.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from safevlm.eval.compare import cohen_kappa
from safevlm.eval.judging import run_judge
from safevlm.eval.metrics import LEVEL, RESAMPLES, estimate
from safevlm.judges.base import JudgeInput, code_sha256

STATS = ("accuracy", "precision", "recall", "f1", "kappa")


def _stats(y: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    """The five figures for human labels ``y`` and judge calls ``p`` (booleans, positive = refused)."""
    n = len(y)
    if not n:
        return dict.fromkeys(STATS)
    tp = int(np.sum(y & p))
    fp = int(np.sum(~y & p))
    fn = int(np.sum(y & ~p))
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    return {"accuracy": float(np.mean(y == p)), "precision": precision, "recall": recall, "f1": f1,
            "kappa": cohen_kappa(y.tolist(), p.tolist())}


def agreement(y: Sequence[bool], p: Sequence[bool], *, resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """``{stat: {"value", "low", "high", "n", "interval"}}`` for the five figures and the 2x2 ``confusion``
    matrix (``{human: {judge: count}}``). Accuracy, precision and recall are rates: Wilson intervals, ``n``
    their denominator (items, judged refusals, human refusals). F1 and kappa: bootstrap, ``n`` the items."""
    ya, pa = np.asarray(y, dtype=bool), np.asarray(p, dtype=bool)
    point = _stats(ya, pa)
    rates = {"accuracy": [bool(a == b) for a, b in zip(ya, pa)], "precision": [bool(a) for a, b in zip(ya, pa) if b],
             "recall": [bool(b) for a, b in zip(ya, pa) if a]}
    draws: dict[str, list[float]] = {k: [] for k in STATS if k not in rates}
    if len(ya):
        rng = np.random.default_rng(seed)
        for idx in rng.integers(0, len(ya), size=(resamples, len(ya))):
            for k, v in _stats(ya[idx], pa[idx]).items():
                if v is not None and k in draws:
                    draws[k].append(v)
    alpha = (1 - LEVEL) / 2
    out: dict[str, Any] = {}
    for k in STATS:
        v = point[k]
        if v is None:
            out[k] = None
            continue
        if k in rates:
            est = estimate(rates[k], method="wilson")
            assert est is not None
            out[k] = {**est, **{b: round(est[b], 6) for b in ("value", "low", "high")}}
            continue
        low, high = (np.percentile(draws[k], [100 * alpha, 100 * (1 - alpha)]) if draws[k] else (v, v))
        out[k] = {"value": round(v, 6), "low": round(min(float(low), v), 6), "high": round(max(float(high), v), 6),
                  "n": len(ya), "interval": "bootstrap"}
    out["confusion"] = {"refused": {"refused": int(np.sum(ya & pa)), "complied": int(np.sum(ya & ~pa))},
                        "complied": {"refused": int(np.sum(~ya & pa)), "complied": int(np.sum(~ya & ~pa))}}
    return out


def fingerprint(judge: Any, name: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What makes two judges' results comparable: the judge's name, options and class, plus what the judge
    reports about itself (``judge.fingerprint()``: model, prompt text, weights, parser version), else a
    hash of its module's source. ``id`` hashes all of it (not the safevlm version: an unchanged judge in a
    new release stays comparable)."""
    fp: dict[str, Any] = {"judge": name, "class": f"{type(judge).__module__}.{type(judge).__qualname__}",
                          "options": {k: v for k, v in sorted((options or {}).items())}}
    own = getattr(judge, "fingerprint", None)
    if callable(own):
        fp.update(own())
    else:
        target = getattr(judge, "fn", None) or type(judge)
        module = inspect.getmodule(target)
        try:
            fp["code_sha256"] = code_sha256(module) if module else None
        except (OSError, TypeError):
            fp["code_sha256"] = None
    fp["id"] = hashlib.sha256(json.dumps(fp, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return fp


def meta_evaluate(judge: Any, name: str, rows: list[dict[str, Any]], *, options: dict[str, Any] | None = None,
                  batch_size: int = 64, resamples: int = RESAMPLES, seed: int = 0,
                  progress: Any = None) -> dict[str, Any]:
    """Score ``judge`` against the human labels of ``rows`` (see the module docstring).

    ``rows``: as :mod:`safevlm.eval.labelled` gives (``response``, ``refused``, ``label``, ``source``,
    ``prompt``, ``id``). ``progress``: called with the number of rows judged after each batch.
    Returns the report: ``fingerprint``, ``n``, ``coverage``, ``overall`` (figures and confusion),
    ``three_way``, ``by_source`` and ``disagreements``.
    """
    verdicts = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        items = [JudgeInput(response=r["response"], prompt=r.get("prompt")) for r in chunk]
        verdicts += run_judge(judge, name, items)[0]
        if progress is not None:
            progress(len(chunk))
    decided = [(r, v) for r, v in zip(rows, verdicts, strict=True) if v.error is None and v.refused is not None]
    errors = sum(v.error is not None for v in verdicts)
    coverage = {"n": len(rows), "decided": len(decided), "judge_errors": errors,
                "undecided": len(rows) - len(decided) - errors}

    def figures(pairs: list[tuple[dict[str, Any], Any]]) -> dict[str, Any]:
        return agreement([bool(r["refused"]) for r, _ in pairs], [bool(v.refused) for _, v in pairs],
                         resamples=resamples, seed=seed)

    three = Counter((r.get("label") or ("refused" if r["refused"] else "complied"),
                     "error" if v.error else v.decided_call or "undecided") for r, v in zip(rows, verdicts))
    sources = sorted({r["source"] for r in rows})
    by_source = {}
    if len(sources) > 1:
        for s in sources:
            pairs = [(r, v) for r, v in decided if r["source"] == s]
            by_source[s] = {"n": sum(r["source"] == s for r in rows), "decided": len(pairs), **figures(pairs)}
    disagreements = [{"id": r["id"], "source": r["source"], "human": r.get("label") or r["refused"],
                      "human_refused": bool(r["refused"]), "judge_refused": bool(v.refused),
                      "judge_call": v.decided_call, "response": r["response"], "prompt": r.get("prompt"),
                      "verdict": v.to_dict()}
                     for r, v in decided if bool(r["refused"]) != bool(v.refused)]
    return {"fingerprint": fingerprint(judge, name, options), "n": len(rows), "coverage": coverage,
            "overall": figures(decided),
            "three_way": {f"{h} -> {j}": c for (h, j), c in sorted(three.items())},
            "by_source": by_source, "disagreements": disagreements,
            "settings": {"positive": "refused", "level": LEVEL, "resamples": resamples, "seed": seed}}
