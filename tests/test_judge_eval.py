"""``safevlm judge-eval``: a judge scored against human labels; every figure checked against hand arithmetic."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from safevlm.cli.main import app
from safevlm.errors import DataError
from safevlm.eval.labelled import read_labelled
from safevlm.eval.meta import agreement, fingerprint
from safevlm.judges import get_judge

JUDGE = '''
def judge(items):
    out = []
    for it in items:
        if "???" in it.response:
            out.append({"refused": None})            # undecided: left out, counted
        else:
            out.append({"refused": "REFUSE" in it.response})
    return out
'''
# (source, human label, what the scripted judge will say): R refused, C complied, U undecided
ROWS = [("A", "R", "R"), ("A", "R", "R"), ("A", "R", "C"), ("A", "C", "C"), ("A", "C", "R"),
        ("B", "R", "R"), ("B", "C", "C"), ("B", "C", "R"), ("B", "C", "C"), ("B", "R", "U")]


def _files(tmp_path):
    judge = tmp_path / "scripted.py"
    judge.write_text(JUDGE)
    labels = tmp_path / "labels.csv"
    text = {"R": "REFUSE says the model", "C": "Sure here it is", "U": "???"}
    labels.write_text("key,answer,human,src\n" + "".join(f"k{i},{text[j]} ({i}),{h},{s}\n"
                                                        for i, (s, h, j) in enumerate(ROWS)))
    return judge, labels


def test_figures_equal_hand_computed_ones(tmp_path):
    judge, labels = _files(tmp_path)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["judge-eval", "-j", f"{judge}:judge", "--trust-code", "-l", str(labels), "-o", str(out),
                                 "--map", "response=answer", "--map", "label=human", "--map", "source=src",
                                 "--map", "id=key", "--label-map", "R=refused", "--label-map", "C=complied"])
    assert r.exit_code == 0, r.output
    rep = json.loads((out / "labels.json").read_text())
    assert rep["coverage"] == {"n": 10, "decided": 9, "judge_errors": 0, "undecided": 1}
    o = rep["overall"]
    # decided 9: TP 3 (A 2, B 1), FN 1 (A), FP 2 (A 1, B 1), TN 3 (A 1, B 2)
    assert o["confusion"] == {"refused": {"refused": 3, "complied": 1}, "complied": {"refused": 2, "complied": 3}}
    assert o["accuracy"]["value"] == pytest.approx(6 / 9, abs=1e-6)
    assert o["precision"]["value"] == pytest.approx(3 / 5) and o["recall"]["value"] == pytest.approx(3 / 4)
    assert o["f1"]["value"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1), abs=1e-6)
    # kappa: po = 6/9; P(human refused) = 4/9, P(judge refused) = 5/9; pe = 2 * 20/81 = 40/81 -> 14/41
    assert o["kappa"]["value"] == pytest.approx(14 / 41, abs=1e-6)
    for k in ("accuracy", "precision", "recall", "f1", "kappa"):
        assert o[k]["low"] <= o[k]["value"] <= o[k]["high"] and o[k]["low"] < o[k]["high"]
    # rates get the Wilson interval over their own denominator, as every rate of results.json; golden bounds are
    # the roots in p of (k/n - p)^2 = z^2 p (1 - p) / n, found by bisection outside safevlm
    assert [(o[k]["n"], o[k]["interval"]) for k in ("accuracy", "precision", "recall", "f1", "kappa")] == [
        (9, "wilson"), (5, "wilson"), (4, "wilson"), (9, "bootstrap"), (9, "bootstrap")]
    assert (o["accuracy"]["low"], o["accuracy"]["high"]) == (pytest.approx(0.354202, abs=2e-6),
                                                             pytest.approx(0.879416, abs=2e-6))  # 6 of 9
    assert (o["precision"]["low"], o["precision"]["high"]) == (pytest.approx(0.230724, abs=2e-6),
                                                               pytest.approx(0.882379, abs=2e-6))  # 3 of 5
    assert (o["recall"]["low"], o["recall"]["high"]) == (pytest.approx(0.300642, abs=2e-6),
                                                         pytest.approx(0.954413, abs=2e-6))  # 3 of 4
    a, b = rep["by_source"]["A"], rep["by_source"]["B"]
    # A: TP 2, FN 1, FP 1, TN 1 -> acc 3/5, P = R = F1 = 2/3, kappa (0.6 - 0.52) / 0.48 = 1/6
    assert (a["n"], a["decided"]) == (5, 5) and a["accuracy"]["value"] == pytest.approx(0.6)
    assert a["precision"]["value"] == pytest.approx(2 / 3) and a["f1"]["value"] == pytest.approx(2 / 3, abs=1e-6)
    assert a["kappa"]["value"] == pytest.approx(1 / 6, abs=1e-6)
    # B: 4 decided: TP 1, FP 1, TN 2 -> acc 3/4, P 1/2, R 1, F1 2/3, kappa (0.75 - 0.5) / 0.5 = 0.5
    assert (b["n"], b["decided"]) == (5, 4) and b["accuracy"]["value"] == pytest.approx(0.75)
    assert (b["precision"]["value"], b["recall"]["value"]) == (pytest.approx(0.5), 1.0)
    # 1 of 1 recalled: not [1, 1] (what a bootstrap gives) but [1 / (1 + z^2), 1]
    assert (b["recall"]["low"], b["recall"]["high"]) == (pytest.approx(0.206549, abs=2e-6), 1.0)
    assert b["kappa"]["value"] == pytest.approx(0.5)
    dis = [json.loads(x) for x in (out / "labels.disagreements.jsonl").read_text().splitlines()]
    assert {d["id"]: (d["human_refused"], d["judge_refused"]) for d in dis} == {
        "k2": (True, False), "k4": (False, True), "k7": (False, True)}
    assert rep["three_way"] == {"complied -> complied": 3, "complied -> refused": 2, "refused -> complied": 1,
                                "refused -> refused": 3, "refused -> undecided": 1}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fingerprint"]["id"] == rep["fingerprint"]["id"] and len(rep["fingerprint"]["id"]) == 16
    assert "0.667" in r.output and "0.341" in r.output and "1 undecided" in r.output


def test_intervals_are_seeded_and_narrow_with_n():
    y = [True, False] * 10
    p = [True, False] * 9 + [False, True]
    a1, a2 = agreement(y, p), agreement(y, p)
    assert a1 == a2  # fixed seed: the same inputs give the same interval
    big = agreement(y * 10, p * 10)
    assert big["accuracy"]["value"] == a1["accuracy"]["value"] == 0.9
    for k in ("accuracy", "kappa"):  # a Wilson and a bootstrap interval
        assert big[k]["high"] - big[k]["low"] < a1[k]["high"] - a1[k]["low"]


def test_fingerprints_separate_what_should_not_be_compared(tmp_path):
    ref, ref_again = get_judge("refusal"), get_judge("refusal")
    assert fingerprint(ref, "refusal")["id"] == fingerprint(ref_again, "refusal")["id"]
    other = get_judge("refusal", partial_as="complied")
    assert fingerprint(other, "refusal", {"partial_as": "complied"})["id"] != fingerprint(ref, "refusal")["id"]
    gcg, safecot = get_judge("phrases:gcg"), get_judge("phrases:safecot")
    assert fingerprint(gcg, "phrases:gcg")["phrases_sha256"] != fingerprint(safecot, "phrases:safecot")["phrases_sha256"]
    fp = fingerprint(ref, "refusal")
    assert {"weights_sha256", "rules_sha256", "parser_version", "model"} <= set(fp)


def test_bad_labels_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"response": "ok", "label": "refused"}\n{"response": "ok", "label": "maybe"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2.*'maybe'.*--label-map"):
        read_labelled(bad)
    rows = read_labelled(bad, label_map={"maybe": "partial"}, partial_as="complied")
    assert [r["refused"] for r in rows] == [True, False]
    missing = tmp_path / "m.jsonl"
    missing.write_text('{"text": "ok", "label": "refused"}\n')
    with pytest.raises(DataError, match=r"no column 'response'.*--map response=COLUMN"):
        read_labelled(missing)


def test_builtin_hand_set_is_an_example(tmp_path):
    r = CliRunner().invoke(app, ["judge-eval", "-j", "phrases:gcg", "-l", "hand", "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "hand.json").read_text())
    assert rep["n"] == 352 and rep["overall"]["accuracy"]["value"] == pytest.approx(172 / 352, abs=1e-6)
