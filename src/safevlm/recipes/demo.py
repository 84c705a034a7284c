"""``make demo`` / ``safevlm demo``: the main job on the embedded default.

1. Benchmarks: load every registered variant from the data root, verify every image
   on disk and print the inventory (skipped with a note when there is no data root).
2. The gym model on ``gym:test``, ``gym:test-ood`` and ``gym:test-para``: one evaluation run (greedy,
   judged by the gym oracle and the default refusal detector) with its report, plus
   the gym scorecard: per-type accuracy beside its majority baseline, behaviour rates
   and the oracle's verdict counts.
3. SafeCoT on the gym (:mod:`safevlm.recipes.safecot_gym`): v0 / v1 / v2 data from
   ``gym:train``, one fine-tune per variant, each evaluated like the base model, and one
   comparison report of the four models (``runs/demo/safecot/report/report.html``).
4. SaFeR-VLM on the gym (:mod:`safevlm.recipes.safer_gym`): QI-Box selection with the
   SafeCoT-v2 model, then GRPO from it with the plain and the reflective rollout.
5. VLMGuard-R1 on the gym (:mod:`safevlm.recipes.guard_gym`): pairs, synthesis, the
   rewriter, the guard and the baseline defences in front of the unchanged gym model.

Then one report compares every model (``runs/demo/report/report.html``): curves of
how each was trained included, and a table says where the time went (wall and CPU
seconds per stage, with the machine's load; also ``runs/demo/timings.json``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from safevlm.backends.base import GenerationParams
from safevlm.bench import all_specs, load_benchmark
from safevlm.bench.inventory import summarise
from safevlm.config import data_root as resolve_data_root
from safevlm.data.run_record import read_records
from safevlm.models.training_record import prompt_wrapper_of
from safevlm.progress import console, progress_bar
from safevlm.report.terminal import compact, inventory_table, scorecard_table, with_ci


def benchmark_inventory(root: Path) -> list[dict]:
    """Stage 1: every variant loaded and every image on disk verified; returns the table rows."""
    refs = [f"{n}:{v}" for n, s in all_specs().items() if n != "gym" for v in s.variants]
    with progress_bar(console=console, rate=False, transient=True) as progress:
        task = progress.add_task("loading and checking", total=len(refs))

        def advance(ref: str) -> None:
            progress.update(task, description=f"loading {ref}", advance=1)

        return summarise(root, exclude=("gym",), verify_images=True, strict=True, on_variant=advance)


def gym_model_eval(out: Path, batch_size: int = 64) -> dict:
    """Stage 2: evaluate the bundled gym model on gym:test, gym:test-ood and gym:test-para.

    One ``safevlm eval`` run (oracle + default refusal detector, report included); the
    gym scorecard (per-type accuracy beside its majority baseline) is computed from the
    same stored responses, so nothing is generated twice.
    """
    from safevlm.eval import evaluate
    from safevlm.gym.scorecard import score
    from safevlm.recipes.common import BENCHES, EVAL_LIMIT

    benches = list(BENCHES)
    results = evaluate(model="gym", benches=benches, judges=["oracle", "refusal"], out=out, batch_size=batch_size,
                       generation=GenerationParams(max_new_tokens=48), limit=EVAL_LIMIT)
    records, _ = read_records(out / "samples.jsonl")
    for bench in benches:
        by_id = {s.id: s for s in load_benchmark(bench).samples}
        recs = [r for r in records.values() if r.bench == bench]
        card, _ = score([by_id[r.id] for r in recs], [None if r.generation_failed else r.response for r in recs])
        console.print(scorecard_table(f"gym model on {bench} ({card.n} items, greedy, oracle-judged)", card))
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(card.verdicts.items()))
        console.print(f"oracle verdicts: {verdicts}; generation errors {card.errors}")
    for bench, res in results["benchmarks"].items():
        rates = "  ".join(f"{k.upper()} {with_ci(res['metrics'].get(k))}" for k in ("crr", "car", "asr"))
        console.print(f"{bench}: {rates}  (n={res['n']})")
    console.print(f"run directory: {out} (results.json, results.md, report.html)")
    return results


class StageClock:
    """Wall and CPU seconds per demo stage. CPU time is this process's (every torch thread): what a stage
    costs whatever else runs on the machine; wall time is what the user waits, the load average says why
    the two differ."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}
        self.load = {"start": os.getloadavg()[0]}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.stages[name] = {"wall_s": round(time.perf_counter() - wall, 1),
                                 "cpu_s": round(time.process_time() - cpu, 1)}

    def report(self, out: Path) -> None:
        from rich.table import Table

        self.load["end"] = os.getloadavg()[0]
        total = {k: round(sum(s[k] for s in self.stages.values()), 1) for k in ("wall_s", "cpu_s")}
        table = Table(title=f"where the time went (load average {self.load['start']:.1f} at the start, "
                            f"{self.load['end']:.1f} at the end)")
        for col in ("stage", "wall s", "CPU s"):
            table.add_column(col, justify="left" if col == "stage" else "right")
        for name, s in [*self.stages.items(), ("total", total)]:
            table.add_row(name, f"{s['wall_s']:.0f}", f"{s['cpu_s']:.0f}")
        console.print(table)
        out.mkdir(parents=True, exist_ok=True)
        (out / "timings.json").write_text(json.dumps({"stages": self.stages, "total": total, "load": self.load,
                                                       "threads": os.environ.get("OMP_NUM_THREADS")}, indent=2))


