"""Terminal tables fit the console: figures wrap onto more tables, never get cut."""

from __future__ import annotations

import io

from rich.console import Console

from safevlm.report.terminal import results_table


def _m(value, low, high, n):
    return {"value": value, "low": low, "high": high, "n": n}


def _block(n, **metrics):
    return {"n": n, "generation_errors": 0, "judge_errors": {}, "metrics": metrics}


RESULTS = {
    "run": {"model": "mock:comply"},
    "benchmarks": {
        "mm-safetybench:sd_typo-tiny": {"primary_judge": "refusal", **_block(
            168, crr=_m(0.125, 0.0833, 0.1786, 168), car=None, over_refusal=None, accuracy=_m(0.125, 0.0833, 0.1786, 168),
            asr=_m(0.875, 0.8214, 0.9167, 168), mcqa_accuracy=None, paired_accuracy=None)},
        "xstest:default": {"primary_judge": "refusal", **_block(
            450, crr=_m(0.815, 0.76, 0.87, 200), car=_m(0.912, 0.876, 0.944, 250), over_refusal=_m(0.088, 0.056, 0.124, 250),
            accuracy=_m(0.869, 0.838, 0.9, 450), asr=_m(0.185, 0.13, 0.24, 200), mcqa_accuracy=None,
            paired_accuracy=_m(0.745, 0.685, 0.805, 200))},
    },
    "overall": _block(618, crr=_m(0.4, 0.35, 0.45, 368), car=_m(0.912, 0.876, 0.944, 250)),
}


def render(width: int) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(results_table(RESULTS))
    return buf.getvalue()


def test_every_figure_survives_an_80_column_terminal():
    text = render(80)
    assert max(len(line) for line in text.splitlines()) <= 80
    for figure in ("0.815", "0.76-0.87", "n=200", "0.912", "0.88-0.94", "0.745", "0.69-0.81", "0.185", "0.13-0.24",
                   "0.08-0.18", "mm-safetybench:sd_typo-tiny"[:20]):
        assert figure in text, figure
    assert "…" not in text
    assert "(1/3)" in text and "(3/3)" in text  # split over several tables


def test_a_wide_terminal_gets_one_table_and_only_metrics_with_values():
    text = render(200)
    assert "(1/" not in text and "both right" in text and "MCQA" not in text
