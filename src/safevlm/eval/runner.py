"""``evaluate`` and ``rejudge``: benchmark -> responses -> verdicts -> metrics, resumably.

The loop (docs/eval-contract.md, "Run directory"): load the benchmarks, compute each
sample's response cache key, read what ``samples.jsonl`` already holds, then

1. judge responses that are already there but lack a verdict of a requested judge
   (re-judging costs no generation);
2. generate the rest one batch at a time (local backends: ``batch_size`` samples per
   call; remote ones: a window of ``4 x concurrency`` requests in flight), judge the
   batch, append it and flush, so a kill loses at most the batch in flight;
3. rewrite ``samples.jsonl`` as one line per sample in benchmark order and write
   ``results.json``.

A record is re-used when its cache key matches (same model spec, sample content and
generation parameters); records whose generation failed are retried on the next run.
Metrics: :mod:`safevlm.eval.metrics` (methods.md §1-3).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from safevlm.backends.base import Backend, GenerationParams
from safevlm.errors import ConfigError
from safevlm.eval import records as R
from safevlm.eval.config import EvalConfig
from safevlm.eval.judging import JudgeLike, JudgePool, judge_name, judge_records
from safevlm.eval.metrics import DEFAULT_THRESHOLDS
from safevlm.eval.results import build_results, generation_failed
from safevlm.eval.selection import Item, load_items, samples_for_records
from safevlm.progress import progress_bar

log = logging.getLogger(__name__)

JUDGE_CHUNK = 64


def load_backend(spec: str, **opts: Any) -> Backend:
    """Indirection so tests can swap in a scripted backend for a subprocess run."""
    from safevlm.backends import load_backend as _load

    if not spec.startswith(("openai:", "mock:")):  # transformers' per-shard bars would break ours
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    return _load(spec, **opts)


def _status(message: str):
    from rich.console import Console

    return Console(stderr=True).status(message, spinner="dots")


def _needs(rec: dict[str, Any], judges: list[str], force: bool) -> list[str]:
    """Judges whose verdict a record lacks (or holds as an error, retried), all when forced."""
    if generation_failed(rec):
        return []
    have = rec.get("verdicts") or {}
    return [j for j in judges if force or j not in have or have[j].get("error") is not None]


def _chunk_size(backend: Backend, batch_size: int | None) -> int:
    concurrency = getattr(backend, "concurrency", None)
    if isinstance(concurrency, int) and concurrency > 0:  # remote: keep the window full
        return 4 * concurrency
    return batch_size or getattr(backend, "batch_size", None) or 8


def _extra_judges(recs: list[dict[str, Any]], listed: list[str]) -> list[str]:
    """Judges not asked for now whose verdicts every judged record of a benchmark still holds."""
    judged = [r for r in recs if not generation_failed(r)]
    if not judged:
        return []
    common = set.intersection(*(set(r.get("verdicts") or {}) for r in judged))
    return sorted(common - set(listed))


def _finish(run_dir: Path, cfg: EvalConfig, final: list[dict[str, Any]], judges_of: dict[str, list[str]],
            started: float) -> dict[str, Any]:
    for bench, listed in list(judges_of.items()):
        recs = [r for r in final if r["bench"] == bench]
        judges_of[bench] = listed + _extra_judges(recs, listed)
    R.write_records(run_dir / R.SAMPLES, final)
    results = build_results(final, model=cfg.model, judges_of=judges_of, thresholds=cfg.thresholds,
                            seed=cfg.bootstrap_seed, resamples=cfg.resamples,
                            extra_run={"created": R.now(), "benches": list(judges_of), "limit": cfg.limit,
                                       "generation": cfg.to_dict()["generation"], "run_dir": str(run_dir),
                                       "wall_s": round(time.perf_counter() - started, 3)})
    R.write_json(run_dir / R.RESULTS, results)
    _write_report(run_dir)
    return results


def _write_report(run_dir: Path) -> None:
    """results.md + report.html next to results.json; a report failure never loses the results."""
    from safevlm.report import write_report

    try:
        write_report(run_dir)
    except Exception as exc:  # noqa: BLE001 - the metrics are already on disk
        log.warning("%s: results.json written, but the report failed: %s", run_dir, exc)


def _write_config(run_dir: Path, cfg: EvalConfig, judges_of: dict[str, list[str]], created: str | None) -> None:
    import safevlm

    R.write_json(run_dir / R.CONFIG, {**cfg.to_dict(), "judges_by_bench": judges_of,
                                      "data_root_resolved": str(_data_root(cfg)),
                                      "safevlm_version": safevlm.__version__,
                                      "created": created or R.now(), "updated": R.now()})
    R.write_json(run_dir / R.ENV, R.environment())


def _data_root(cfg: EvalConfig) -> Path:
    from safevlm import config as sv_config

    return sv_config.data_root(cfg.data_root)


def evaluate(model: str | Backend, benches: list[str] | str, judges: list[str | JudgeLike] | str | None = None,
             limit: int | None = None, out: str | Path = "runs/eval", *, generation: GenerationParams | None = None,
             batch_size: int | None = None, backend_options: dict[str, Any] | None = None,
             on_missing_image: str = "skip", data_root: str | Path | None = None,
             extra_specs: list[str | Path] | None = None, mcqa_prompt: bool = True,
             prompt_wrapper: str | None = None, thresholds: dict[str, float] | None = None,
             bootstrap_seed: int = 0, resamples: int = 1000,
             overwrite: bool = False, force_judges: bool = False, progress: bool = True) -> dict[str, Any]:
    """Evaluate ``model`` on ``benches`` into the run directory ``out``; return results.json's dict.

    Args:
        model: a backend spec (see :data:`safevlm.backends.SPEC_FORMS`) or a built
            :class:`~safevlm.backends.Backend` (its ``name`` stands in for the spec).
        benches: ``NAME[:VARIANT]`` refs (a list, or one comma-separated string).
        judges: judge names or judge objects, primary first; None: gym benchmarks
            ``oracle, refusal``, others ``refusal``.
        limit: at most this many samples per benchmark.
        out: the run directory; an existing one is resumed (same model and generation
            settings only, unless ``overwrite``).
        force_judges: re-judge existing responses even where a verdict is stored.
        The other options are :class:`~safevlm.eval.config.EvalConfig`'s.
    """
    started = time.perf_counter()
    if isinstance(benches, str):
        benches = [b for b in benches.split(",") if b.strip()]
    if isinstance(judges, str):
        judges = [j for j in judges.split(",") if j.strip()]
    spec = model if isinstance(model, str) else model.name
    cfg = EvalConfig(model=spec, benches=[b.strip() for b in benches],
                     judges=[judge_name(j).strip() for j in judges] if judges else None, limit=limit,
                     generation=generation or GenerationParams(max_new_tokens=256), batch_size=batch_size,
                     backend_options=dict(backend_options or {}), on_missing_image=on_missing_image,
                     data_root=str(data_root) if data_root is not None else None,
                     extra_specs=[str(p) for p in extra_specs or []], mcqa_prompt=mcqa_prompt,
                     prompt_wrapper=prompt_wrapper,
                     thresholds=dict(DEFAULT_THRESHOLDS if thresholds is None else thresholds),
                     bootstrap_seed=bootstrap_seed, resamples=resamples)
    run_dir = Path(out)
    run_dir.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in (R.SAMPLES, R.RESULTS, R.CONFIG):
            (run_dir / name).unlink(missing_ok=True)
    old = R.read_json(run_dir / R.CONFIG)
    if old is not None:
        cfg.check_compatible(old, run_dir)
    items, judges_of = load_items(cfg, spec)
    _write_config(run_dir, cfg, judges_of, (old or {}).get("created"))

    records, _ = R.read_records(run_dir / R.SAMPLES)
    cached = {r["cache_key"]: r for r in records.values() if not generation_failed(r)}
    to_judge: list[tuple[dict[str, Any], Any, list[str]]] = []
    to_generate: list[Item] = []
    for it in items:
        rec = records.get(it.rkey)
        if rec is None or rec.get("cache_key") != it.key or generation_failed(rec):
            src = cached.get(it.key)
            if src is None:
                to_generate.append(it)
                continue
            rec = {**src, "bench": it.bench, "verdicts": {}, "judge_latency_s": {}}  # same request, other bench
            records[it.rkey] = rec
        needed = _needs(rec, judges_of[it.bench], force_judges)
        if needed:
            to_judge.append((rec, it.sample, needed))
    reused = len(items) - len(to_generate)
    if reused:
        log.info("%s: re-using %d of %d responses", run_dir, reused, len(items))

    pool = JudgePool(judges if judges else None)
    for name in dict.fromkeys([j for _, _, js in to_judge for j in js]
                              + [j for it in to_generate for j in judges_of[it.bench]]):
        pool.get(name)  # build every judge now: a bad judge name must not cost a generation pass
    backend: Backend | None = model if not isinstance(model, str) else None
    own_backend = isinstance(model, str)
    if to_generate and backend is None:  # before the bar: rich draws one live display at a time
        with progress_bar(False) if not progress else _status(f"loading {spec}..."):
            backend = load_backend(spec, batch_size=batch_size, **cfg.backend_options)
    log_file = R.RecordLog(run_dir / R.SAMPLES)
    try:
        with progress_bar(progress) as bar:
            if to_judge:
                task = bar.add_task("judging stored responses", total=len(to_judge))
                for start in range(0, len(to_judge), JUDGE_CHUNK):
                    part = to_judge[start:start + JUDGE_CHUNK]
                    judge_records(pool, part)
                    log_file.append(rec for rec, _, _ in part)
                    bar.advance(task, len(part))
            if to_generate:
                assert backend is not None
                size = _chunk_size(backend, batch_size)
                task = bar.add_task("generating", total=len(to_generate))
                for start in range(0, len(to_generate), size):
                    part = to_generate[start:start + size]
                    gens = backend.generate([it.sample for it in part], cfg.generation,
                                            progress=lambda n: bar.advance(task, n))
                    if len(gens) != len(part):
                        raise RuntimeError(f"{backend.name} returned {len(gens)} generations for {len(part)} samples")
                    batch = [R.make_record(it.bench, it.sample, it.sample.text, g, it.key, _data_root(cfg),
                                           run_dir / "images")
                             for it, g in zip(part, gens, strict=True)]
                    judge_records(pool, [(rec, it.sample, judges_of[it.bench]) for rec, it in zip(batch, part)])
                    log_file.append(batch)
                    for it, rec in zip(part, batch):
                        records[it.rkey] = rec
    finally:
        log_file.close()
        pool.close()
        if own_backend and backend is not None:
            backend.close()
    final = [records[it.rkey] for it in items]
    dropped = len(records) - len(final)
    if dropped > 0:
        log.warning("%s: dropping %d stored record(s) outside this run's selection", run_dir, dropped)
    return _finish(run_dir, cfg, final, judges_of, started)


def rejudge(run_dir: str | Path, judges: list[str | JudgeLike] | str, *, progress: bool = True) -> dict[str, Any]:
    """Judge a run's stored responses again with ``judges`` (primary first); no generation.

    Verdicts of these judges are recomputed even where stored; other judges' verdicts
    are kept (and still reported under ``by_judge`` when complete). Returns the new
    results.json dict.
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    old = R.read_json(run_dir / R.CONFIG)
    if old is None:
        raise ConfigError(f"{run_dir} is not a run directory (no {R.CONFIG})")
    if isinstance(judges, str):
        judges = [j for j in judges.split(",") if j.strip()]
    if not judges:
        raise ConfigError("rejudge needs at least one judge")
    cfg = EvalConfig.from_dict(old)
    cfg.judges = [judge_name(j) for j in judges]
    records, _ = R.read_records(run_dir / R.SAMPLES)
    final = list(records.values())
    judges_of = {b: list(cfg.judges) for b in dict.fromkeys(list(old.get("judges_by_bench") or cfg.benches)
                                                           + [r["bench"] for r in final])}
    samples = samples_for_records(final, cfg)
    pool = JudgePool(judges)
    for name in cfg.judges:
        pool.get(name)
    log_file = R.RecordLog(run_dir / R.SAMPLES)  # appended per chunk: a crash keeps what was judged
    try:
        with progress_bar(progress) as bar:
            task = bar.add_task("judging", total=len(final))
            for start in range(0, len(final), JUDGE_CHUNK):
                part = final[start:start + JUDGE_CHUNK]
                judge_records(pool, [(r, samples[(r["bench"], r["uid"])], cfg.judges) for r in part])
                log_file.append(part)
                bar.advance(task, len(part))
    finally:
        log_file.close()
        pool.close()
    _write_config(run_dir, cfg, judges_of, old.get("created"))
    return _finish(run_dir, cfg, final, judges_of, started)
