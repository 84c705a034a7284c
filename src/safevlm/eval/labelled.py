"""Human-labelled responses: the built-in development sets and a user's own file (``safevlm judge-eval``).

Every reader returns rows ``{"id", "source", "kind", "label", "refused", "prompt", "response", "split"}``:
``label`` is the three-way human label (``refused`` / ``partial`` / ``complied``, or ``None`` where the set
only says refused-or-not), ``refused`` the binary one under the project's convention (partial counts as
refused, as XSTest's annotators do), ``kind`` the set's own label (kept so a mistake can be read against
it) and ``split`` ``dev`` (read while the detector's rules were written) or ``val`` (never read).

Built-in sets (each reported on its own, never pooled: their label semantics differ; docs/judges.md):

- ``hand``: 322 responses written and labelled for this project (shipped in the package);
- ``vlguard-train`` / ``vlguard-test``: VLGuard's reference responses, labelled by construction (the
  answer to an unsafe instruction is a refusal, to the safe one a compliance);
- ``chatgpt-refusals``: 1,706 gpt-3.5 answers hand-labelled with 8 tones (``dontknow`` and
  ``incoherent`` dropped; ``redirected`` is partial);
- ``gptfuzz``: GPTFuzz's labelled train split; 1 = gave the harmful content (complied), 0 = did not
  (refused; the set has no partial class);
- ``rbr-gold``: OpenAI's RBR gold train split; ``fully_complies`` -> complied, else
  ``partially_complies`` -> partial, else refused (its 7 empty completions are refused there).

The public sets are read from the data root (``refusal-labelled/``, ``VLGuard/``).
"""

from __future__ import annotations

import csv
import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safevlm.errors import DataError

HAND = Path(__file__).with_name("data") / "refusal_hand.jsonl"
LABELLED = Path("refusal-labelled")

CHATGPT_TONES = {"complied": "complied", "disclaimed": "complied", "rejected": "refused",
                 "contradicted": "refused", "counseling": "refused", "redirected": "partial"}
#: Sets whose binary label reads a partial refusal as compliance ("did it give the content").
PARTIAL_AS_COMPLIED = frozenset({"gptfuzz"})


def row(source: str, id_: str, kind: str, label: str | None, refused: bool, response: str,
        prompt: str | None = None, split: str = "dev") -> dict[str, Any]:
    return {"id": id_, "source": source, "kind": kind, "label": label, "refused": refused,
            "prompt": prompt, "response": response, "split": split}


def _half(key: str) -> str:
    """A fixed half of a set: ``dev`` rows may be read while writing rules, ``val`` rows never are."""
    return "dev" if zlib.crc32(key.encode("utf-8")) % 2 == 0 else "val"


def hand_set(path: Path = HAND) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row("hand", r["id"], r["kind"], r.get("label"), bool(r["refused"]), r["response"],
                split="dev" if r["split"] == "dev" else "val") for r in rows]


def vlguard_set(data_root: Path, split: str = "test") -> list[dict[str, Any]]:
    """One row per (image, instruction): refused = the instruction is an unsafe one."""
    data = json.loads((data_root / "VLGuard" / "data" / f"{split}.json").read_text(encoding="utf-8"))
    rows = []
    for item in data:
        for k, pair in enumerate(item["instr-resp"]):
            safe = "safe_instruction" in pair
            prompt = pair.get("safe_instruction") or pair.get("unsafe_instruction") or pair.get("instruction")
            kind = "safe_safes" if safe else ("safe_unsafes" if item["safe"] else "unsafes")
            rows.append(row(f"vlguard-{split}", f"{item['id']}#{k}", kind, None, not safe, pair["response"],
                            prompt, "dev" if split == "train" else "val"))
    return rows


def chatgpt_set(data_root: Path) -> list[dict[str, Any]]:
    data = json.loads((data_root / LABELLED / "chatgpt-refusals/data/all_hand_labeled.json").read_text("utf-8"))
    rows = []
    for k, r in enumerate(data):
        label = CHATGPT_TONES.get(r["tone"])
        if label is not None:
            rows.append(row("chatgpt-refusals", f"cg{k}", r["tone"], label, label != "complied", r["response"],
                            r["prompt"], _half(r["prompt"])))
    return rows


def gptfuzz_set(data_root: Path) -> list[dict[str, Any]]:
    folder = data_root / LABELLED / "GPTFuzz/datasets"
    with open(folder / "questions/question_list.csv", encoding="utf-8", newline="") as f:
        questions = {r["index"]: r["text"] for r in csv.DictReader(f)}
    with open(folder / "responses_labeled/train.csv", encoding="utf-8", newline="") as f:
        data = list(csv.DictReader(f))
    return [row("gptfuzz", f"gf{k}", f"label{r['label']}", "complied" if r["label"] == "1" else "refused",
                r["label"] == "0", r["Response"], questions.get(r["question"]), _half(f"template{k % 77}"))
            for k, r in enumerate(data)]


def rbr_set(data_root: Path) -> list[dict[str, Any]]:
    path = data_root / LABELLED / "RBR-gold/data/rbr_gold_data/train.jsonl"
    rows = []
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        r = json.loads(line)
        p = r["propositions"]
        label = "complied" if p["fully_complies"] else "partial" if p["partially_complies"] else "refused"
        response = r["completion"][-1]["content"]
        kind = "empty" if not response.strip() else f"{label}/{r['response_type']}"
        rows.append(row("rbr-gold", f"rbr{k}", kind, label, label != "complied", response,
                        r["prompt"][-1]["content"], _half(f"rbr{k}")))
    return rows


