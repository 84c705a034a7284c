"""The SafeCoT gym comparison (make demo, stage 3) on a small scale: every step writes what
the next one reads, the comparison report holds all runs, and a re-run reuses finished steps."""

from __future__ import annotations

import json

from safevlm.recipes.common import comparison_rows
from safevlm.recipes.safecot_gym import GymSafeCoTConfig, run


def test_small_comparison_end_to_end_and_resume(tmp_path, capsys, gymlet):
    spec = gymlet(300)
    cfg = GymSafeCoTConfig(variants=["v0", "v2"], train_ref="gymlet:train", extra_specs=[str(spec)],
                           benches=["gym:smoke"], max_unsafe=32, steps=2)
    out = tmp_path / "safecot"
    done = run(out, cfg)
    assert set(done["runs"]) == {"base", "v0", "v2"}
    for v in ("v0", "v2"):
        card = json.loads((out / f"data-{v}" / "data_card.json").read_text())
        assert card["counts"]["unsafe"] == card["counts"]["general"] == 32
        record = json.loads((out / f"model-{v}" / "safevlm_training.json").read_text())
        assert record["global_steps"] == 2 and record["data"]["variant"] == v
        config = json.loads((out / f"eval-{v}" / "config.json").read_text())
        assert config["prompt_wrapper"] == "safecot" and config["model"] == f"hf:{out / f'model-{v}'}"
    assert json.loads((out / "eval-base" / "config.json").read_text())["prompt_wrapper"] is None
    html = done["report"]["html"].read_text()
    assert all(f"model-{v}" in html for v in ("v0", "v2"))
    rows = comparison_rows(done["results"])
    assert [(r["model"], r["bench"]) for r in rows] == [("base", "gym:smoke"), ("v0", "gym:smoke"), ("v2", "gym:smoke")]
    assert all(r["n"] == 48 and r["crr"] is not None for r in rows)

    mtime = (out / "model-v2" / "model.safetensors").stat().st_mtime_ns
    capsys.readouterr()
    run(out, cfg)
    printed = capsys.readouterr().out
    assert "v2 data: reusing" in printed and "v2 model: reusing" in printed
    assert (out / "model-v2" / "model.safetensors").stat().st_mtime_ns == mtime
