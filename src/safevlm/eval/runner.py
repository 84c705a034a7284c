"""``evaluate`` and ``rejudge``: benchmark -> responses -> verdicts -> metrics, resumably.

The loop (docs/eval-contract.md, "Run directory"): load the benchmarks, compute each
sample's response cache key, read what ``samples.jsonl`` already holds, then

1. judge responses that are already there but lack a verdict of a requested judge
   (re-judging costs no generation);
2. generate the rest, all handed to the backend at once
   (:meth:`~safevlm.backends.Backend.generate_stream`: local backends work through it
   ``batch_size`` samples per call; remote ones keep ``concurrency`` requests in flight
   until it is done), and judge, append and flush each chunk of finished generations
   (a batch, or ``concurrency`` remote responses) while the rest is generated, so a
   kill loses at most a chunk and the requests in flight;
3. rewrite ``samples.jsonl`` as one line per sample in benchmark order and write
   ``results.json``.

A record is re-used when its cache key matches (same model spec, sample content and
generation parameters); records whose generation failed are retried on the next run.
An existing run directory is resumed with its stored settings (see :func:`evaluate`),
so the library does everything ``safevlm eval`` does. Metrics: :mod:`safevlm.eval.metrics`
(docs/methods.md, "Metrics").
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import safevlm
from safevlm import config as sv_config
from safevlm.backends import Backend, GenerationParams, load_backend
from safevlm.backends.base import DEFAULT_MAX_NEW_TOKENS, MAX_FAILED_SHARE
from safevlm.backends.registry import REMOTE_OPTS
from safevlm.data.jsonl import write_json
from safevlm.data.run_record import RunRecord, read_records, write_records
from safevlm.errors import ConfigError, SafeVLMError
from safevlm.eval import run_dir as R
from safevlm.eval.config import OUTPUT_OPTIONS, EvalConfig
from safevlm.eval.judging import JudgeLike, JudgePool, judge_name, judge_records, remote_judge_options
from safevlm.eval.metrics import DEFAULT_THRESHOLDS, RESAMPLES
from safevlm.eval.official import check_judge_model, check_official, official_results, safecot_block
from safevlm.eval.results import build_results
from safevlm.eval.selection import Item, load_items, samples_for_records
from safevlm.progress import progress_bar, status

log = logging.getLogger(__name__)

JUDGE_CHUNK = 64


class GenerationsFailed(SafeVLMError):
    """More of a run's generations failed than it allows; ``results`` is what was written anyway."""

    def __init__(self, message: str, results: dict[str, Any]):
        super().__init__(message)
        self.results = results


def failure_reasons(records: list[RunRecord], top: int = 3) -> dict[str, int]:
    """The most frequent generation errors and how often each occurred (messages cut at 300 characters)."""
    counts = Counter((r.generation.error or "").strip()[:300] for r in records if r.generation_failed)
    return dict(counts.most_common(top))


def check_failures(results: dict[str, Any], max_share: float | None) -> None:
    """Raise :class:`GenerationsFailed` when more than ``max_share`` of the generations failed,
    saying how many and the commonest reasons (results.json's ``run.generation_error_reasons``)."""
    run = results["run"]
    n, failed = run.get("n") or 0, run.get("generation_errors") or 0
    if max_share is None or not n or failed / n <= max_share:
        return
    reasons = "; ".join(f"{msg!r} x{k}" for msg, k in (run.get("generation_error_reasons") or {}).items())
    head = f"all {n} generations failed" if failed == n else f"{failed} of {n} generations failed ({failed / n:.0%})"
    raise GenerationsFailed(f"{head}, more than the {max_share:.0%} allowed (--max-failed-share): {reasons}. "
                            "results.json is written, but its figures cover only what did not fail; re-running "
                            "the same command retries the failed ones", results)


def _needs(rec: RunRecord, judges: list[str], force: bool) -> list[str]:
    """Judges whose verdict a record lacks (or holds as an error, retried), all when forced."""
    if rec.generation_failed:
        return []
    return [j for j in judges if force or j not in rec.verdicts or rec.verdicts[j].error is not None]


def _chunk_size(backend: Backend, batch_size: int | None) -> int:
    """Generations judged and appended together: a local batch, or one response per remote slot."""
    concurrency = getattr(backend, "concurrency", None)
    if isinstance(concurrency, int) and concurrency > 0:  # remote: the pool stays full between chunks
        return concurrency
    return batch_size or getattr(backend, "batch_size", None) or 8


