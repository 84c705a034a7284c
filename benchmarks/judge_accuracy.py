"""Accuracy of the refusal judges on labelled responses, set by set (the tables in docs/judges.md).

Sets (benchmarks/refusal_sets.py): the hand-written set, VLGuard's reference responses (train, test), and the
three public human-labelled sets (chatgpt-refusals, GPTFuzz train, RBR-gold train). Each set is reported on
its own, never pooled, because their labels mean different things.

For each set:

- ``refusal (LOSO)``: the detector with its heads trained **without** that set's source (leave-one-source-out;
  VLGuard test is measured with heads trained without any VLGuard data), the honest figure for a source the
  model never saw;
- ``refusal``: the shipped detector (trained on every development set; VLGuard test was never used);
- ``phrases:safecot``, ``phrases:gcg``: the papers' phrase lists.

The binary truth is each set's own: partial counts as refused (hand, VLGuard, chatgpt-refusals, RBR-gold,
the project convention), except GPTFuzz, whose label 1 means "gave the harmful content", so a response that
refuses and then complies anyway is compliance there (the detector's partial is read as complied; both
readings are in the JSON). ``val`` is the half of each set never read while the rules were written
(docs/judges.md). ``ECE``: expected calibration error of the detector's confidence (10 bins).

Usage::

    python benchmarks/judge_accuracy.py [--data-root DIR] [--sets a,b] [--errors JUDGE] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

from refusal_sets import REPO, all_sets
from train_refusal_model import TRAIN_SETS, train

from safevlm.eval.labelled import PARTIAL_AS_COMPLIED
from safevlm.judges import JudgeInput, get_judge
from safevlm.text.refusal import find_refusal

PRESETS = ("phrases:safecot", "phrases:gcg")
#: The training source a set belongs to (what leave-one-source-out leaves out to measure it).
SOURCE = {"vlguard-test": "vlguard-train"}


def metrics(labels: list[bool], preds: list[bool]) -> dict[str, float | int]:
    """Accuracy, and precision / recall / F1 of the 'refused' class."""
    tp = sum(y and p for y, p in zip(labels, preds))
    fp = sum(p and not y for y, p in zip(labels, preds))
    fn = sum(y and not p for y, p in zip(labels, preds))
    n = len(labels)
    acc = sum(y == p for y, p in zip(labels, preds)) / n if n else 0.0
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"n": n, "accuracy": acc, "precision": prec, "recall": rec, "f1": f1, "fp": fp, "fn": fn}


def ece(confidences: list[float], correct: list[bool], bins: int = 10) -> float:
    """Expected calibration error: |accuracy - mean confidence| per confidence bin, weighted by bin size."""
    total, n = 0.0, len(correct)
    for b in range(bins):
        lo, hi = 0.5 + b * 0.5 / bins, 0.5 + (b + 1) * 0.5 / bins
        idx = [i for i, c in enumerate(confidences) if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if idx:
            total += abs(sum(correct[i] for i in idx) / len(idx) - sum(confidences[i] for i in idx) / len(idx)) \
                * len(idx) / n
    return total


def truth(row: dict, partial_as: str) -> bool:
    if row["label"] is None:
        return bool(row["refused"])
    return row["label"] == "refused" or (row["label"] == "partial" and partial_as == "refused")


def detector_result(rows: list[dict], heads, partial_as: str) -> dict:
    """The detector on ``rows`` with ``heads`` (None: the shipped ones), read with ``partial_as``.

    An undecided answer (empty, looping, gibberish) is left out of the figures and counted (``undecided``).
    """
    findings = [find_refusal(r["response"], heads) for r in rows]
    keep = [i for i, f in enumerate(findings) if f.label != "undecided"]
    preds, conf = [], []
    for i in keep:
        f = findings[i]
        refused = f.label == "refused" or (f.label == "partial" and partial_as == "refused")
        p = f.p_not_complied if partial_as == "refused" else f.p_refused
        preds.append(refused)
        conf.append(max(p, 1 - p))
    labels = [truth(rows[i], partial_as) for i in keep]
    out = metrics(labels, preds)
    out["undecided"] = len(rows) - len(keep)
    out["ece"] = ece(conf, [y == p for y, p in zip(labels, preds)])
    val = [k for k, i in enumerate(keep) if rows[i].get("split") == "val"]
    if val and len(val) < len(keep):
        out["val_accuracy"] = sum(labels[k] == preds[k] for k in val) / len(val)
    out["three_way"] = dict(Counter(f"{r['label'] or ('refused' if r['refused'] else 'complied')}->{f.call or f.label}"
                                    for r, f in zip(rows, findings)))
    out["errors"] = [{"id": rows[i]["id"], "kind": rows[i]["kind"], "label": rows[i]["label"] or rows[i]["refused"],
                      "pred": findings[i].label, "rule": findings[i].rule, "response": rows[i]["response"]}
                     for k, i in enumerate(keep) if labels[k] != preds[k]]
    return out


def preset_result(rows: list[dict], name: str, partial_as: str) -> dict:
    verdicts = get_judge(name).judge([JudgeInput(response=r["response"]) for r in rows])
    preds = [bool(v.refused) for v in verdicts]
    labels = [truth(r, partial_as) for r in rows]
    out = metrics(labels, preds)
    val = [i for i, r in enumerate(rows) if r.get("split") == "val"]
    if val and len(val) < len(rows):
        out["val_accuracy"] = sum(labels[i] == preds[i] for i in val) / len(val)
    out["errors"] = [{"id": r["id"], "kind": r["kind"], "label": r["label"] or r["refused"], "response": r["response"]}
                     for r, y, p in zip(rows, labels, preds) if y != p]
    return out


def evaluate_set(name: str, rows: list[dict], sets: dict[str, list[dict]], loso: bool = True) -> dict[str, dict]:
    """Every judge on one set: the detector shipped and leave-one-source-out, the two presets."""
    partial_as = "complied" if name in PARTIAL_AS_COMPLIED else "refused"
    res = {}
    if loso:
        held = SOURCE.get(name, name)
        heads = train(sets, tuple(s for s in TRAIN_SETS if s != held and s in sets))
        res["refusal (LOSO)"] = detector_result(rows, heads, partial_as)
    res["refusal"] = detector_result(rows, None, partial_as)
    other = "refused" if partial_as == "complied" else "complied"
    res["refusal"]["accuracy_partial_as_" + other] = detector_result(rows, None, other)["accuracy"]
    for p in PRESETS:
        res[p] = preset_result(rows, p, partial_as)
    return res


def table(title: str, results: dict[str, dict]) -> str:
    lines = [f"**{title}**", "", "| judge | n | undecided | accuracy | val half | precision | recall | F1 | FP | FN "
             "| ECE |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in results.items():
        val = f"{m['val_accuracy']:.3f}" if "val_accuracy" in m else ""
        e = f"{m['ece']:.3f}" if "ece" in m else ""
        lines.append(f"| `{name}` | {m['n']} | {m.get('undecided', '')} | {m['accuracy']:.3f} | {val} | "
                     f"{m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['fp']} | {m['fn']} | {e} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", type=Path, default=Path(os.environ.get("SAFEVLM_DATA_ROOT",
                                                                          REPO.parent / "shared" / "benchdata")))
    ap.add_argument("--sets", default="", help="comma-separated subset of the sets (default: all found)")
    ap.add_argument("--no-loso", action="store_true", help="skip the leave-one-source-out retraining")
    ap.add_argument("--errors", metavar="JUDGE", help="also print this judge's mistakes")
    ap.add_argument("--json", type=Path, help="write the numbers (and mistakes) here")
    args = ap.parse_args(argv)
    sets = all_sets(args.data_root)
    if len(sets) == 1:
        print(f"(no benchmark data under {args.data_root}: hand-written set only)", file=sys.stderr)
    wanted = [s for s in args.sets.split(",") if s] or list(sets)
    report = {}
    for name in wanted:
        rows = sets[name]
        res = evaluate_set(name, rows, sets, loso=not args.no_loso)
        report[name] = res
        mapping = "partial = complied" if name in PARTIAL_AS_COMPLIED else "partial = refused"
        counts = Counter(truth(r, "complied" if name in PARTIAL_AS_COMPLIED else "refused") for r in rows)
        print(table(f"{name}: {len(rows)} responses, {counts[True]} refused / {counts[False]} complied "
                    f"({mapping})", res))
        print()
        if args.errors and args.errors in res:
            for e in res[args.errors]["errors"]:
                print(f"  [{e['id']} {e['kind']}] label={e['label']} pred={e.get('pred')} rule={e.get('rule')}: "
                      f"{e['response'][:220]!r}")
            print()
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
