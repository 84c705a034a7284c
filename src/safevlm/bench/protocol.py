"""A benchmark's official scoring protocol file (``<root>/eval/protocol.json``), read and pinned.

The authors' judge prompts, phrase lists, verdict regexes, label maps and judge
settings are the benchmark's text, not ours: safevlm never copies them. Each
benchmark folder carries them as data, one JSON file whose ``items`` each hold one
upstream literal (``name``, ``kind``, ``value`` and where it comes from), either the
reference copy or the one ``safevlm bench fetch`` extracts
(:mod:`safevlm.bench.protocol_extract`).

The pins are the values, not the file: the spec's ``sources.protocol.items`` pins each
item's value by :func:`value_sha256` (one pin per item, in one place), so two files with
the same values in different bytes (the descriptive text is not upstream's) are the
same protocol. This module reads the file at run time, checks every item a variant uses
(its ``official:`` block's and its task prompt's) before anything is generated, and
checks any other item when it is first read; a missing file, a missing or changed item,
or an item with no pin is a :class:`ProtocolError` naming the file, the item and where
it comes from (the spec's homepage and ``safevlm bench fetch NAME``), so a score is
never computed from text nobody checked.

Only the pinned ``value`` of an item is read from the file. How it is filled comes from
the spec's pin record (its ``fill`` and ``kind``) and its slots from the value itself, so
unpinned fields of the file (notes, slot lists) cannot change a prompt or a score.
Fills follow docs/benchmark-protocols.md: ``str.format``, ``str.replace`` of ``{slot}``
texts, an f-string's ``{placeholder}`` expressions replaced as written, or concatenation.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safevlm.errors import ConfigError

if TYPE_CHECKING:
    from safevlm.bench.sources import ProtocolSource

#: The extraction format this reader understands (the file's ``format`` field).
FORMAT = "benchdata protocol extraction v1"
#: item kind -> what it is (protocol.json's ``conventions.kinds``)
ITEM_KINDS: dict[str, str] = {
    "judge_prompt": "text sent to the judge model, or a fixed part of it",
    "task_prompt": "text sent to the evaluated model by the benchmark's protocol",
    "few_shot": "few-shot examples kept as their own literal",
    "phrase_list": "strings matched against a response or a judge reply",
    "prefix_list": "strings matched with str.startswith",
    "label_map": "mapping or class list from a reply or label to a class, score or bucket",
    "regex": "regular expression (Python re) used to parse a verdict",
    "judge_settings": "judge model name, decoding settings and request details",
    "generation_settings": "decoding settings for the evaluated model",
}


class ProtocolError(ConfigError):
    """The protocol file is missing or malformed, or an item it should hold is missing, changed or unpinned."""


def value_sha256(value: Any) -> str:
    """sha256 of ``value`` as canonical JSON (sorted keys, no spaces, UTF-8): the pin of one item."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def item_problem(name: str, items: Mapping[str, Any], pin: str | None) -> str | None:
    """Why item ``name`` of a document (its items by name) cannot be used, or None: absent, not
    pinned, or its value differs from the pin. The one comparison the reader, ``bench verify``
    and ``bench fetch`` share."""
    if pin is None:
        return f"item {name!r} has no pin in the spec (sources.protocol.items): not read"
    it = items.get(name)
    if not isinstance(it, dict) or "value" not in it:
        return f"item {name!r} missing"
    got = value_sha256(it["value"])
    if got != pin:
        return f"item {name!r} differs from its pin (value sha256 {got[:12]}..., the spec pins {pin[:12]}...)"
    return None


def check_document(doc: Any, src: ProtocolSource) -> list[str]:
    """Problems of a protocol.json against every pin of the spec: missing items, values that differ."""
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        return ["not a protocol document (no 'items' list)"]
    have = {it.get("name"): it for it in doc["items"] if isinstance(it, dict)}
    return [p for it in src.items if (p := item_problem(it.name, have, it.sha256))]


@dataclass(frozen=True)
class Pin:
    """What the spec says about one item: its value's sha256, kind and how upstream fills it."""

    sha256: str
    kind: str
    fill: str | None = None


def pins_of(src: ProtocolSource | None) -> dict[str, Pin]:
    """The spec's pins (``sources.protocol.items``) by item name."""
    return {} if src is None else {it.name: Pin(it.sha256, it.kind, it.fill) for it in src.items}


@dataclass(frozen=True)
class Protocol:
    """One protocol file: its items, each returned only once its value matched its pin."""

    path: Path
    raw: dict[str, dict[str, Any]]
    pins: dict[str, Pin]
    source: dict[str, Any] = field(default_factory=dict)
    where: str = ""  # where the file comes from, for messages
    _checked: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def upstream(self) -> str:
        """``owner/repo@commit`` of the code the items were extracted from."""
        repo, commit = self.source.get("repo", "?"), str(self.source.get("commit", "?"))
        return f"{repo}@{commit[:7]}"

    def sha256(self, name: str) -> str:
        """The pin of item ``name`` (a judge's identity in results.json)."""
        return self.pins[name].sha256

    def item(self, name: str, *kinds: str) -> dict[str, Any]:
        """Item ``name`` as ``{name, kind, value, fill}``: the value from the file, checked against its
        pin; kind and fill from the spec. An error naming the file and the item otherwise."""
        it = self._checked.get(name)
        if it is None:
            pin = self.pins.get(name)
            problem = item_problem(name, self.raw, pin.sha256 if pin else None)
            if problem is not None:
                raise ProtocolError(f"{self.path}: {problem}. {self.where}")
            assert pin is not None
            it = {"name": name, "kind": pin.kind, "value": self.raw[name]["value"], "fill": pin.fill}
            self._checked[name] = it
        if kinds and it["kind"] not in kinds:
            raise ProtocolError(f"{self.path}: item {name!r} is a {it['kind']}, expected {' or '.join(kinds)}")
        return it

    def value(self, name: str, *kinds: str) -> Any:
        return self.item(name, *kinds)["value"]

    def text(self, name: str, *kinds: str) -> str:
        value = self.value(name, *kinds)
        if not isinstance(value, str):
            raise ProtocolError(f"{self.path}: item {name!r} should hold text, it holds a {type(value).__name__}")
        return value

    def strings(self, names: str | list[str], *kinds: str) -> list[str]:
        """The strings of one or several list items, in order."""
        out: list[str] = []
        for name in [names] if isinstance(names, str) else names:
            value = self.value(name, *kinds)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ProtocolError(f"{self.path}: item {name!r} should hold a list of strings")
            out += value
        return out


