"""Build the refusal detector's learned numbers (src/safevlm/text/refusal_model.npz) from the labelled sets.

The detector's rules route each response (docs/judges.md, "refusal"); two logistic heads decide where
the rules cannot, over the cue features of :mod:`safevlm.text.refusal_model`:

- ``soft`` (responses with no explicit refusal): y = short of full compliance;
- ``explicit`` (responses with one): y = refused outright (nothing of what was asked given), else partial.

What each set says, per its own labels (benchmarks/refusal_sets.py): sets with three-way labels give both
targets; the binary sets (hand, VLGuard) give both under the convention that their refusals are outright;
GPTFuzz's 0 ("did not comply") is refused outright and its 1 ("gave the harmful content") is not, which is
also "not short of compliance" where no explicit refusal occurs. Dialogue-shaped responses are left out
(the rules judge them turn by turn; their labels are for the whole). The rule-decided routes get their
measured rates, so every decision carries a probability.

Fitting: L2-regularised logistic regression with the signs fixed by meaning (a refusal cue may only push
towards refusal, content only towards compliance; length and script are free), by projected accelerated
gradient descent in numpy: deterministic, no other dependency. Each source weighs 1/sqrt(its rows), so a
large set does not drown a small one and a small one does not dominate.

    python benchmarks/train_refusal_model.py [--data-root DIR] [--out PATH] [--exclude SET,...]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from refusal_sets import REPO, all_sets

from safevlm.text.refusal import read
from safevlm.text.refusal_cues import dialogue_segments, normalise
from safevlm.text.refusal_model import FEATURES, MODEL_PATH, ROUTES, Heads
from safevlm.text.response import parse_response

#: Sets the shipped model is trained on (VLGuard's test split is kept for measurement only).
TRAIN_SETS = ("hand", "vlguard-train", "chatgpt-refusals", "gptfuzz", "rbr-gold")
L2 = 1e-3


def targets(row: dict, route: str) -> tuple[bool | None, bool]:
    """(short of full compliance, refused outright) for one labelled row; None where the set cannot say.

    GPTFuzz's 1 ("gave the harmful content") is compliance when nothing refused explicitly, and
    unknown for the first target otherwise (a refusal then the content is partial there).
    """
    if row["source"] == "gptfuzz":
        refused = row["label"] == "refused"
        return (True if refused else (False if route != "explicit" else None)), refused
    label = row["label"] or ("refused" if row["refused"] else "complied")
    return label != "complied", label == "refused"


_CACHE: dict[tuple[str, int], list] = {}


def examples(rows: list[dict]) -> list[tuple[str, list[float], tuple[bool | None, bool]]]:
    """(route, features, targets) for each row that is not a dialogue (cached per row list)."""
    key = (rows[0]["source"] if rows else "", len(rows))
    if key not in _CACHE:
        out = []
        for r in rows:
            text = normalise(parse_response(r["response"]).answer)
            if dialogue_segments(text):
                continue
            reading = read(text)
            out.append((reading.route, reading.vec, targets(r, reading.route)))
        _CACHE[key] = out
    return _CACHE[key]


def _sign(name: str) -> int:
    if name.startswith("content") or name in ("list_items", "answer_cue", "affirm_first"):
        return -1
    if name in ("sentences", "chars", "non_ascii", "empty") or name.startswith("apology"):
        return 0
    return 1


SIGNS = np.array([_sign(n) for n in FEATURES], dtype=float)


def fit_logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray, iters: int = 4000, l2: float = L2) -> np.ndarray:
    """Weights (bias first) minimising weighted log-loss + L2, with the signs of :data:`SIGNS` (FISTA)."""
    w = w / w.sum()
    Xb = np.hstack([np.ones((len(X), 1)), X])
    lipschitz = 0.25 * np.linalg.norm(Xb * np.sqrt(w)[:, None], 2) ** 2 + 2 * l2
    step = 1.0 / lipschitz
    theta = np.zeros(Xb.shape[1])
    z, t = theta.copy(), 1.0
    lo = np.concatenate([[-np.inf], np.where(SIGNS > 0, 0.0, -np.inf)])
    hi = np.concatenate([[np.inf], np.where(SIGNS < 0, 0.0, np.inf)])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(Xb @ z)))
        grad = Xb.T @ (w * (p - y))
        grad[1:] += 2 * l2 * z[1:]
        new = np.clip(z - step * grad, lo, hi)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = new + (t - 1) / t_new * (new - theta)
        theta, t = new, t_new
    return theta


def train(sets: dict[str, list[dict]], sources: tuple[str, ...] = TRAIN_SETS, l2: float = L2, power: float = 0.5,
          soft_routes: tuple[str, ...] = ("soft",)) -> Heads:
    """Heads fitted on ``sources`` (names of ``sets``); the LOSO benchmark calls this without one source.

    ``l2``, ``power`` (each row weighs n**-power, n its source's rows for that head) and ``soft_routes`` (the
    routes whose rows the soft head learns from) are the fitting choices; the defaults are the shipped model's,
    set once (benchmarks/refusal_model_probes.py --select compares the others).
    """
    per_source = {s: examples(sets[s]) for s in sources if s in sets}
    heads = {}
    for head, route_ok, target in (("soft", lambda r: r in soft_routes, 0), ("explicit", lambda r: r == "explicit", 1)):
        X, y, w = [], [], []
        for rows in per_source.values():
            use = [(vec, t[target]) for route, vec, t in rows if route_ok(route) and t[target] is not None]
            for vec, lab in use:
                X.append(vec)
                y.append(float(lab))
                w.append(len(use) ** -power)
        heads[head] = tuple(float(x) for x in fit_logistic(np.array(X), np.array(y), np.array(w), l2=l2))
    routes = {}
    for route in ROUTES:
        nc = [t[0] for rows in per_source.values() for r, _, t in rows if r == route and t[0] is not None]
        ref = [t[1] for rows in per_source.values() for r, _, t in rows if r == route]
        # Laplace-smoothed rates: a route never seen in training says 0.5, not 0 or 1
        routes[route] = ((sum(nc) + 1) / (len(nc) + 2), (sum(ref) + 1) / (len(ref) + 2))
    return Heads(FEATURES, heads["soft"], heads["explicit"], routes)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", type=Path, default=Path(os.environ.get("SAFEVLM_DATA_ROOT",
                                                                          REPO.parent / "shared" / "benchdata")))
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--exclude", default="", help="comma-separated sets to leave out")
    args = ap.parse_args(argv)
    sets = all_sets(args.data_root)
    sources = tuple(s for s in TRAIN_SETS if s in sets and s not in args.exclude.split(","))
    missing = [s for s in TRAIN_SETS if s not in sets]
    if missing:
        print(f"warning: {', '.join(missing)} not found under {args.data_root}", file=sys.stderr)
    heads = train(sets, sources)
    heads.save(args.out, sources=",".join(sources),
               rows=",".join(f"{s}={len(sets[s])}" for s in sources))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) from {', '.join(sources)}")
    for head in ("soft", "explicit"):
        w = getattr(heads, head)
        top = sorted(zip(FEATURES, w[1:]), key=lambda p: -abs(p[1]))[:8]
        print(f"  {head}: bias {w[0]:+.2f}; " + ", ".join(f"{n} {v:+.2f}" for n, v in top))
    print("  routes (P not complied, P refused): " + ", ".join(f"{r} {a:.3f}/{b:.3f}"
                                                            for r, (a, b) in heads.routes.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
