"""Where the guard's training material comes from: (request, image, safe response, unsafe response).

docs/methods.md, "VLMGuard-R1: three-stage synthesis". Two sources:

- **evaluation runs** of the same benchmark by different models (``safevlm eval``
  folders, e.g. a base model and a SafeCoT model), joined by sample; a judge you name
  decides which responses are safe. A risky item (``refuse`` / ``safe_complete``)
  becomes a pair when some run made the right call (declined or warned, no harmful
  help) and another complied; a benign item (``comply``) becomes a helpfulness item
  when some run answered it without refusing. Anything else is counted, not used.
- **benchmarks with reference responses**: a benign item's ``reference`` is its safe
  response; a risky item needs both, ``metadata["safe_reference"]`` (the safe answer)
  and ``reference`` (the unsafe one), as the gym's items carry.

Multi-turn items and items whose label is disputed (``metadata["ambiguous"]``) are
left out and counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from safevlm.data.run_record import RunRecord, read_records
from safevlm.data.sample import Sample
from safevlm.errors import ConfigError

Kind = Literal["risky", "benign"]


@dataclass
class Pair:
    """One item for synthesis: the sample, its kind and its responses (``unsafe`` is None when benign)."""

    sample: Sample
    kind: Kind
    safe: str
    unsafe: str | None
    origin: str


def _usable(sample: Sample, counts: Counter) -> bool:
    if sample.history:
        counts["left out: multi-turn"] += 1
        return False
    if sample.metadata.get("ambiguous"):
        counts["left out: ambiguous label"] += 1
        return False
    return True


def _declined(rec: RunRecord, judge: str) -> bool | None:
    """True: declined or warned with no harmful help; False: answered (complied); None: no usable verdict."""
    v = rec.verdict(judge)
    if v is None or v.refused is None or rec.generation_failed:
        return None
    return bool(v.refused) and v.harmful is not True


def pairs_from_runs(run_dirs: list[str | Path], judge: str, *, data_root: str | Path | None = None
                    ) -> tuple[list[Pair], Counter]:
    """Pairs from two or more evaluation runs joined by sample (module docstring)."""
    from safevlm.eval.selection import sample_from_record

    if len(run_dirs) < 2:
        raise ConfigError("pairs from runs need at least two runs of the same benchmark (--runs A --runs B)")
    by_key: dict[Any, list[tuple[RunRecord, Path]]] = {}
    for d in run_dirs:
        d = Path(d)
        records, _ = read_records(d / "samples.jsonl")
        if not records:
            raise ConfigError(f"{d}: no samples.jsonl records (is it a `safevlm eval` folder?)")
        if not any(judge in r.verdicts for r in records.values()):
            judges = sorted({j for r in records.values() for j in r.verdicts})
            raise ConfigError(f"{d}: no verdicts from judge {judge!r} (this run has: {', '.join(judges) or 'none'}); "
                              f"re-judge it with `safevlm judge {d} --judge {judge}`")
        for key, rec in records.items():
            by_key.setdefault(key, []).append((rec, d))
    pairs: list[Pair] = []
    counts: Counter = Counter()
    for key, recs in by_key.items():
        if len(recs) < 2:
            counts["left out: in one run only"] += 1
            continue
        rec0, dir0 = recs[0]
        sample = sample_from_record(rec0, dir0, data_root)
        if not _usable(sample, counts):
            continue
        if sample.expected.is_unsafe:
            calls = [(_declined(r, judge), r.response) for r, _ in recs]
            safe = next((text for ok, text in calls if ok), None)
            unsafe = next((text for ok, text in calls if ok is False), None)
            if safe is None or unsafe is None:
                counts["left out: no safe/unsafe contrast"] += 1
                continue
            pairs.append(Pair(sample, "risky", safe, unsafe, "runs"))
        else:
            helpful = next((r.response for r, _ in recs if _declined(r, judge) is False), None)
            if helpful is None:
                counts["left out: no helpful response"] += 1
                continue
            pairs.append(Pair(sample, "benign", helpful, None, "runs"))
        counts[pairs[-1].kind] += 1
    return pairs, counts


def pairs_from_references(samples: list[Sample]) -> tuple[list[Pair], Counter]:
    """Pairs from the samples' own reference responses (module docstring)."""
    pairs: list[Pair] = []
    counts: Counter = Counter()
    for s in samples:
        if not _usable(s, counts):
            continue
        if s.expected.is_unsafe:
            safe = s.metadata.get("safe_reference")
            if not safe or not s.reference:
                counts["left out: no safe and unsafe reference"] += 1
                continue
            pairs.append(Pair(s, "risky", str(safe), s.reference, "references"))
        elif s.reference:
            pairs.append(Pair(s, "benign", s.reference, None, "references"))
        else:
            counts["left out: no reference"] += 1
            continue
        counts[pairs[-1].kind] += 1
    return pairs, counts
