"""The demo's stage clock: where `make demo`'s time goes, in wall and CPU seconds per stage."""

from __future__ import annotations

import json
import time

import pytest

from safevlm.recipes.demo import StageClock


def test_stage_clock_records_wall_and_cpu_seconds_per_stage(tmp_path):
    clock = StageClock()
    with clock("busy"):
        t = time.process_time()
        while time.process_time() - t < 0.3:
            pass
    with clock("waiting"):
        time.sleep(0.3)
    with pytest.raises(RuntimeError), clock("failed"):  # a stage that fails is still timed
        raise RuntimeError("boom")
    clock.report(tmp_path)
    data = json.loads((tmp_path / "timings.json").read_text())
    busy, waiting = data["stages"]["busy"], data["stages"]["waiting"]
    assert list(data["stages"]) == ["busy", "waiting", "failed"]
    assert busy["cpu_s"] >= 0.3 and waiting["wall_s"] >= 0.3 and waiting["cpu_s"] <= 0.1
    assert data["total"]["wall_s"] == pytest.approx(sum(s["wall_s"] for s in data["stages"].values()), abs=0.05)
    assert set(data["load"]) == {"start", "end"}
