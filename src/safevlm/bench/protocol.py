"""A benchmark's official scoring protocol file (``<root>/eval/protocol.json``), read and pinned.

The authors' judge prompts, phrase lists, verdict regexes, label maps and judge
settings are the benchmark's text, not ours: safevlm never copies them. Each
benchmark folder carries them as data, one JSON file whose ``items`` each hold one
upstream literal (``name``, ``kind``, ``value`` and where it comes from). A spec's
``official:`` block names the file and pins its sha256 (:mod:`safevlm.bench.official`);
this module reads it at run time and refuses a file that is missing, changed or not
of that shape, naming the file and where it comes from (the spec's homepage), so a
score is never computed from text nobody checked.

Fills follow each item's ``fill`` (docs/benchmark-protocols.md): ``str.format``,
``str.replace`` of its ``slots``, an f-string's ``placeholders`` replaced as written,
or plain concatenation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from safevlm.errors import ConfigError

#: The extraction format this reader understands (the file's ``format`` field).
FORMAT = "benchdata protocol extraction v1"
ITEM_KINDS = ("judge_prompt", "task_prompt", "few_shot", "phrase_list", "prefix_list", "label_map", "regex",
              "judge_settings", "generation_settings")


class ProtocolError(ConfigError):
    """The protocol file is missing, changed since the spec pinned it, or malformed."""


@dataclass(frozen=True)
class Protocol:
    """One verified protocol file: its items by name."""

    path: Path
    sha256: str
    items: dict[str, dict[str, Any]]
    source: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # where the file comes from, for messages (the spec's homepage)

    @property
    def upstream(self) -> str:
        """``owner/repo@commit`` of the code the items were extracted from."""
        repo, commit = self.source.get("repo", "?"), str(self.source.get("commit", "?"))
        return f"{repo}@{commit[:7]}"

    def item(self, name: str, *kinds: str) -> dict[str, Any]:
        """The item ``name`` (its whole record); an error naming the file when absent or of another kind."""
        it = self.items.get(name)
        if it is None:
            raise ProtocolError(f"{self.path}: no item {name!r} (items: {', '.join(sorted(self.items))}); "
                                f"the spec's official block names it")
        if kinds and it.get("kind") not in kinds:
            raise ProtocolError(f"{self.path}: item {name!r} is a {it.get('kind')}, expected {' or '.join(kinds)}")
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


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_protocol(path: str | Path, sha256: str, *, origin: str = "", bench: str = "") -> Protocol:
    """Read ``path`` and check it against the pinned ``sha256``; :class:`ProtocolError` otherwise."""
    p = Path(path)
    try:
        stat = p.stat()
    except OSError:
        raise ProtocolError(_missing(p, origin, bench)) from None
    return _load(str(p.resolve()), stat.st_mtime_ns, stat.st_size, sha256.lower(), origin, bench)


def _where_from(origin: str, bench: str) -> str:
    who = f"the official scoring protocol of {bench}" if bench else "the official scoring protocol"
    return who + (f", extracted from the authors' evaluation code ({origin})" if origin else "")


def _missing(p: Path, origin: str, bench: str) -> str:
    return (f"{p}: protocol file not found. It holds {_where_from(origin, bench)} and ships with the "
            "benchmark's data folder (eval/protocol.json beside FORMAT.md); check the data root "
            "(SAFEVLM_DATA_ROOT, --data-root) or the benchmark's root")


@lru_cache(maxsize=32)
def _load(path: str, _mtime: int, _size: int, sha256: str, origin: str, bench: str) -> Protocol:
    p = Path(path)
    got = sha256_of(p)
    if got != sha256:
        raise ProtocolError(f"{p}: sha256 {got} differs from the {sha256} the spec pins: the file changed. It holds "
                            f"{_where_from(origin, bench)}; restore the original file, or, after checking every "
                            "changed item against upstream, update the spec's official.sha256")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProtocolError(f"{p}: not readable JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("items"), list):
        raise ProtocolError(f"{p}: expected a JSON object with format {FORMAT!r} and a list of items")
    items: dict[str, dict[str, Any]] = {}
    for k, it in enumerate(data["items"]):
        if not isinstance(it, dict) or not isinstance(it.get("name"), str) or "value" not in it \
                or it.get("kind") not in ITEM_KINDS:
            raise ProtocolError(f"{p}: items[{k}] needs a name, a kind ({', '.join(ITEM_KINDS)}) and a value")
        items[it["name"]] = it
    return Protocol(path=p, sha256=got, items=items, source=dict(data.get("source") or {}), origin=origin)


# --- filling templates as upstream does ------------------------------------------------------------


def fill(item: dict[str, Any], values: dict[str, Any]) -> str:
    """The item's template filled the way upstream fills it (its ``fill`` field).

    ``values`` maps a slot name (the ``str.format`` field, the f-string placeholder as
    written, or for ``str.replace`` the slot without its braces) to its text.
    """
    text = item["value"]
    how = item.get("fill", "str.format")
    if how == "str.format":
        return text.format(**values)
    if how == "str.replace":
        for slot in item.get("slots") or {}:
            name = slot.strip("{}")
            if name not in values:
                raise ProtocolError(f"item {item.get('name')!r}: no value for the slot {slot}")
            text = text.replace(slot, str(values[name]))
        return text
    if how == "f-string":
        return fill_fstring(text, item.get("placeholders") or [], values)
    raise ProtocolError(f"item {item.get('name')!r}: cannot fill a template by {how!r}")


def fill_fstring(text: str, placeholders: list[str], values: dict[str, Any]) -> str:
    """Replace each ``{placeholder}`` of an extracted f-string template, exactly as written."""
    for name in placeholders:
        if name not in values:
            raise ProtocolError(f"no value for the f-string placeholder {{{name}}}")
        text = text.replace("{" + name + "}", str(values[name]))
    return text


def task_text(builder: str, items: dict[str, str], protocol: Protocol, text: str,
              choices: dict[str, str] | None = None) -> str:
    """The evaluated model's text built from a protocol task prompt (a variant's ``task_prompt``).

    ``prefix``: the prompt directly before ``text`` (no separator, as MSSBench concatenates);
    ``replace``: the prompt instead of ``text`` (FigStep's attack prompt); ``siuo_mcqa``:
    the template with the question and one option line per choice, joined by the line
    item's ``joiner``.
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
        joiner = line.get("joiner", "\n")
        options = joiner.join(fill_fstring(line["value"], line.get("placeholders") or [], {"key": k, "value": v})
                              for k, v in choices.items())
        return fill(prompt, {"question": text, "option": options})
    raise ProtocolError(f"unknown task prompt builder {builder!r}")