def _extra_judges(recs: list[RunRecord], listed: list[str]) -> list[str]:
    """Judges not asked for now whose verdicts every judged record of a benchmark still holds."""
    judged = [r for r in recs if not r.generation_failed]
    if not judged:
        return []
    common = set.intersection(*(set(r.verdicts) for r in judged))
    return sorted(common - set(listed))


def _finish(run_dir: Path, cfg: EvalConfig, final: list[RunRecord], judges_of: dict[str, list[str]],
            started: float, selection: dict[str, dict[str, Any]] | None = None, progress: bool = True
            ) -> dict[str, Any]:
    for bench, listed in list(judges_of.items()):
        recs = [r for r in final if r.bench == bench]
        judges_of[bench] = listed + _extra_judges(recs, listed)
    write_records(run_dir / R.SAMPLES, final)
    counts = {b: {k: v for k, v in sel.items() if k != "ids"} for b, sel in (selection or {}).items()}
    results = build_results(final, model=cfg.model, judges_of=judges_of, thresholds=cfg.thresholds,
                            seed=cfg.bootstrap_seed, resamples=cfg.resamples, selection=counts,
                            extra_run={"created": R.now(), "benches": list(judges_of), "limit": cfg.limit,
                                       "generation": cfg.to_dict()["generation"], "run_dir": str(run_dir),
                                       "generation_error_reasons": failure_reasons(final),
                                       **_not_evaluated(selection),
                                       "official": {"judge_model": cfg.judge_model,
                                                    "mode": "parity" if cfg.parity else "default"}})
    _add_official(results, final, cfg, judges_of, run_dir, progress)
    results["run"]["wall_s"] = round(time.perf_counter() - started, 3)
    write_json(run_dir / R.RESULTS, results)
    _write_report(run_dir)
    return results


def _add_official(results: dict[str, Any], final: list[RunRecord], cfg: EvalConfig,
                  judges_of: dict[str, list[str]], run_dir: Path, progress: bool) -> None:
    """Each benchmark's ``official`` block (its authors' scoring) and, when asked, SafeCoT's definitions."""
    blocks = official_results(final, cfg, run_dir, progress=progress)
    opts = {"seed": cfg.bootstrap_seed, "resamples": cfg.resamples}
    for bench, block in results["benchmarks"].items():
        if bench in blocks:
            block["official"] = blocks[bench]
        if cfg.safecot_metrics:
            recs = [r for r in final if r.bench == bench]
            block["safecot"] = safecot_block(recs, judges_of[bench][0], cfg.parity, opts)


