"""The library behind `safevlm generate` and `safevlm judge`: generate() writes run records, judge_file() scores them."""

from __future__ import annotations

import json

from safevlm.backends import load_backend
from safevlm.data.sample import Sample
from safevlm.eval.judge_file import judge_file
from safevlm.eval.judging import JudgePool
from safevlm.eval.responses import generate


def _samples() -> list[Sample]:
    return [Sample(id=str(i), source="t", text=f"question {i}", expected=e)
            for i, e in enumerate(["comply", "refuse", "refuse"])]


def test_generate_then_judge_file_round_trip(tmp_path):
    """Every sample gets one line, in order, and every line one verdict; the refusing mock is read as refusing."""
    seen = []
    with load_backend("mock:refuse") as backend:
        res = generate(backend, _samples(), tmp_path / "out.jsonl", source="input:t", chunk=2, progress=seen.append)
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert (res.responses, res.failed, sum(seen)) == (3, 0, 3)
    assert [r["id"] for r in rows] == ["0", "1", "2"] and {r["bench"] for r in rows} == {"input:t"}
    pool = JudgePool()
    try:
        judged = judge_file(tmp_path / "out.jsonl", pool, "refusal", tmp_path / "v.jsonl", batch_size=2)
    finally:
        pool.close()
    verdicts = [json.loads(x) for x in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert (judged.verdicts, judged.refused, judged.errors) == (3, 3, 0)
    assert [v["line"] for v in verdicts] == [1, 2, 3] and all(v["refused"] for v in verdicts)


def test_failed_generations_are_lines_with_errors_and_get_no_verdict(tmp_path):
    with load_backend("mock:error") as backend:
        res = generate(backend, _samples()[:2], tmp_path / "out.jsonl", source="input:t")
    assert (res.responses, res.failed) == (2, 2) and "scripted failure" in res.first_error
    pool = JudgePool()
    try:
        judged = judge_file(tmp_path / "out.jsonl", pool, "refusal", tmp_path / "v.jsonl")
    finally:
        pool.close()
    assert (judged.refused, judged.errors) == (0, 2)
