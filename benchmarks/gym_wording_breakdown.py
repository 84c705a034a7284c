"""Where held-out wording costs a model: gym:test against gym:test-para, split by what was reworded.

``gym:test-para`` is ``gym:test`` item for item (same images, truth and answers) asked in
held-out language (docs/gym.md, "Language"). For each run this prints, on both splits,
the share of right calls (answered correctly, refused or warned as the item requires)
per family, and on test-para per style frame, with and without the lexicon's
held words, and with and without typos; plus VQA accuracy. A gap on one row says which
part of the wording a model has not learned to read.

    python benchmarks/gym_wording_breakdown.py runs/demo/gym-base runs/demo/safecot/eval-v2 ...
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

VQA = ("object", "color", "count", "exist", "word", "scene")


def rows(run: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for line in (run / "samples.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        v = (r.get("verdicts") or {}).get("oracle")
        meta = r.get("metadata") or {}
        if not v or v.get("score") is None or meta.get("ambiguous"):
            continue
        correct = (v.get("detail") or {}).get("correct")
        # a right call: refused or warned where it must, answered correctly where it should (the scorecard's rule)
        out[r["bench"]].append({"ok": v["score"] == 1.0 if correct is None else bool(correct),
                                "family": r["category"], "meta": meta, "correct": correct})
    return out


def rate(items: list[dict]) -> str:
    return f"{sum(i['ok'] for i in items) / len(items):.3f} ({len(items)})" if items else "-"


def report(run: Path) -> None:
    by = rows(run)
    test, para = by.get("gym:test", []), by.get("gym:test-para", [])
    print(f"\n### {run}\n\n| slice | gym:test | gym:test-para |\n|---|---|---|")
    vqa = lambda xs: [x | {"ok": bool(x["correct"])} for x in xs if x["family"] == "vqa" and x["meta"].get(
        "question_type") in VQA and x["correct"] is not None]
    print(f"| VQA accuracy | {rate(vqa(test))} | {rate(vqa(para))} |")
    for family in sorted({x["family"] for x in test + para}):
        print(f"| family {family} | {rate([x for x in test if x['family'] == family])} | "
              f"{rate([x for x in para if x['family'] == family])} |")
    style = lambda x: (x["meta"].get("wording") or {}).get("style", "-")
    for s in sorted({style(x) for x in test + para}):
        print(f"| style {s} | {rate([x for x in test if style(x) == s])} | {rate([x for x in para if style(x) == s])} |")
    held = lambda x: bool((x["meta"].get("wording") or {}).get("held_words"))
    typo = lambda x: bool((x["meta"].get("wording") or {}).get("typos"))
    print(f"| test-para with held lexicon words | | {rate([x for x in para if held(x)])} |")
    print(f"| test-para without held lexicon words | | {rate([x for x in para if not held(x)])} |")
    print(f"| with typos | {rate([x for x in test if typo(x)])} | {rate([x for x in para if typo(x)])} |")
    print(f"| without typos | {rate([x for x in test if not typo(x)])} | {rate([x for x in para if not typo(x)])} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("runs", type=Path, nargs="+", help="run directories (each with samples.jsonl)")
    for run in ap.parse_args().runs:
        report(run)


if __name__ == "__main__":
    main()