def _not_evaluated(selection: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """``{"not_evaluated": {bench: reason}}`` for benchmarks of the run left out (none: ``{}``)."""
    out = {b: sel["not_evaluated"] for b, sel in (selection or {}).items() if sel.get("not_evaluated")}
    return {"not_evaluated": out} if out else {}


def _write_report(run_dir: Path) -> None:
    """results.md + report.html next to results.json; a report failure never loses the results."""
    from safevlm.report import write_report

    try:
        write_report(run_dir)
    except Exception as exc:  # noqa: BLE001 - the metrics are already on disk
        log.warning("%s: results.json written, but the report failed: %s", run_dir, exc)


def _write_config(run_dir: Path, cfg: EvalConfig, judges_of: dict[str, list[str]], created: str | None,
                  selection: dict[str, dict[str, Any]] | None = None) -> None:
    write_json(run_dir / R.CONFIG, {**cfg.to_dict(), "judges_by_bench": judges_of, "selection": selection or {},
                                    "model_training": _training_summary(cfg.model),
                                    "data_root_resolved": str(sv_config.data_root(cfg.data_root)),
                                    "safevlm_version": safevlm.__version__,
                                    "created": created or R.now(), "updated": R.now()})
    write_json(run_dir / R.ENV, R.environment())


def _training_summary(model: str) -> dict[str, Any] | None:
    """How the evaluated checkpoint was trained (its ``safevlm_training.json``, curves included), so a
    report can plot them from the run directory alone; None for a model safevlm did not train."""
    from safevlm.models.training_record import read_training_record

    try:
        record = read_training_record(model)
    except Exception:  # noqa: BLE001 - a spec that names no local checkpoint (guard:, openai:...) has none
        return None
    rec = record.to_dict() if record is not None else {}
    keys = ("method", "base_model", "mode", "rollout", "reward", "global_steps", "history", "loss_history",
            "judge_failures", "s_per_step")
    return {k: rec[k] for k in keys if k in rec} or None


def _wrapper_for(model: str, given: str | None, resolved: str | None, stored: dict[str, Any] | None) -> str | None:
    """The prompt wrapper of a run: the one given or stored, else (a new run) the one recorded with a
    safevlm-trained checkpoint, as ``safer select`` and ``train grpo`` read it. A checkpoint fine-tuned
    on wrapped prompts and evaluated without them gets a warning: its scores would be off-distribution."""
    from safevlm.data.prompts import get_wrapper
    from safevlm.models.training_record import prompt_wrapper_of

    try:
        trained = prompt_wrapper_of(model)
    except (OSError, ValueError, SafeVLMError) as exc:  # an unreadable record must not stop an evaluation
        log.warning("%s: cannot read its safevlm_training.json (%s)", model, exc)
        trained = None
    if trained is None:
        return resolved
    if given is None and stored is None:
        log.warning("prompts wrapped with %r as %s was fine-tuned (its safevlm_training.json); --prompt-wrapper "
                    "none sends them as they are", trained, model)
        return trained
    if resolved in (None, "", "none"):
        log.warning("%s was fine-tuned on prompts wrapped with %r but is evaluated on unwrapped prompts; its "
                    "scores are off its training distribution (--prompt-wrapper %s to match)", model,
                    get_wrapper(trained).name, trained if get_wrapper(trained).name != "custom" else repr(trained))
    return resolved


def resolve_config(run_dir: Path, model: str | None, benches: list[str] | str | None,
                   judges: list[str] | None, stored: dict[str, Any] | None, **given: Any) -> EvalConfig:
    """The run's configuration: each value given here, else the stored run's, else the default.

    ``given["generation"]`` may be a :class:`GenerationParams` (used as is) or a dict of
    fields changed on top of the stored settings (or the defaults: :data:`DEFAULT_MAX_NEW_TOKENS`, greedy).
    """
    prev = stored or {}
    if isinstance(benches, str):
        benches = [b for b in benches.split(",") if b.strip()]
    model = model if model is not None else prev.get("model")
    benches = [b.strip() for b in benches] if benches else list(prev.get("benches") or [])
    if model is None or not benches:
        raise ConfigError(f"give a model and benchmarks (or the directory of an existing run: {run_dir} holds none)")
    if judges is None and prev.get("judges"):
        judges = list(prev["judges"])
    generation = given.pop("generation", None)
    if not isinstance(generation, GenerationParams):
        generation = GenerationParams(**{"max_new_tokens": DEFAULT_MAX_NEW_TOKENS, **(prev.get("generation") or {}),
                                         **(generation or {})})
    # a resumed run keeps what shapes its outputs (image size, the guard's options) and its remote timeouts
    stored_output = {k: v for k, v in (prev.get("backend_options") or {}).items()
                     if k in OUTPUT_OPTIONS or k in REMOTE_OPTS}
    options = {**stored_output, **(given.pop("backend_options", None) or {})}
    defaults = {"limit": None, "limit_mode": "stratified", "limit_seed": 0, "on_missing_image": None,
                "data_root": None, "extra_specs": [], "mcqa_prompt": True, "prompt_wrapper": None,
                "thresholds": dict(DEFAULT_THRESHOLDS), "bootstrap_seed": 0, "resamples": RESAMPLES,
                "judge_model": None, "parity": False, "safecot_metrics": False}
    if stored and "limit_mode" not in prev:  # runs stored before stratified limits took the first N items
        defaults["limit_mode"] = "first"
    values = {k: given[k] if given.get(k) is not None else prev.get(k, default) for k, default in defaults.items()}
    values["prompt_wrapper"] = _wrapper_for(model, given.get("prompt_wrapper"), values["prompt_wrapper"], stored)
    values["data_root"] = str(values["data_root"]) if values["data_root"] is not None else None
    values["extra_specs"] = [str(p) for p in values["extra_specs"] or []]
    return EvalConfig(model=model, benches=benches, judges=judges or None, generation=generation,
                      batch_size=given.get("batch_size"),
                      backend_options={k: v for k, v in options.items() if v is not None}, **values)


def evaluate(model: str | Backend | None = None, benches: list[str] | str | None = None,
             judges: list[str | JudgeLike] | str | None = None, limit: int | None = None,
             out: str | Path = "runs/eval", *, generation: GenerationParams | dict[str, Any] | None = None,
             batch_size: int | None = None, backend_options: dict[str, Any] | None = None,
             limit_mode: str | None = None, limit_seed: int | None = None, trust_code: bool | None = None,
             on_missing_image: str | dict[str, str] | None = None, data_root: str | Path | None = None,
             extra_specs: list[str | Path] | None = None, mcqa_prompt: bool | None = None,
             prompt_wrapper: str | None = None, thresholds: dict[str, float] | None = None,
             bootstrap_seed: int | None = None, resamples: int | None = None, judge_model: str | None = None,
             parity: bool | None = None, safecot_metrics: bool | None = None,
             overwrite: bool = False, force_judges: bool = False, progress: bool = True,
             max_failed_share: float | None = MAX_FAILED_SHARE) -> dict[str, Any]:
    """Evaluate ``model`` on ``benches`` into the run directory ``out``; return results.json's dict.

    An existing run directory is resumed: every argument left as ``None`` takes the
    value stored in its ``config.json`` (model, benchmarks, judges, limit, generation
    settings, prompt wrapper, data options...), so ``evaluate(out=RUN_DIR)`` finishes an
    interrupted run and ``evaluate(out=RUN_DIR, judges=[...])`` adds judges without
    generating. Changing the model or the generation settings of a stored run is
    refused (its responses would be another model's): use another ``out`` or
    ``overwrite``.

    Nothing is written (no directory, no lock, no config.json) until the benchmarks,
    the judges, the benchmarks' official protocols (each judge built, each item checked
    against its pin; the judge-model spec checked) and the backend resolve, so a mistyped
    model or benchmark, or a changed protocol file, leaves no trace and the corrected
    command starts cleanly. A remote backend is checked before the run
    (:meth:`~safevlm.backends.Backend.preflight`).

    Args:
        model: a backend spec (see :data:`safevlm.backends.SPEC_FORMS`) or a built
            :class:`~safevlm.backends.Backend` (its ``name`` stands in for the spec).
        benches: ``NAME[:VARIANT]`` refs (a list, or one comma-separated string).
        judges: judge names or judge objects, primary first; None: the run's, else
            gym benchmarks ``oracle, refusal``, others ``refusal``.
        limit: at most this many samples per benchmark, chosen by ``limit_mode`` (``stratified``:
            a seeded sample stratified by category, ``limit_seed``; ``first``: file order).
        out: the run directory.
        trust_code: run the user's own Python named by the run: hooks of user benchmark specs and
            ``file.py:function`` judges (None: the user's config, :func:`safevlm.config.trust_code`).
            A stored run's config.json names its judges but never grants this: resuming a run
            whose judge is a user file needs it again.
        generation: decoding settings, or a dict of fields to change on top of the stored ones.
        prompt_wrapper: None: the run's, else the one recorded with a safevlm-trained
            checkpoint (its ``safevlm_training.json``), else none.
        force_judges: re-judge existing responses even where a verdict is stored.
        judge_model / parity / safecot_metrics: how the official (authors') scores are computed
            (:mod:`safevlm.eval.official`); a stored run re-scores with new values without generating.
        max_failed_share: when more than this share of the run's generations failed, raise
            :class:`GenerationsFailed` (after writing results.json); None never raises.
        The other options are :class:`~safevlm.eval.config.EvalConfig`'s.
    """
    started = time.perf_counter()
    run_dir = Path(out)
    with ExitStack() as stack:
        locked = run_dir.is_dir()
        if locked:  # a run directory another process is writing is refused at once
            stack.enter_context(R.RunLock(run_dir))
        old = None if overwrite else R.read_json(run_dir / R.CONFIG)
        if isinstance(judges, str):
            judges = [j for j in judges.split(",") if j.strip()]
        spec = model if model is None or isinstance(model, str) else model.name
        cfg = resolve_config(run_dir, spec, benches, [judge_name(j).strip() for j in judges] if judges else None,
                             old, limit=limit, limit_mode=limit_mode, limit_seed=limit_seed, generation=generation,
                             batch_size=batch_size, backend_options=backend_options,
                             on_missing_image=on_missing_image, data_root=data_root, extra_specs=extra_specs,
                             mcqa_prompt=mcqa_prompt, prompt_wrapper=prompt_wrapper, thresholds=thresholds,
                             bootstrap_seed=bootstrap_seed, resamples=resamples, judge_model=judge_model,
                             parity=parity, safecot_metrics=safecot_metrics)
        check_judge_model(cfg.judge_model)
        spec = cfg.model
        if old is not None:
            cfg.check_compatible(old, run_dir)
        items, judges_of, selection = load_items(cfg, spec, trust_hooks=trust_code)
        check_official(cfg)

        records = {} if overwrite else read_records(run_dir / R.SAMPLES, repair=locked)[0]
        cached = {r.cache_key: r for r in records.values() if not r.generation_failed}
        to_judge: list[tuple[RunRecord, Any, list[str]]] = []
        to_generate: list[Item] = []
        for it in items:
            rec = records.get(it.rkey)
            if rec is None or rec.cache_key != it.key or rec.generation_failed:
                src = cached.get(it.key)
                if src is None:
                    to_generate.append(it)
                    continue
                rec = src.model_copy(update={"bench": it.bench, "verdicts": {}, "judge_latency_s": {}}, deep=True)
                records[it.rkey] = rec  # the same request in another benchmark of this run
            needed = _needs(rec, judges_of[it.bench], force_judges)
            if needed:
                to_judge.append((rec, it.sample, needed))
        reused = len(items) - len(to_generate)
        if reused:
            log.info("%s: re-using %d of %d responses", run_dir, reused, len(items))

        held = stack.enter_context(ExitStack())  # the judges and the model, let go before the official scoring
        names = list(dict.fromkeys([j for _, _, js in to_judge for j in js]
                                    + [j for it in to_generate for j in judges_of[it.bench]]))
        from_run_dir = judges is None and bool((old or {}).get("judges"))
        pool = JudgePool([j for j in judges or [] if not isinstance(j, str)],
                         options=remote_judge_options(names, cfg.backend_options), trust_code=trust_code,
                         source=str(run_dir / R.CONFIG) if from_run_dir else None)
        held.callback(pool.close)
        for name in names:
            pool.get(name)  # build every judge now: a bad judge name must not cost a generation pass
        backend: Backend | None = model if model is not None and not isinstance(model, str) else None
        if to_generate and backend is None:  # before the bar: rich draws one live display at a time
            with status(f"loading {spec}...", enabled=progress):
                backend = load_backend(spec, batch_size=batch_size, **cfg.backend_options)
            held.callback(backend.close)
        if to_generate:
            assert backend is not None
            backend.preflight()

        # everything resolved: from here on the run directory is written
        if not locked:
            stack.enter_context(R.RunLock(run_dir))  # creates the directory
        if overwrite:
            for name in (R.SAMPLES, R.RESULTS, R.CONFIG):
                (run_dir / name).unlink(missing_ok=True)
        _write_config(run_dir, cfg, judges_of, (old or {}).get("created"), selection)
        log_file = R.RecordLog(run_dir / R.SAMPLES)
        stack.callback(log_file.close)
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
                task = bar.add_task("generating", total=len(to_generate))
                root = sv_config.data_root(cfg.data_root)
                for done in backend.generate_stream([it.sample for it in to_generate], cfg.generation,
                                                    chunk=_chunk_size(backend, batch_size),
                                                    progress=lambda n: bar.advance(task, n)):
                    part = [to_generate[i] for i, _ in done]
                    batch = [R.make_record(it.bench, it.sample, it.sample.text, g, it.key, root, run_dir)
                             for it, (_, g) in zip(part, done, strict=True)]
                    judge_records(pool, [(rec, it.sample, judges_of[it.bench]) for rec, it in zip(batch, part)])
                    log_file.append(batch)
                    for it, rec in zip(part, batch):
                        records[it.rkey] = rec
        log_file.close()
        held.close()
        final = [records[it.rkey] for it in items]
        dropped = len(records) - len(final)
        if dropped > 0:
            log.warning("%s: dropping %d stored record(s) outside this run's selection", run_dir, dropped)
        results = _finish(run_dir, cfg, final, judges_of, started, selection, progress)
    check_failures(results, max_failed_share)
    return results


@R.holding_run_lock("run_dir", create=False)
def rejudge(run_dir: str | Path, judges: list[str | JudgeLike] | str, *, trust_code: bool | None = None,
            progress: bool = True) -> dict[str, Any]:
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
    records, _ = read_records(run_dir / R.SAMPLES, repair=True)
    final = list(records.values())
    judges_of = {b: list(cfg.judges) for b in dict.fromkeys(list(old.get("judges_by_bench") or cfg.benches)
                                                           + [r.bench for r in final])}
    samples = samples_for_records(final, cfg, run_dir)
    pool = JudgePool([j for j in judges if not isinstance(j, str)],
                     options=remote_judge_options(cfg.judges, cfg.backend_options), trust_code=trust_code)
    for name in cfg.judges:
        pool.get(name)
    log_file = R.RecordLog(run_dir / R.SAMPLES)  # appended per chunk: a crash keeps what was judged
    try:
        with progress_bar(progress) as bar:
            task = bar.add_task("judging", total=len(final))
            for start in range(0, len(final), JUDGE_CHUNK):
                part = final[start:start + JUDGE_CHUNK]
                judge_records(pool, [(r, samples[r.key], cfg.judges) for r in part])
                log_file.append(part)
                bar.advance(task, len(part))
    finally:
        log_file.close()
        pool.close()
    _write_config(run_dir, cfg, judges_of, old.get("created"), old.get("selection"))
    return _finish(run_dir, cfg, final, judges_of, started, old.get("selection"), progress)
