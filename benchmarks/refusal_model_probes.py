"""What would a learned refusal detector gain on sources it never saw? (docs/judges.md, "What limits it")

Three probes of the detector's learned part, each against leave-one-source-out (LOSO) accuracy:

- **n-grams**: the ``soft`` head (the responses the rules leave undecided) refitted with hashed word uni- and
  bigrams added to its cue features (2**16 buckets, presence scaled by 1/sqrt(count); the cue weights keep
  their fixed signs, the n-gram weights are free), at several n-gram L2 strengths; accuracy on the
  soft-route rows of each held-out source;
- **in-domain**: the whole detector, 5-fold within each public source, its soft head fitted with n-grams on
  the other sources *and* four fifths of that source (its rows weighed three times): what this model class
  reaches once it has seen a source's own labels. A ceiling for the response-only reading, not a result;
- **selection** (``--select``): the fitting choices (L2, how sources are weighed, which routes the soft head
  learns from) chosen per held-out source by LOSO over the *other* sources only (nested), against the one
  choice the shipped model makes.

    python benchmarks/refusal_model_probes.py [--data-root DIR] [--select]

Numpy only (sparse products through ``np.bincount``); about 3 minutes on the 2-core CPU, 9 with ``--select``.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import re
import sys
import zlib
from pathlib import Path

import numpy as np
from refusal_sets import REPO, all_sets
from train_refusal_model import L2, SIGNS, TRAIN_SETS, targets, train

from safevlm.eval.labelled import PARTIAL_AS_COMPLIED
from safevlm.text import refusal
from safevlm.text.degenerate import degeneracy
from safevlm.text.refusal import find_refusal, read
from safevlm.text.refusal_cues import dialogue_segments, normalise
from safevlm.text.response import parse_response

BUCKETS = 2 ** 16
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+|[^\w\s]")


def ngrams(text: str) -> np.ndarray:
    """Hashed word uni- and bigrams of ``text`` (lower-cased), as sorted unique bucket ids."""
    toks = _TOKEN.findall(text.lower())
    grams = toks + [f"{a} {b}" for a, b in itertools.pairwise(toks)]
    return np.unique(np.array([zlib.crc32(g.encode()) % BUCKETS for g in grams], dtype=np.int64))


def soft_rows(sets: dict[str, list[dict]]) -> list[dict]:
    """Every non-dialogue, judgeable row the rules send to the soft head, with its features and target."""
    out = []
    for name, rows in sets.items():
        for k, r in enumerate(rows):
            answer = parse_response(r["response"]).answer
            if degeneracy(answer) is not None:
                continue
            text = normalise(answer)
            if dialogue_segments(text):
                continue
            reading = read(text)
            if reading.route != "soft":
                continue
            y = targets(r, reading.route)[0]
            if y is not None:
                out.append({"set": name, "k": k, "vec": np.array(reading.vec), "grams": ngrams(text), "y": float(y)})
    return out


def fit(rows: list[dict], l2_grams: float | None, boost: str | None = None, iters: int = 1500) -> tuple:
    """(bias, cue weights, n-gram weights or None): weighted log-loss + L2, FISTA; each source weighs
    1/sqrt(its rows) per row as in train_refusal_model.py (``boost``'s rows three times more)."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["set"]] = counts.get(r["set"], 0) + 1
    w = np.array([counts[r["set"]] ** -0.5 * (3.0 if r["set"] == boost else 1.0) for r in rows])
    w /= w.sum()
    X = np.hstack([np.ones((len(rows), 1)), np.array([r["vec"] for r in rows])])
    y = np.array([r["y"] for r in rows])
    lens = np.array([len(r["grams"]) for r in rows])
    idx = np.concatenate([r["grams"] for r in rows])
    owner = np.repeat(np.arange(len(rows)), lens)
    scale = np.repeat(1.0 / np.sqrt(np.maximum(lens, 1)), lens)
    use_grams = l2_grams is not None
    lo = np.concatenate([[-np.inf], np.where(SIGNS > 0, 0.0, -np.inf)])
    hi = np.concatenate([[np.inf], np.where(SIGNS < 0, 0.0, np.inf)])
    # each row's n-gram part has unit norm, so it adds at most 1 to the largest eigenvalue of X^T W X
    lipschitz = 0.25 * (np.linalg.norm(X * np.sqrt(w)[:, None], 2) ** 2 + (1.0 if use_grams else 0.0))
    step = 1.0 / (lipschitz + 2 * max(L2, l2_grams or 0.0))
    theta, g = np.zeros(X.shape[1]), np.zeros(BUCKETS)
    z_theta, z_g, t = theta.copy(), g.copy(), 1.0
    for _ in range(iters):
        logit = X @ z_theta + (np.bincount(owner, weights=z_g[idx] * scale, minlength=len(rows)) if use_grams else 0)
        err = w * (1.0 / (1.0 + np.exp(-logit)) - y)
        grad = X.T @ err
        grad[1:] += 2 * L2 * z_theta[1:]
        new_theta = np.clip(z_theta - step * grad, lo, hi)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        if use_grams:
            grad_g = np.bincount(idx, weights=err[owner] * scale, minlength=BUCKETS) + 2 * l2_grams * z_g
            new_g = z_g - step * grad_g
            z_g = new_g + (t - 1) / t_new * (new_g - g)
            g = new_g
        z_theta = new_theta + (t - 1) / t_new * (new_theta - theta)
        theta, t = new_theta, t_new
    return theta, (g if use_grams else None)


def predict(model: tuple, row: dict) -> bool:
    theta, g = model
    z = theta[0] + theta[1:] @ row["vec"]
    if g is not None and len(row["grams"]):
        z += g[row["grams"]].sum() / np.sqrt(len(row["grams"]))
    return bool(z >= 0)


def loso_table(rows: list[dict], strengths: list[float | None]) -> None:
    print("**Soft-route rows, leave-one-source-out accuracy** (cue features; + n-grams at L2 strength)\n")
    held_sets = ("chatgpt-refusals", "gptfuzz", "rbr-gold", "hand", "vlguard-test")
    print("| head | " + " | ".join(f"{h} (n={sum(r['set'] == h for r in rows)})" for h in held_sets) + " |")
    print("|---" * (len(held_sets) + 1) + "|")
    for l2g in strengths:
        cells = []
        for held in held_sets:
            source = "vlguard-train" if held == "vlguard-test" else held
            model = fit([r for r in rows if r["set"] not in (source, "vlguard-test")], l2g)
            test = [r for r in rows if r["set"] == held]
            cells.append(f"{sum(predict(model, r) == bool(r['y']) for r in test) / len(test):.3f}")
        print(f"| {'cue features' if l2g is None else f'+ n-grams, L2 {l2g:g}'} | " + " | ".join(cells) + " |",
              flush=True)


def in_domain(sets: dict[str, list[dict]], rows: list[dict], l2_grams: float, folds: int = 5) -> None:
    print(f"\n**In-domain (5-fold within the source; soft head with n-grams, L2 {l2_grams:g})**\n")
    print("| set | detector accuracy, in-domain |\n|---|---|")
    for held in ("chatgpt-refusals", "gptfuzz", "rbr-gold"):
        partial_as = "complied" if held in PARTIAL_AS_COMPLIED else "refused"
        held_rows = sets[held]
        soft = {r["k"]: r for r in rows if r["set"] == held}
        right = n = 0
        for f in range(folds):
            test = {k for k in range(len(held_rows)) if k % folds == f}
            train_sets = {**sets, held: [r for k, r in enumerate(held_rows) if k not in test]}
            heads = train(train_sets, TRAIN_SETS)
            model = fit([r for r in rows if r["set"] != "vlguard-test" and not (r["set"] == held and r["k"] in test)],
                        l2_grams, boost=held)
            for k in sorted(test):
                row = held_rows[k]
                finding = find_refusal(row["response"], heads)
                if finding.label == "undecided":
                    continue
                if k in soft:
                    pred = predict(model, soft[k])
                else:
                    pred = finding.label == "refused" or (finding.label == "partial" and partial_as == "refused")
                truth = row["label"] == "refused" or (row["label"] == "partial" and partial_as == "refused")
                right += pred == truth
                n += 1
        print(f"| {held} | {right / n:.3f} |", flush=True)


#: The fitting choices the selection probe searches (train_refusal_model.train's options); the shipped model
#: uses l2 1e-3, power 0.5 (each row weighs 1/sqrt(its source's rows)), the soft head on soft-route rows.
CHOICES = [{"l2": l2, "power": power, "soft_routes": routes} for l2 in (1e-4, 1e-3, 1e-2) for power in (0.5, 1.0)
           for routes in (("soft",), ("soft", "explicit"))]
HELD = {"hand": "hand", "vlguard-test": "vlguard-train", "chatgpt-refusals": "chatgpt-refusals",
        "gptfuzz": "gptfuzz", "rbr-gold": "rbr-gold"}


def accuracy(rows: list[dict], heads, partial_as: str) -> float:
    right = n = 0
    for row in rows:
        f = find_refusal(row["response"], heads)
        if f.label == "undecided":
            continue
        pred = f.label == "refused" or (f.label == "partial" and partial_as == "refused")
        right += pred == (row["label"] == "refused" or (row["label"] == "partial" and partial_as == "refused")
                          if row["label"] else row["refused"])
        n += 1
    return right / n


def selection(sets: dict[str, list[dict]]) -> None:
    # every choice re-reads the same responses: cache the rules' reading (the heads do not change it)
    refusal.read = functools.lru_cache(maxsize=None)(refusal.read)
    print("\n**Fitting choices, LOSO accuracy per held-out set**\n")
    print("| l2 | power | soft head learns from | " + " | ".join(HELD) + " |\n" + "|---" * (3 + len(HELD)) + "|")

    def score(held: str, sources: tuple[str, ...], choice: dict) -> float:
        heads = train(sets, tuple(s for s in sources if s != HELD.get(held, held)), **choice)
        return accuracy(sets[held], heads, "complied" if held in PARTIAL_AS_COMPLIED else "refused")

    table = []
    for choice in CHOICES:
        table.append({h: score(h, TRAIN_SETS, choice) for h in HELD})
        print(f"| {choice['l2']:g} | {choice['power']} | {' + '.join(choice['soft_routes'])} | "
              + " | ".join(f"{table[-1][h]:.3f}" for h in HELD) + " |", flush=True)
    print("\n**Nested: the choice made by LOSO over the other sources only**\n\n| held out | chosen | accuracy |\n"
          "|---|---|---|")
    for held in HELD:
        inner = tuple(s for s in TRAIN_SETS if s != HELD[held])
        best = max(range(len(CHOICES)), key=lambda k: sum(score(i, inner, CHOICES[k]) for i in inner))
        c = CHOICES[best]
        print(f"| {held} | l2 {c['l2']:g}, power {c['power']}, {' + '.join(c['soft_routes'])} | "
              f"{table[best][held]:.3f} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", type=Path, default=Path(os.environ.get("SAFEVLM_DATA_ROOT",
                                                                          REPO.parent / "shared" / "benchdata")))
    ap.add_argument("--select", action="store_true", help="also the nested choice of fitting options (6 more minutes)")
    args = ap.parse_args(argv)
    sets = all_sets(args.data_root)
    if "gptfuzz" not in sets:
        print(f"no public labelled sets under {args.data_root}", file=sys.stderr)
        return 1
    rows = soft_rows(sets)
    loso_table(rows, [None, 1e-3, 1e-4, 1e-5])
    in_domain(sets, rows, 1e-4)
    if args.select:
        selection(sets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
