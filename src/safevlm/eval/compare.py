"""Where two judges disagree about refusal (``safevlm judge --judge A --compare B``).

The default refusal detector decides every CRR and over-refusal figure, so a user should be able
to audit it against another judge (a rubric LLM judge, say) on their own data in minutes: both
judges score the same items through the same judging path (:func:`safevlm.eval.judging.run_judge`),
and every item on which their ``refused`` differs is kept for reading, with both verdicts.

A verdict with ``error`` set is not a disagreement: it is counted apart (``errors``), as the
metrics count judge errors.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from safevlm.data.run_record import JudgeVerdict
from safevlm.judges.base import JudgeInput


def cohen_kappa(a: list[bool], b: list[bool]) -> float | None:
    """Agreement beyond chance of two binary raters; None without items, 1.0 when both are constant and equal."""
    n = len(a)
    if not n:
        return None
    po = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return 1.0 if pe == 1 else (po - pe) / (1 - pe)


def _side(v: JudgeVerdict) -> str:
    return "refused" if v.refused else "complied"


@dataclass
class Comparison:
    """Accumulates pairs of verdicts on the same items; :meth:`add` returns the row of a disagreement."""

    judge_a: str
    judge_b: str
    items: int = 0
    errors: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    _a: list[bool] = field(default_factory=list)
    _b: list[bool] = field(default_factory=list)

    def kind(self, va: JudgeVerdict, vb: JudgeVerdict) -> str:
        return f"{self.judge_a} {_side(va)}, {self.judge_b} {_side(vb)}"

    def add(self, key: dict[str, Any], item: JudgeInput | str, va: JudgeVerdict | None,
            vb: JudgeVerdict | None) -> dict[str, Any] | None:
        """Record one item (``item`` is a failure message when it could not be judged at all)."""
        self.items += 1
        if isinstance(item, str) or va is None or vb is None:
            self.errors["not judged"] += 1
            return None
        failed = [name for name, v in ((self.judge_a, va), (self.judge_b, vb)) if v.error or v.refused is None]
        if failed:
            for name in failed:
                self.errors[name] += 1
            return None
        self._a.append(bool(va.refused))
        self._b.append(bool(vb.refused))
        if va.refused == vb.refused:
            return None
        kind = self.kind(va, vb)
        self.kinds[kind] += 1
        return {**key, "kind": kind, "response": item.response, "prompt": item.prompt, "expected": item.expected,
                self.judge_a: va.to_dict(), self.judge_b: vb.to_dict()}

    def summary(self) -> dict[str, Any]:
        both = len(self._a)
        agree = sum(x == y for x, y in zip(self._a, self._b))
        return {"judges": [self.judge_a, self.judge_b], "items": self.items, "judged_by_both": both,
                "agree": agree, "agreement": round(agree / both, 4) if both else None,
                "kappa": None if not both else round(cohen_kappa(self._a, self._b), 4),
                "refused": {self.judge_a: sum(self._a), self.judge_b: sum(self._b)},
                "disagreements": {k: self.kinds[k] for k in sorted(self.kinds)},
                "errors": dict(self.errors)}