def run_demo(data_root: Path | None = None, out: Path = Path("runs/demo")) -> dict:
    from safevlm.recipes import guard_gym, safer_gym

    clock = StageClock()
    console.rule("[bold]1. benchmarks in their native formats")
    with clock("1. benchmarks"):
        rows = _inventory(resolve_data_root(data_root))
    console.rule("[bold]2. the gym model (helpful, unaligned) on SafetyGym")
    with clock("2. gym model"):
        gym_model_eval(Path(out) / "gym-base")
    console.rule("[bold]3. SafeCoT on the gym: v0 / v1 / v2 fine-tunes of the gym model")
    with clock("3. SafeCoT v0 / v1 / v2"):
        safecot = safecot_stage(Path(out) / "safecot", base_run=Path(out) / "gym-base")
    v2 = Path(out) / "safecot" / "model-v2"
    wrapper = prompt_wrapper_of(f"hf:{v2}")
    console.rule("[bold]4. SaFeR-VLM on the gym: QI-Box selection, GRPO plain vs reflective from SafeCoT-v2")
    with clock("4. SaFeR-VLM"):
        safer = safer_gym.run(Path(out) / "safer", v2, wrapper)
    console.rule("[bold]5. VLMGuard-R1 on the gym: a trained rewriter in front of the unchanged gym model")
    with clock("5. VLMGuard-R1"):
        guard = guard_gym.run(Path(out) / "guard", v2, wrapper)
    console.rule("[bold]all methods compared")
    with clock("comparison report"):
        runs = {**safecot["runs"], "safecot-v2": safecot["runs"]["v2"], **safer["runs"], **guard["runs"]}
        runs.pop("v2")
        results = {**safecot["results"], **safer["results"], **guard["results"]}
        results["safecot-v2"] = results.pop("v2")
        comparison_table({k: results[k] for k in runs},
                         "All methods on the gym (oracle-judged, 95 % intervals: Wilson for rates)")
        from safevlm.report import write_report

        paths = write_report(list(runs.values()), Path(out) / "report")
        console.print(f"comparison report: {paths['html']}")
    clock.report(Path(out))
    console.print(f"demo finished in {sum(s['wall_s'] for s in clock.stages.values()):.1f} s")
    return {"benchmarks": rows, "gym": results, "safecot": safecot, "safer": safer, "guard": guard,
            "report": paths, "timings": clock.stages}


def _inventory(root: Path) -> list[dict]:
    """Stage 1 with its messages: the inventory table, or a note when there is no data root."""
    rows = []
    if root.is_dir():
        console.print(f"data root: {root}")
        rows = benchmark_inventory(root)
        console.print(inventory_table(rows))
        console.print(f"{len(rows)} variants, {sum(r['items'] or 0 for r in rows)} items, "
                      f"{sum(r['with_images'] or 0 for r in rows)} with images, every image on disk verified")
    else:
        console.print(f"[yellow]no benchmark data at {root}[/]: set SAFEVLM_DATA_ROOT to the folder holding "
                      "FigStep-SafeBench/, XSTest/, ... to include them")
    return rows


def comparison_table(results: dict, title: str) -> None:
    """CRR / CAR / over-refusal / ASR and benign-answer accuracy per model and benchmark."""
    from rich.table import Table

    from safevlm.recipes.common import comparison_rows

    table = Table(title=title)
    for col in ("model", "benchmark", "n", "CRR", "CAR", "over-refusal", "ASR", "benign answers right"):
        table.add_column(col, justify="left" if col in ("model", "benchmark") else "right")
    for r in comparison_rows(results):
        table.add_row(r["model"], r["bench"], str(r["n"]), *(compact(r[k]) for k in ("crr", "car", "over_refusal",
                                                                                    "asr", "answer_accuracy")))
    console.print(table)


def safecot_stage(out: Path, base_run: Path | None = None) -> dict:
    """Stage 3: build, fine-tune and evaluate v0/v1/v2; print the CRR/CAR comparison."""
    from safevlm.recipes.safecot_gym import run

    done = run(out, base_run=base_run)
    comparison_table(done["results"], "SafeCoT on the gym: refusal of unsafe items (CRR) and acceptance of safe ones "
                                      "(CAR), oracle-judged, 95 % intervals: Wilson for rates")
    console.print(f"comparison report: {done['report']['html']}")
    return done
