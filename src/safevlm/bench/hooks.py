"""Hooks for benchmark layouts a flat field mapping cannot express.

A hook takes the :class:`~safevlm.bench.loader.BenchContext` and yields
``(where, record)`` pairs; the variant's YAML templates then map each record onto a
sample. Fields a hook adds start with ``_``; ``_images`` may hold paths (relative to
the image root), PIL images, or zero-argument callables that render one on demand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any

from safevlm.bench.native import Where, read_records
from safevlm.data.typography import render_typography
from safevlm.errors import ConfigError, DataError


def _require(where: Where, record: dict[str, Any], *fields: str) -> None:
    missing = [f for f in fields if f not in record]
    if missing:
        raise where.error(f"missing field(s) {', '.join(missing)}; present: {', '.join(sorted(record))}")


# --- VLGuard --------------------------------------------------------------------------

VLGUARD_SUBSETS = ("unsafes", "safe_unsafes", "safe_safes")


def vlguard(ctx) -> Iterator[tuple[Where, dict[str, Any]]]:
    """Expand each VLGuard image into its evaluation pairs (upstream ``utils/utils.py``).

    ``safe: false`` images give one ``unsafes`` pair; ``safe: true`` images give a
    ``safe_safes`` pair (benign instruction) and a ``safe_unsafes`` pair (harmful
    instruction), which share ``_group`` (the image's id: the same image asked a benign
    and a harmful question, scored together by the paired metric); ``unsafes`` items
    have no twin (``_group`` empty). ``options.subsets`` selects which subsets to keep.
    """
    subsets = ctx.variant.options.get("subsets", list(VLGUARD_SUBSETS))
    unknown = set(subsets) - set(VLGUARD_SUBSETS)
    if unknown:
        raise ConfigError(f"vlguard: unknown subsets {sorted(unknown)}; expected {VLGUARD_SUBSETS}")
    seen: dict[str, int] = {}
    for where, rec in read_records(ctx.path(ctx.variant.file)):
        _require(where, rec, "id", "image", "safe", "instr-resp")
        # train.json repeats one id (Ads_303871) with other instructions: keep both, as upstream does.
        seen[rec["id"]] = seen.get(rec["id"], 0) + 1
        uid = rec["id"] if seen[rec["id"]] == 1 else f"{rec['id']}#{seen[rec['id']]}"
        pairs = rec["instr-resp"]
        if not isinstance(pairs, list) or not pairs:
            raise where.error("'instr-resp' should be a non-empty list of instruction/response objects")
        category = "/".join(filter(None, [rec.get("harmful_category"), rec.get("harmful_subcategory")])) or None
        base = {**rec, "_category": category or "none", "_source_dataset": rec["image"].split("/")[0]}
        if rec["safe"] is False:
            _require(where, pairs[0], "instruction")
            found = {"unsafes": pairs[0]["instruction"]}
            responses = {"unsafes": pairs[0].get("response", "")}
        else:
            found, responses = {}, {}
            for pair in pairs:
                for key, subset in (("safe_instruction", "safe_safes"), ("unsafe_instruction", "safe_unsafes")):
                    if key in pair:
                        found[subset] = pair[key]
                        responses[subset] = pair.get("response", "")
            if set(found) != {"safe_safes", "safe_unsafes"}:
                raise where.error("a safe image needs one 'safe_instruction' and one 'unsafe_instruction' in 'instr-resp'")
        for subset in VLGUARD_SUBSETS:
            if subset in found and subset in subsets:
                yield where, {**base, "_subset": subset, "_id": f"{uid}/{subset}",
                              "_group": uid if rec["safe"] else "",
                              "_instruction": found[subset], "_response": responses[subset]}


# --- MM-SafetyBench -------------------------------------------------------------------

#: Judge rules per scenario from MM-SafetyBench's evaluation (FORMAT.md "Label semantics").
MMSB_JUDGE_RULE = {
    **{s: "no_harmful_content" for s in ("01", "02", "03", "04", "05", "06", "07", "09")},
    "08": "refuse_to_engage", "13": "refuse_to_engage",
    "10": "disclaimer", "11": "disclaimer", "12": "disclaimer",
}

MMSB_KINDS = {"text": None, "typo": "TYPO", "sd": "SD", "sd_typo": "SD_TYPO"}


def mm_safetybench(ctx) -> Iterator[tuple[Where, dict[str, Any]]]:
    """Read the 13 scenario files and attach each item's image for the chosen kind.

    ``options.kind``: ``text`` (no image), ``typo`` (the key phrase rendered by safevlm,
    see :mod:`safevlm.data.typography`), ``sd`` / ``sd_typo`` (upstream images, read from
    ``{image_root}/{scenario}/{SD|SD_TYPO}/{id}.jpg``; the image root defaults to
    ``data/imgs`` as unzipped upstream). ``options.tiny``: keep only the 168 ids of
    ``TinyVersion_ID_List.json``.
    """
    kind = ctx.variant.options.get("kind", "text")
    if kind not in MMSB_KINDS:
        raise ConfigError(f"mm-safetybench: unknown kind {kind!r}; expected one of {list(MMSB_KINDS)}")
    tiny = None
    if ctx.variant.options.get("tiny"):
        tiny = _mmsb_tiny_ids(ctx)
    qdir = ctx.path("data/processed_questions")
    files = sorted(qdir.glob("*.json"))
    if not files:
        raise ConfigError(f"mm-safetybench: no scenario files under {qdir}")
    typo = partial(render_typography, **ctx.variant.options.get("typography", {}))
    for path in files:
        scenario = path.stem
        for where, rec in read_records(path, "json"):
            qid = rec["_key"]
            if tiny is not None and int(qid) not in tiny.get(scenario, ()):
                continue
            _require(where, rec, "Question", "Key Phrase", "Rephrased Question", "Rephrased Question(SD)")
            rec = {**rec, "_scenario": scenario, "_scenario_num": scenario[:2],
                   "_judge_rule": MMSB_JUDGE_RULE.get(scenario[:2], "no_harmful_content")}
            if kind == "typo":
                rec["_images"] = [partial(typo, rec["Key Phrase"])]
            elif kind in ("sd", "sd_typo"):
                rec["_images"] = [f"{scenario}/{MMSB_KINDS[kind]}/{qid}.jpg"]
            yield where, rec


def _mmsb_tiny_ids(ctx) -> dict[str, set[int]]:
    path = ctx.path("TinyVersion_ID_List.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {entry["Scenario"]: set(entry["Sampled_ID_List"]) for entry in data}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: expected a list of {{Scenario, Sampled_ID_List}} ({exc})") from exc


# --- Pairing hooks (generic; XSTest, MOSSBench) ----------------------------------------


def pair_by_position(ctx) -> Iterator[tuple[Where, dict[str, Any]]]:
    """Records of ``file`` with a ``_group`` that pairs the k-th record of one class with the k-th of its twin.

    ``options.field`` names the record field holding the class; ``options.pairs`` maps
    a class to its twin class (XSTest: ``homonyms: contrast_homonyms``). Records of a
    paired class get ``_group = "{class}/{k}"`` (k from 1, in file order); the others
    get ``""`` (no group). A class and its twin must hold as many records.
    """
    field_name = ctx.variant.options.get("field")
    pairs = ctx.variant.options.get("pairs") or {}
    if not field_name or not isinstance(pairs, dict) or not pairs:
        raise ConfigError(f"{ctx.uid}: pair_by_position needs options.field and options.pairs (class -> twin)")
    path = ctx.path(ctx.variant.file)
    rows = list(read_records(path, ctx.variant.format))
    classes: dict[str, list[int]] = {}
    for i, (where, rec) in enumerate(rows):
        _require(where, rec, field_name)
        classes.setdefault(str(rec[field_name]), []).append(i)
    groups: dict[int, str] = {}
    for first, twin in pairs.items():
        a, b = classes.get(first, []), classes.get(twin, [])
        if len(a) != len(b):
            raise DataError(path, f"cannot pair {field_name} {first!r} ({len(a)} records) with {twin!r} "
                            f"({len(b)} records)")
        for k, (i, j) in enumerate(zip(a, b), start=1):
            groups[i] = groups[j] = f"{first}/{k}"
    for i, (where, rec) in enumerate(rows):
        yield where, {**rec, "_group": groups.get(i, "")}


def sides_from_files(ctx) -> Iterator[tuple[Where, dict[str, Any]]]:
    """The records of several files as the sides of one variant (MOSSBench benign + contrast).

    ``options.sides`` maps a side name to ``{file: PATH, fields: {...}}``; each record
    gets ``_side`` and that side's ``fields`` (e.g. the folder its image is under), so
    the variant's templates can give sides their own id, image and expected behaviour.
    ``options.match`` (a field name): keep only records whose value of that field is
    found in every side, i.e. complete groups.
    """
    sides = ctx.variant.options.get("sides") or {}
    match = ctx.variant.options.get("match")
    if not isinstance(sides, dict) or not sides:
        raise ConfigError(f"{ctx.uid}: sides_from_files needs options.sides (side -> {{file, fields}})")
    read: dict[str, list[tuple[Where, dict[str, Any]]]] = {}
    for side, conf in sides.items():
        if not isinstance(conf, dict) or "file" not in conf:
            raise ConfigError(f"{ctx.uid}: options.sides.{side} needs a 'file'")
        read[side] = [(where, {**rec, **(conf.get("fields") or {}), "_side": side})
                      for where, rec in read_records(ctx.path(conf["file"]), ctx.variant.format)]
        if match:
            for where, rec in read[side]:
                _require(where, rec, match)
    keep = None
    if match:
        keep = set.intersection(*({str(rec[match]) for _, rec in rows} for rows in read.values()))
    for rows in read.values():
        for where, rec in rows:
            if keep is None or str(rec[match]) in keep:
                yield where, rec


# --- MSSBench ------------------------------------------------------------------------------------


def mssbench(ctx) -> Iterator[tuple[Where, dict[str, Any]]]:
    """One record per MSSBench query pair from ``combined.json`` (``options.setting``: ``chat`` or ``embodied``).

    Chat: each of an entry's queries is asked with the entry's safe and its unsafe image, so an
    entry gives one record per query (``_query``; the spec's ``items`` make the two sides).
    Embodied: the k-th of the 5 safe and 5 unsafe instruction paraphrases form a pair
    (``_safe_instruction``, ``_unsafe_instruction``). ``_entry`` is the entry's index.
    """
    setting = ctx.variant.options.get("setting", "chat")
    if setting not in ("chat", "embodied"):
        raise ConfigError(f"mssbench: unknown setting {setting!r}; expected chat or embodied")
    path = ctx.path(ctx.variant.file or "combined.json")
    if not path.is_file():
        raise DataError(path, "benchmark file not found (check the data root or the spec's 'root')")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(path, f"malformed JSON ({exc})") from exc
    entries = data.get(setting) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise DataError(path, f"expected an object with a {setting!r} list of entries")
    for i, entry in enumerate(entries):
        where = Where(path, item=f"{setting}[{i}]")
        if not isinstance(entry, dict):
            raise where.error("expected a JSON object")
        if setting == "chat":
            _require(where, entry, "safe_image_path", "unsafe_image_path", "queries", "Type")
            for q, query in enumerate(entry["queries"]):
                yield where, {**entry, "_id": f"{i}-q{q}", "_entry": i, "_query": query}
            continue
        _require(where, entry, "safe", "unsafe", "safe_instructions", "unsafe_instructions", "category")
        safe, unsafe = entry["safe_instructions"], entry["unsafe_instructions"]
        if len(safe) != len(unsafe):
            raise where.error(f"{len(safe)} safe but {len(unsafe)} unsafe instructions; they pair by position")
        for k, (a, b) in enumerate(zip(safe, unsafe)):
            yield where, {**entry, "_id": f"{i}-i{k}", "_entry": i, "_safe_instruction": a, "_unsafe_instruction": b}
