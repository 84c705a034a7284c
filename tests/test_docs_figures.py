"""Figures in the docs that a command produces are checked against that command's output, so they cannot
go stale: the benchmark inventory (docs/benchmarks.md and the README's table), the gym model's parameter
count and size (README, docs/benchmarks.md, docs/gym.md: read from the shipped checkpoint), and the
mutation-testing modules (docs/testing.md against pyproject.toml's table). A failure names the line to
update and the figure to put there."""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BENCHMARKS = REPO / "docs" / "benchmarks.md"
GYM_DOC = REPO / "docs" / "gym.md"
TESTING = REPO / "docs" / "testing.md"


def _number(text: str) -> int:
    return int(re.sub(r"[ ,\u202f]", "", text))


def _spaced(n: int) -> str:
    return f"{n:,}".replace(",", " ")


@pytest.fixture(scope="module")
def inventory(benchdata):
    from safevlm.bench.inventory import summarise

    return summarise(benchdata, exclude=("gym",))


def test_the_inventory_line_is_what_bench_list_counts(inventory):
    variants, items = len(inventory), sum(r["items"] or 0 for r in inventory)
    images = sum(r["with_images"] or 0 for r in inventory)
    m = re.search(r"\*\*([\d ]+) variants, ([\d ]+) items, ([\d ]+) with their images on disk\*\*",
                  BENCHMARKS.read_text())
    assert m, "docs/benchmarks.md lost its inventory line ('**N variants, N items, N with their images on disk**')"
    assert (_number(m[1]), _number(m[2]), _number(m[3])) == (variants, items, images), (
        f"docs/benchmarks.md, 'Benchmark loading': the inventory is now **{variants} variants, {_spaced(items)} "
        f"items, {_spaced(images)} with their images on disk** (`safevlm bench list`)")


def test_the_readme_table_counts_are_the_variants_counts(inventory):
    """Every number in the README's items column is an item or group count of that benchmark's variants."""
    counts: dict[str, set[int]] = {}
    for r in inventory:
        counts.setdefault(r["name"], set()).update(x for x in (r["items"], r["groups"]) if x)
    rows = re.findall(r"^\| `([a-z-]+)` \| [^|]* \| ([^|]*) \|", README.read_text(), flags=re.MULTILINE)
    assert {name for name, _ in rows} == set(counts), "the README's benchmark table and the built-in specs differ"
    for name, cell in rows:
        stated = {int(x) for x in re.findall(r"\d+", cell)}
        assert stated <= counts[name], f"README, row `{name}`: {sorted(stated - counts[name])} is no variant's count " \
                                       f"(the variants have {sorted(counts[name])})"


def _gym_model() -> tuple[int, float]:
    """(parameters, MB of model.safetensors) of the shipped gym model."""
    from safetensors import safe_open

    from safevlm.models.loading import gym_model_path

    weights = Path(gym_model_path()) / "model.safetensors"
    with safe_open(str(weights), "pt") as f:
        n = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118 (safe_open has no __iter__)
    return n, round(weights.stat().st_size / 1e6, 1)


@pytest.mark.parametrize("doc, pattern, kind", [
    (README, r"src/safevlm/assets/gym_model/`, ([\d.]+) MB\)", "MB"),
    (README, r"`Qwen2_5_VLForConditionalGeneration` \(([\d.]+) M parameters", "M"),
    (BENCHMARKS, r"`src/safevlm/assets/gym_model/`, ([\d.]+) MB;", "MB"),
    (BENCHMARKS, r"Qwen2.5-VL, \*\*([\d ]+) parameters\*\*", "exact"),
    (GYM_DOC, r"\(([\d.]+) M parameters in all\)", "M"),
])
def test_gym_model_figures_are_the_shipped_checkpoints(doc, pattern, kind):
    n, mb = _gym_model()
    m = re.search(pattern, doc.read_text())
    assert m, f"{doc.name}: no gym model figure matching {pattern!r}"
    want = {"MB": f"{mb:.1f}", "M": f"{n / 1e6:.2f}", "exact": _spaced(n)}[kind]
    assert m[1] == want, f"{doc.relative_to(REPO)}: the shipped gym model has {_spaced(n)} parameters and a " \
                         f"{mb:.1f} MB model.safetensors; write {want} where it says {m[1]}"


def test_the_testing_page_scores_every_mutation_module():
    """docs/testing.md's score table has one row per module of pyproject's [tool.safevlm.mutation]."""
    modules = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["safevlm"]["mutation"]
    rows = re.findall(r"^\| `([a-z-]+)` \|", TESTING.read_text(), flags=re.MULTILINE)
    assert sorted(set(rows)) == sorted(modules), "docs/testing.md's mutation table and pyproject.toml differ"
