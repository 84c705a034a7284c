"""The labelled response sets used to develop and measure the refusal detector.

Every loader returns rows ``{"id", "source", "kind", "label", "refused", "prompt", "response"}``:
``label`` is the three-way human label (``refused`` / ``partial`` / ``complied``, or ``None`` where the
set only says refused-or-not), ``refused`` the binary one under the project's convention (partial counts
as refused, as XSTest's annotators do; ../shared/benchdata/refusal-labelled/FORMAT.md), and ``kind`` the
set's own label, kept so a mistake can be read against it.

Sets (each reported on its own, never pooled: their label semantics differ):

- ``hand``: tests/data/refusal_labelled.jsonl, written and labelled by hand for this project;
- ``vlguard-train`` / ``vlguard-test``: VLGuard's reference responses, labelled by construction
  (the answer to an unsafe instruction is a refusal, to the safe one a compliance);
- ``chatgpt-refusals``: 1,706 gpt-3.5 answers hand-labelled with 8 tones (``dontknow`` and
  ``incoherent`` dropped; ``redirected`` is partial);
- ``gptfuzz``: GPTFuzz's labelled train split; ``label`` 1 = jailbroken (complied), 0 = it did not
  comply, which is refused here (the set has no partial class: a response that refuses and then gives
  the harmful content is 1, complied);
- ``rbr-gold``: OpenAI's RBR gold train split; ``fully_complies`` -> complied, else
  ``partially_complies`` -> partial, else refused (this includes 7 empty completions: a non-answer
  is not compliance, so the set counts them refused; the detector reads an empty answer as complied,
  so those 7 are always counted wrong, never dropped).
"""

from __future__ import annotations

import csv
import json
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HAND = REPO / "tests" / "data" / "refusal_labelled.jsonl"
LABELLED = Path("refusal-labelled")

CHATGPT_TONES = {"complied": "complied", "disclaimed": "complied", "rejected": "refused",
                 "contradicted": "refused", "counseling": "refused", "redirected": "partial"}


def _row(source: str, id_: str, kind: str, label: str | None, refused: bool, response: str,
         prompt: str | None = None, split: str = "dev") -> dict:
    return {"id": id_, "source": source, "kind": kind, "label": label, "refused": refused,
            "prompt": prompt, "response": response, "split": split}


def _half(key: str) -> str:
    """A fixed half of a set: ``dev`` rows may be read while writing rules, ``val`` rows never are."""
    return "dev" if zlib.crc32(key.encode("utf-8")) % 2 == 0 else "val"


def hand_set(path: Path = HAND) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [_row("hand", r["id"], r["kind"], r.get("label"), bool(r["refused"]), r["response"],
                 split="dev" if r["split"] == "dev" else "val") for r in rows]


def vlguard_set(data_root: Path, split: str = "test") -> list[dict]:
    """One row per (image, instruction): refused = the instruction is an unsafe one."""
    data = json.loads((data_root / "VLGuard" / "data" / f"{split}.json").read_text(encoding="utf-8"))
    rows = []
    for item in data:
        for k, pair in enumerate(item["instr-resp"]):
            safe = "safe_instruction" in pair
            prompt = pair.get("safe_instruction") or pair.get("unsafe_instruction") or pair.get("instruction")
            kind = "safe_safes" if safe else ("safe_unsafes" if item["safe"] else "unsafes")
            rows.append(_row(f"vlguard-{split}", f"{item['id']}#{k}", kind, None, not safe, pair["response"],
                             prompt, "dev" if split == "train" else "val"))
    return rows


def chatgpt_set(data_root: Path) -> list[dict]:
    data = json.loads((data_root / LABELLED / "chatgpt-refusals/data/all_hand_labeled.json").read_text("utf-8"))
    rows = []
    for k, r in enumerate(data):
        label = CHATGPT_TONES.get(r["tone"])
        if label is not None:
            rows.append(_row("chatgpt-refusals", f"cg{k}", r["tone"], label, label != "complied", r["response"],
                             r["prompt"], _half(r["prompt"])))
    return rows


def gptfuzz_set(data_root: Path) -> list[dict]:
    folder = data_root / LABELLED / "GPTFuzz/datasets"
    with open(folder / "questions/question_list.csv", encoding="utf-8", newline="") as f:
        questions = {r["index"]: r["text"] for r in csv.DictReader(f)}
    with open(folder / "responses_labeled/train.csv", encoding="utf-8", newline="") as f:
        data = list(csv.DictReader(f))
    return [_row("gptfuzz", f"gf{k}", f"label{r['label']}", "complied" if r["label"] == "1" else "refused",
                 r["label"] == "0", r["Response"], questions.get(r["question"]), _half(f"template{k % 77}"))
            for k, r in enumerate(data)]


def rbr_set(data_root: Path) -> list[dict]:
    path = data_root / LABELLED / "RBR-gold/data/rbr_gold_data/train.jsonl"
    rows = []
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        r = json.loads(line)
        p = r["propositions"]
        label = "complied" if p["fully_complies"] else "partial" if p["partially_complies"] else "refused"
        response = r["completion"][-1]["content"]
        kind = "empty" if not response.strip() else f"{label}/{r['response_type']}"
        rows.append(_row("rbr-gold", f"rbr{k}", kind, label, label != "complied", response,
                         r["prompt"][-1]["content"], _half(f"rbr{k}")))
    return rows


def all_sets(data_root: Path) -> dict[str, list[dict]]:
    """Every set found under ``data_root`` (the hand set always), in a fixed order."""
    sets = {"hand": hand_set()}
    if (data_root / "VLGuard").is_dir():
        sets["vlguard-train"] = vlguard_set(data_root, "train")
        sets["vlguard-test"] = vlguard_set(data_root, "test")
    if (data_root / LABELLED).is_dir():
        sets["chatgpt-refusals"] = chatgpt_set(data_root)
        sets["gptfuzz"] = gptfuzz_set(data_root)
        sets["rbr-gold"] = rbr_set(data_root)
    return sets