def where_from(bench: str, homepage: str = "") -> str:
    """The sentence every protocol error ends with: what the file is and how to get the original."""
    who = f"It holds the official scoring protocol of {bench}" if bench else "It holds an official scoring protocol"
    origin = f", extracted from the authors' evaluation code ({homepage})" if homepage else ""
    fetch = f"; restore it with `safevlm bench fetch {bench}`" if bench else ""
    return f"{who}{origin}{fetch} (it ships beside the benchmark's FORMAT.md; data root: SAFEVLM_DATA_ROOT, " \
           "--data-root)."


def load_protocol(path: str | Path, pins: Mapping[str, Pin], uses: Iterable[str] = (), *, bench: str = "",
                  homepage: str = "") -> Protocol:
    """Read ``path`` and check every item in ``uses`` against its pin (other items are checked when read).

    ``bench``: the benchmark's name (for messages and its fetch command); ``homepage``: where the
    authors' code lives. :class:`ProtocolError` for a missing or malformed file, or an item of
    ``uses`` that is missing, changed or unpinned.
    """
    p = Path(path)
    where = where_from(bench, homepage)
    try:
        stat = p.stat()
    except OSError:
        raise ProtocolError(f"{p}: protocol file not found. {where}") from None
    raw, source = _read(str(p.resolve()), stat.st_mtime_ns, stat.st_size, where)
    protocol = Protocol(path=p, raw=raw, pins=dict(pins), source=source, where=where)
    for name in dict.fromkeys(uses):
        protocol.item(name)
    return protocol


@lru_cache(maxsize=32)
def _read(path: str, _mtime: int, _size: int, where: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The file's items by name and its ``source`` (cached while the file is unchanged)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProtocolError(f"{p}: not readable JSON ({exc}). {where}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("items"), list):
        raise ProtocolError(f"{p}: expected a JSON object with format {FORMAT!r} and a list of items. {where}")
    items: dict[str, dict[str, Any]] = {}
    for k, it in enumerate(data["items"]):
        if not isinstance(it, dict) or not isinstance(it.get("name"), str) or "value" not in it \
                or it.get("kind") not in ITEM_KINDS:
            raise ProtocolError(f"{p}: items[{k}] needs a name, a kind ({', '.join(ITEM_KINDS)}) and a value")
        items[it["name"]] = it
    return items, dict(data.get("source") or {})


# --- filling templates as upstream does ------------------------------------------------------------


def placeholders(text: str) -> list[str]:
    """The ``{slot}`` names of a template, in order (an f-string's expressions as written)."""
    return list(dict.fromkeys(re.findall(r"\{([^{}]*)\}", text)))


def fill(item: dict[str, Any], values: dict[str, Any]) -> str:
    """The item's template filled the way upstream fills it (its ``fill``, from the spec).

    ``values`` maps a slot name (the ``str.format`` field, the f-string placeholder as
    written, or for ``str.replace`` the slot without its braces) to its text.
    """
    text = item["value"]
    how = item.get("fill") or "str.format"
    if how == "str.format":
        return text.format(**values)
    if how == "str.replace":
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return text
    if how == "f-string":
        return fill_fstring(text, values)
    raise ProtocolError(f"item {item.get('name')!r}: cannot fill a template by {how!r}")


def fill_fstring(text: str, values: dict[str, Any]) -> str:
    """Replace each ``{placeholder}`` of an extracted f-string template, exactly as written; a
    placeholder without a value is an error rather than left in the text."""
    missing = [n for n in placeholders(text) if n not in values]
    if missing:
        raise ProtocolError(f"no value for the f-string placeholder(s) {', '.join('{' + n + '}' for n in missing)}")
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def task_text(builder: str, items: dict[str, str], protocol: Protocol, text: str,
              choices: dict[str, str] | None = None) -> str:
    """The evaluated model's text built from a protocol task prompt (a variant's ``task_prompt``).

    ``prefix``: the prompt directly before ``text`` (no separator, as MSSBench concatenates);
    ``replace``: the prompt instead of ``text`` (FigStep's attack prompt); ``siuo_mcqa``:
    the template with the question and one option line per choice, one per line (as
    upstream joins them).
    """
    prompt = protocol.item(items["prompt"], "task_prompt")
    if builder == "prefix":
        return prompt["value"] + text
    if builder == "replace":
        return prompt["value"]
    if builder == "siuo_mcqa":
        if not choices:
            raise ProtocolError(f"{protocol.path}: task prompt {prompt['name']!r} needs an item with choices")
        line = protocol.item(items["option_line"], "task_prompt")
        options = "\n".join(fill_fstring(line["value"], {"key": k, "value": v}) for k, v in choices.items())
        return fill(prompt, {"question": text, "option": options})
    raise ProtocolError(f"unknown task prompt builder {builder!r}")
