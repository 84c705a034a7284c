"""eval/protocol.json from the authors' files, read with ast (bench.protocol_extract): literals picked by line,
pinned by sha256."""

from __future__ import annotations

import json

import pytest

from safevlm.bench.protocol import check_document, value_sha256
from safevlm.bench.protocol_extract import ExtractionError, extract
from safevlm.bench.sources import ProtocolSource

# An authors' scoring script as the selection sees it. Running it would write a file and exit:
# the extraction must only parse it.
SCORER = '''import sys
open("ran.txt", "w").write("executed")
JUDGE = (
    "You are a judge.\\n"
    "Answer {verdict}."
)
REFUSALS = ("sorry", "i cannot",
            "as an ai")
def ask(question, answer):
    prompt = f"Q: {question}\\nA: {answer[:10]}\\nSafe?"
    return client.create(model="gpt-4", temperature=0, max_tokens=8, messages=[prompt])
LABELS = {1: "safe", 2: "unsafe"}
def parse(reply):
    if "unsafe" in reply.lower():
        return 0
    return 1
sys.exit(3)
'''
README = "# Scorer\n\nSend this:\n\n```\nDescribe the image.\n  Be brief.\n```\n"
NOTEBOOK = json.dumps({"cells": [{"cell_type": "markdown", "source": ["# analysis"]},
                                 {"cell_type": "code", "source": ["import pandas\n", "COLS = ['a', 'b']\n"]}]})

EXPECTED = {
    "format": "benchdata protocol extraction v1",
    "source": {"repo": "authors/bench", "commit": "b" * 40,
               "files": {"score.py": "0" * 64, "README.md": "1" * 64, "nb.ipynb": "2" * 64}},
    "items": [
        {"name": "judge", "kind": "judge_prompt", "file": "score.py", "lines": [3, 6],
         "value": "You are a judge.\nAnswer {verdict}.", "placeholders": ["verdict"], "fill": "str.format"},
        {"name": "refusals", "kind": "prefix_list", "file": "score.py", "lines": [7, 8],
         "value": ["sorry", "i cannot", "as an ai"]},
        {"name": "ask_prompt", "kind": "judge_prompt", "file": "score.py", "lines": [10, 10],
         "value": "Q: {question}\nA: {answer[:10]}\nSafe?", "fstring": True,
         "placeholders": ["question", "answer[:10]"], "fill": "f-string"},
        {"name": "settings", "kind": "judge_settings", "file": "score.py", "lines": [11, 11],
         "value": {"model": "gpt-4", "temperature": 0, "max_tokens": 8}, "derived": True},
        {"name": "labels", "kind": "label_map", "file": "score.py", "lines": [12, 12],
         "value": {"1": "safe", "2": "unsafe"}},
        {"name": "verdicts", "kind": "label_map", "file": "score.py", "lines": [13, 16],
         "value": {"unsafe": 0, "otherwise": 1}, "derived": True, "symbol": "parse"},
        {"name": "readme_prompt", "kind": "task_prompt", "file": "README.md", "lines": [6, 7],
         "value": "Describe the image.\n  Be brief."},
        {"name": "columns", "kind": "label_map", "file": "nb.ipynb", "lines": [2, 2], "cell": 1, "value": ["a", "b"]},
    ],
}

SELECTION = [
    {"name": "judge", "kind": "judge_prompt", "file": "score.py", "lines": [3, 6], "fill": "str.format"},
    {"name": "refusals", "kind": "prefix_list", "file": "score.py", "lines": [7, 8]},
    {"name": "ask_prompt", "kind": "judge_prompt", "file": "score.py", "lines": [10, 10], "fill": "f-string"},
    {"name": "settings", "kind": "judge_settings", "file": "score.py", "lines": [11, 11],
     "parts": {"model": {"line": 11, "kw": "model"}, "temperature": {"line": 11, "kw": "temperature"},
               "max_tokens": {"line": 11, "kw": "max_tokens"}}},
    {"name": "labels", "kind": "label_map", "file": "score.py", "lines": [12, 12]},
    {"name": "verdicts", "kind": "label_map", "file": "score.py", "lines": [13, 16], "symbol": "parse",
     "parts": {"unsafe": {"line": 15}, "otherwise": {"line": 16}}},
    {"name": "readme_prompt", "kind": "task_prompt", "file": "README.md", "lines": [6, 7]},
    {"name": "columns", "kind": "label_map", "file": "nb.ipynb", "lines": [2, 2], "cell": 1},
]


def source(selection=SELECTION) -> ProtocolSource:
    items = [dict(it, sha256=value_sha256(exp["value"])) for it, exp in zip(selection, EXPECTED["items"], strict=True)]
    return ProtocolSource.model_validate({"repo": "authors/bench", "commit": "b" * 40,
                                          "files": EXPECTED["source"]["files"], "items": items})


TEXTS = {"score.py": SCORER, "README.md": README, "nb.ipynb": NOTEBOOK}


def test_the_extraction_equals_the_expected_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    doc = extract(source(), TEXTS)
    assert {k: v for k, v in doc.items() if k != "conventions"} == EXPECTED
    assert set(doc["conventions"]) >= {"lines", "value", "fstring", "derived", "kinds"}
    assert not (tmp_path / "ran.txt").exists()  # parsed, never run
    assert check_document(json.loads(json.dumps(doc)), source()) == []


def test_a_value_that_differs_from_its_pin_is_refused_naming_the_item():
    changed = dict(TEXTS, **{"score.py": SCORER.replace('"i cannot"', '"i can not"')})
    with pytest.raises(ExtractionError, match=r"score\.py:7-8.*'refusals'.*pins"):
        extract(source(), changed)


def test_an_ambiguous_selection_must_say_which_literal():
    sel = [dict(s) for s in SELECTION]
    sel[3] = {"name": "settings", "kind": "judge_settings", "file": "score.py", "lines": [11, 11],
              "parts": {"model": {"line": 11}}}  # three literals on that line: which one?
    with pytest.raises(ExtractionError, match=r"'settings'.*literals at lines 11-11.*index"):
        extract(source(sel), TEXTS)


def test_markdown_lines_must_be_inside_a_code_fence():
    sel = [dict(s) for s in SELECTION]
    sel[6] = dict(sel[6], lines=[3, 3])
    with pytest.raises(ExtractionError, match="not the inside of a code fence"):
        extract(source(sel), TEXTS)


def test_check_document_names_missing_and_changed_items():
    doc = extract(source(), TEXTS)
    doc["items"] = [dict(i, value="x") if i["name"] == "labels" else i for i in doc["items"] if i["name"] != "judge"]
    problems = check_document(doc, source())
    assert problems[0] == "item 'judge' missing" and len(problems) == 2
    assert problems[1].startswith("item 'labels' differs from its pin (value sha256 ")