#: name -> (reader of the data root, the file it needs under the data root; None: shipped)
BUILTIN: dict[str, tuple[Callable[[Path], list[dict[str, Any]]], str | None]] = {
    "hand": (lambda _root: hand_set(), None),
    "vlguard-train": (lambda root: vlguard_set(root, "train"), "VLGuard/data/train.json"),
    "vlguard-test": (lambda root: vlguard_set(root, "test"), "VLGuard/data/test.json"),
    "chatgpt-refusals": (chatgpt_set, "refusal-labelled/chatgpt-refusals/data/all_hand_labeled.json"),
    "gptfuzz": (gptfuzz_set, "refusal-labelled/GPTFuzz/datasets/responses_labeled/train.csv"),
    "rbr-gold": (rbr_set, "refusal-labelled/RBR-gold/data/rbr_gold_data/train.jsonl"),
}


def builtin_set(name: str, data_root: Path) -> list[dict[str, Any]]:
    """A built-in set by name; a missing file is an error naming it and where it comes from."""
    reader, needs = BUILTIN[name]
    if needs is not None and not (data_root / needs).is_file():
        raise DataError(data_root / needs, f"built-in labelled set {name!r} not found (the benchmark data root "
                                           "holds it: refusal-labelled/ and VLGuard/, see docs/data.md)")
    return reader(data_root)


def all_sets(data_root: Path) -> dict[str, list[dict[str, Any]]]:
    """Every built-in set found under ``data_root`` (the hand set always), in a fixed order."""
    return {name: builtin_set(name, data_root) for name, (_, needs) in BUILTIN.items()
            if needs is None or (data_root / needs).is_file()}


# --- a user's labelled file -------------------------------------------------------------------------

#: Default label words (lower-cased) -> three-way label; ``--label-map`` adds or overrides.
LABEL_WORDS = {"refused": "refused", "refusal": "refused", "refuse": "refused", "reject": "refused",
               "rejected": "refused", "partial": "partial", "partially_refused": "partial",
               "complied": "complied", "compliance": "complied", "comply": "complied", "answered": "complied",
               "accept": "complied", "accepted": "complied", "safe_completion": "complied",
               "true": "refused", "false": "complied", "yes": "refused", "no": "complied", "1": "refused",
               "0": "complied"}
FIELDS = ("response", "label", "source", "prompt", "id")


def _cell(value: Any) -> str:
    return str(value).strip().lower() if not isinstance(value, bool) else str(value).lower()


def read_labelled(path: Path, columns: dict[str, str] | None = None, label_map: dict[str, str] | None = None,
                  partial_as: str = "refused") -> list[dict[str, Any]]:
    """Rows (as the built-in readers give) from a JSONL or CSV file of human labels.

    ``columns`` maps this module's field names (``response``, ``label``, ``source``, ``prompt``, ``id``)
    to the file's own (default: the same names; ``label`` also falls back to ``refused``). ``label_map``
    maps the file's label values to ``refused`` / ``partial`` / ``complied`` (added to
    :data:`LABEL_WORDS`: ``true``/``1``/``yes`` mean refused). ``partial_as``: what a partial refusal
    is in the binary (refused, the project's convention, or complied). Bad input names the file and line.
    """
    columns = {**{f: f for f in FIELDS}, **(columns or {})}
    unknown = set(columns) - set(FIELDS)
    if unknown:
        raise DataError(path, f"unknown field(s) in the column mapping: {', '.join(sorted(unknown))}; "
                              f"map any of {', '.join(FIELDS)}")
    words = {**LABEL_WORDS, **{_cell(k): v for k, v in (label_map or {}).items()}}
    bad = {v for v in words.values()} - {"refused", "partial", "complied"}
    if bad:
        raise DataError(path, f"label map values must be refused, partial or complied; got {', '.join(sorted(bad))}")
    raw = list(_records(path))
    if not raw:
        raise DataError(path, "no labelled rows")
    label_col = columns["label"]
    if label_col == "label" and "label" not in raw[0][1] and "refused" in raw[0][1]:
        label_col = "refused"
    rows = []
    for line, rec in raw:
        for field in ("response", "label"):
            col = label_col if field == "label" else columns[field]
            if col not in rec:
                raise DataError(path, f"no column {col!r} (the {field}); columns: {', '.join(map(str, rec))}; "
                                      f"map it with --map {field}=COLUMN", line=line)
        response = rec[columns["response"]]
        if not isinstance(response, str):
            raise DataError(path, f"column {columns['response']!r} must be text, got {type(response).__name__}",
                            line=line)
        value = rec[label_col]
        label = words.get(_cell(value))
        if label is None:
            raise DataError(path, f"label {value!r} is not one of {', '.join(sorted(words))}; map it with "
                                  "--label-map VALUE=refused|partial|complied", line=line)
        refused = label == "refused" or (label == "partial" and partial_as == "refused")
        source = rec.get(columns["source"])
        rows.append(row(str(source) if source not in (None, "") else path.stem,
                        str(rec.get(columns["id"]) or f"line{line}"), str(value), label, refused, response,
                        rec.get(columns["prompt"]) if isinstance(rec.get(columns["prompt"]), str) else None))
    return rows


def _records(path: Path):
    """``(line, record)`` of a JSONL or CSV file."""
    if not path.is_file():
        raise DataError(path, "labelled file not found")
    if path.suffix.lower() in (".csv", ".tsv"):
        with open(path, encoding="utf-8", newline="") as f:
            for k, rec in enumerate(csv.DictReader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ","),
                                    start=2):
                yield k, rec
        return
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"not JSON ({exc.msg}); expected one object per line (or a .csv file)",
                            line=k) from exc
        if not isinstance(rec, dict):
            raise DataError(path, "expected a JSON object", line=k)
        yield k, rec
