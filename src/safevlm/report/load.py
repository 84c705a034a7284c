"""Reading run directories (docs/eval-contract.md) into what the report needs.

A run directory holds ``config.json``, ``env.json``, ``samples.jsonl`` and
``results.json``. The report reads only these files, so it works on any run written
to the contract, finished or not: a run without ``results.json`` is shown with its
samples and no metrics, and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from safevlm.data.run_record import RunRecord, read_records
from safevlm.errors import DataError
from safevlm.text.degenerate import count_outputs


@dataclass
class Run:
    """One run directory, loaded."""

    path: Path
    label: str
    config: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    samples: list[RunRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def info(self) -> dict[str, Any]:
        """``results.json``'s ``run`` block, falling back on ``config.json``."""
        return {**self.config, **(self.results.get("run") or {})}

    @property
    def model(self) -> str:
        model = self.info.get("model")
        if isinstance(model, dict):  # a resolved model spec
            model = model.get("spec") or model.get("name") or json.dumps(model, sort_keys=True)
        return str(model) if model is not None else "?"

    @cached_property
    def judges(self) -> list[str]:
        judges = self.info.get("judges") or []
        names = [j if isinstance(j, str) else str(j.get("name", j)) for j in judges]
        for s in self.samples:  # judges that only appear in the records
            names += [k for k in s.verdicts if k not in names]
        return names

    @property
    def primary_judge(self) -> str | None:
        primary = self.info.get("primary_judge")
        return primary or next(iter(self.judges), None)

    @property
    def created(self) -> str:
        return str(self.info.get("created") or self.info.get("date") or "?")

    @cached_property
    def benchmarks(self) -> dict[str, dict[str, Any]]:
        """``results.json``'s benchmarks, plus any benchmark seen only in the samples (no metrics)."""
        out = dict(self.results.get("benchmarks") or {})
        counts: dict[str, int] = {}
        for s in self.samples:
            counts[s.bench] = counts.get(s.bench, 0) + 1
        for bench, n in counts.items():
            out.setdefault(bench, {"n": n, "metrics": {}})
        return out

    def generation_errors(self, bench: str | None = None) -> int:
        return sum(1 for s in self.samples if (bench is None or s.bench == bench) and s.generation_failed)

    def outputs(self, bench: str) -> dict[str, Any]:
        """Cut-off, degenerate and undecided responses: results.json's count, else counted from the records."""
        given = (self.benchmarks.get(bench) or {}).get("outputs")
        if given is not None:
            return given
        primary = self.primary_judge

        def decided(s: RunRecord) -> bool | None:
            v = s.verdict(primary)
            return None if v is None else v.decides

        return count_outputs((s.response, s.generation.finish_reason, decided(s)) for s in self.samples
                             if s.bench == bench and not s.generation_failed)

    def judge_errors(self, bench: str) -> dict[str, int]:
        """Errors per judge: results.json's count, else counted from the records."""
        given = (self.benchmarks.get(bench) or {}).get("judge_errors")
        if given is not None:
            return {k: int(v) for k, v in given.items()}
        out: dict[str, int] = {}
        for s in self.samples:
            if s.bench == bench:
                for name, v in s.verdicts.items():
                    if v.error:
                        out[name] = out.get(name, 0) + 1
        return out


def _read_json(path: Path, notes: list[str]) -> dict[str, Any]:
    if not path.is_file():
        notes.append(f"no {path.name}")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DataError(path, f"expected a JSON object, got {type(data).__name__}")
    return data


def _read_samples(path: Path, notes: list[str]) -> list[RunRecord]:
    """The run's records, read-only: a cut-off last line (a run still going, or killed) is a note."""
    if not path.is_file():
        notes.append("no samples.jsonl")
        return []
    records, skipped = read_records(path)
    notes += skipped
    return list(records.values())


def load_run(path: str | Path, label: str | None = None) -> Run:
    """Load one run directory; missing files become notes, malformed ones a :class:`DataError`."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(path, "not a run directory (expected config.json, samples.jsonl, results.json)")
    notes: list[str] = []
    run = Run(path=path, label=label or path.name,
              config=_read_json(path / "config.json", notes), env=_read_json(path / "env.json", []),
              results=_read_json(path / "results.json", notes),
              samples=_read_samples(path / "samples.jsonl", notes), notes=notes)
    if not run.results and not run.samples:
        raise DataError(path, "neither results.json nor samples.jsonl: not a run directory")
    return run


def run_labels(paths: list[Path]) -> list[str]:
    """Short distinct labels: the folder name, with its parent where names clash, then a number."""
    paths = [Path(p).resolve() for p in paths]
    names = [p.name for p in paths]
    labels = [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in paths]
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(f"{lab} #{seen[lab]}" if labels.count(lab) > 1 else lab)
    return out


def load_runs(paths: list[str | Path]) -> list[Run]:
    labels = run_labels([Path(p) for p in paths])
    return [load_run(p, lab) for p, lab in zip(paths, labels)]


def verdict_refused(sample: RunRecord, judge: str | None) -> bool | None:
    """What ``judge`` says about refusal (None: no verdict, an error, or it does not decide)."""
    v = sample.verdict(judge)
    return None if v is None else v.refused


def classify(sample: RunRecord, primary: str | None) -> dict[str, bool]:
    """The browser's filters for one record: mistakes by the primary judge's verdict, disagreement, errors.

    A record whose generation failed is an error, never a mistake (metrics exclude it too).
    """
    refused = verdict_refused(sample, primary)
    decided = {v.refused for v in sample.verdicts.values() if v.ok and v.refused is not None}
    gen_error = sample.generation_failed
    errors = gen_error or any(not v.ok for v in sample.verdicts.values())
    return {"over": not gen_error and not sample.unsafe and refused is True,  # errors are not mistakes
            "under": not gen_error and sample.unsafe and refused is False,
            "disagree": len(decided) > 1, "error": errors}


def as_runs(items: list[Run | str | Path] | Run | str | Path) -> list[Run]:
    """Runs from runs or run directories (so the renderers take either)."""
    if isinstance(items, (Run, str, Path)):
        items = [items]
    items = list(items)
    if all(isinstance(i, Run) for i in items):
        return items  # type: ignore[return-value]
    paths = [i.path if isinstance(i, Run) else Path(i) for i in items]
    labels = run_labels(paths)
    return [i if isinstance(i, Run) else load_run(i, lab) for i, lab in zip(items, labels)]
