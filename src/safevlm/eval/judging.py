"""Running judges over run records (docs/eval-contract.md, "Judge").

A judge is named (``get_judge("refusal")``, ``"oracle"``, ``"rubric:SPEC"``, ``"file.py:fn"``)
or given as an object with ``name`` and ``judge(items)``. Verdicts are stored in the
record under the judge's name as plain dicts.

Failures are data: an exception inside ``judge()`` is retried item by item, so only the
items that make the judge fail get an error verdict (logged), which the metrics exclude
and count (``judge_errors``), instead of stopping a long run, failing a whole batch or
turning into a score. Items
whose generation failed are never judged (an empty response is not a refusal).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, is_dataclass
from typing import Any, Protocol

from safevlm.data.run_record import JudgeVerdict, RunRecord
from safevlm.data.sample import Sample
from safevlm.judges import JudgeInput, get_judge

log = logging.getLogger(__name__)

GYM_JUDGES = ["oracle", "refusal"]
DEFAULT_JUDGES = ["refusal"]


class JudgeLike(Protocol):
    name: str

    def judge(self, items: list[Any]) -> list[Any]: ...


def judge_input(response: str, sample: Sample, text: str) -> JudgeInput:
    """What a judge sees for one response: the text as sent, the expected behaviour, the sample."""
    return JudgeInput(response=response, prompt=text, expected=sample.expected.value, sample=sample)


def default_judges(bench: str, samples: list[Sample] | None = None) -> list[str]:
    """Benchmarks whose items carry gym truth (the gym itself, or gym items reworded or rebuilt under
    another name): the oracle first (it knows the truth), then the refusal detector; other benchmarks:
    the refusal detector."""
    from safevlm.gym.oracle import carries_gym_truth

    gym = bench.partition(":")[0] == "gym" or (bool(samples) and all(carries_gym_truth(s) for s in samples))
    return list(GYM_JUDGES if gym else DEFAULT_JUDGES)


def judge_name(judge: str | JudgeLike) -> str:
    return judge if isinstance(judge, str) else str(judge.name)


class JudgePool:
    """Builds each named judge once, on first use, and closes them at the end.

    ``trust_code``: the user's ``--trust-code`` for judges that are their own Python; ``source``:
    where the names come from (a run's config.json), for the error when they are not trusted.
    """

    def __init__(self, judges: list[str | JudgeLike] | None = None,
                 options: dict[str, dict[str, Any]] | None = None, *, trust_code: bool | None = None,
                 source: str | None = None):
        self._objects: dict[str, JudgeLike] = {}
        self._options = dict(options or {})
        self.trust_code, self.source = trust_code, source
        for j in judges or []:
            if not isinstance(j, str):
                self._objects[judge_name(j)] = j
        self._built: list[JudgeLike] = []

    def get(self, name: str) -> JudgeLike:
        if name not in self._objects:
            self._objects[name] = get_judge(name, trust_code=self.trust_code, source=self.source,
                                            **self._options.get(name, {}))
            self._built.append(self._objects[name])
        return self._objects[name]

    def close(self) -> None:
        for j in self._built:
            close = getattr(j, "close", None)
            if callable(close):
                close()


def remote_judge_options(names: list[str], backend_options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A run's ``--request-timeout`` / ``--retries`` for the judges that call a model too, in each one's
    terms: a ``rubric:`` judge's backend (``request_retries``: its own ``max_retries`` counts re-asks of an
    unusable reply) and a served guard model (``GUARD:openai:URL#MODEL``)."""
    from safevlm.backends.registry import remote_only
    from safevlm.judges.registry import GUARD_NAMES

    remote = remote_only(backend_options)
    if not remote:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for n in names:
        kind, _, rest = n.partition(":")
        if kind == "rubric":
            out[n] = {"timeout_s": remote.get("timeout_s"), "request_retries": remote.get("max_retries")}
        elif kind in GUARD_NAMES and rest.startswith("openai:"):
            out[n] = dict(remote)
    return {n: {k: v for k, v in o.items() if v is not None} for n, o in out.items()}


def as_verdict(verdict: Any, name: str) -> JudgeVerdict:
    """A judge's return value as a :class:`JudgeVerdict` (user judges may return dicts or dataclasses)."""
    if isinstance(verdict, JudgeVerdict):
        return verdict if verdict.judge else verdict.model_copy(update={"judge": name})
    if is_dataclass(verdict) and not isinstance(verdict, type):
        verdict = asdict(verdict)
    elif hasattr(verdict, "model_dump"):
        verdict = verdict.model_dump()
    if not isinstance(verdict, dict):
        raise TypeError(f"judge {name!r} returned a {type(verdict).__name__}, not a verdict")
    return JudgeVerdict.from_dict(verdict, judge=name)


def _judge_batch(judge: JudgeLike, name: str, items: list[JudgeInput]) -> list[JudgeVerdict]:
    verdicts = [as_verdict(v, name) for v in judge.judge(items)]
    if len(verdicts) != len(items):
        raise RuntimeError(f"judge {name!r} returned {len(verdicts)} verdicts for {len(items)} items")
    return verdicts


def run_judge(judge: JudgeLike, name: str, items: list[JudgeInput]) -> tuple[list[JudgeVerdict], float]:
    """Verdicts for ``items`` in order, and the seconds per item.

    An exception inside the judge (or a reply it cannot turn into verdicts) makes it judge
    the batch again one item at a time: an item that still fails gets an error verdict
    (logged), excluded from the metrics and counted, never a score; the others are judged.
    """
    if not items:
        return [], 0.0
    t0 = time.perf_counter()
    try:
        verdicts = _judge_batch(judge, name, items)
    except Exception as exc:  # noqa: BLE001 - a judge failure is recorded per item, see module docstring
        if len(items) == 1:
            log.warning("judge %s failed on an item: %s: %s", name, type(exc).__name__, exc)
            verdicts = [JudgeVerdict.failed(name, f"{type(exc).__name__}: {exc}")]
        else:
            log.warning("judge %s failed on a batch of %d (%s: %s); judging its items one by one", name,
                        len(items), type(exc).__name__, exc)
            verdicts = [run_judge(judge, name, [it])[0][0] for it in items]
    per_item = (time.perf_counter() - t0) / len(items)
    return verdicts, per_item


def judge_records(pool: JudgePool, pending: list[tuple[RunRecord, Sample, list[str]]]) -> None:
    """Fill ``record.verdicts[judge]`` for each (record, sample, judges-to-run) in place.

    Records whose generation failed are never judged (an empty response is not a refusal).
    """
    by_judge: dict[str, list[tuple[RunRecord, Sample]]] = {}
    for rec, sample, names in pending:
        if rec.generation_failed:
            continue
        for n in names:
            by_judge.setdefault(n, []).append((rec, sample))
    for name, pairs in by_judge.items():
        items = [judge_input(rec.response, sample, rec.text) for rec, sample in pairs]
        verdicts, per_item = run_judge(pool.get(name), name, items)
        for (rec, _), v in zip(pairs, verdicts, strict=True):
            rec.verdicts[name] = v
            rec.judge_latency_s[name] = round(per_item, 6)
