"""The authors' scoring literals as data: ``eval/protocol.json`` extracted with :mod:`ast` (``bench fetch``).

A benchmark's official scoring lives in its authors' code: judge prompts, phrase lists,
verdict regexes, settings. safevlm never runs or keeps that code. ``bench fetch``
downloads the files named by the spec's ``sources.protocol``, parses them with
:mod:`ast` (Markdown and notebooks by lines and cells), and takes exactly the literals
the spec selects by file and line (:class:`~safevlm.bench.sources.ProtocolItem`): the
text of each value comes from upstream, only its location comes from the spec. Each
value is then checked against the sha256 the spec pins
(:func:`safevlm.bench.protocol.value_sha256`), so a moved line or an edited file stops
the fetch naming the item instead of writing a wrong protocol. The document has the
layout of the reference copies (``format``, ``conventions``, ``source``, ``items``);
the official scorers read it with :mod:`safevlm.bench.protocol`, which checks the same
pins, so a fetched file and the reference copy are the same protocol.
"""

from __future__ import annotations

import ast
import json
import string
from typing import Any

from safevlm.bench.protocol import FORMAT, ITEM_KINDS, value_sha256
from safevlm.bench.sources import ProtocolItem, ProtocolSource
from safevlm.errors import DataError

PICK_KEYS = {"line", "lines", "file", "cell", "index", "all", "kw", "key", "keys", "ident", "const"}

CONVENTIONS = {
    "purpose": "The literals of the authors' scoring code that define the official protocol, read with Python's "
               "ast by `safevlm bench fetch` at the pinned commit; the code itself is neither run nor kept "
               "(its sha256 is under source.files). Each value is pinned by sha256 in safevlm's spec.",
    "lines": "1-based and inclusive, in the upstream file at source.commit; with `cell`, counted inside that "
             "notebook cell (0-based index among all cells).",
    "value": "The literal as Python evaluates it (adjacent strings joined, escapes resolved), whitespace kept. "
             "Tuples become lists and integer dict keys strings; phrase_list and prefix_list values are lists.",
    "markdown": "For a .md file, value is the given lines (the inside of a code fence) joined with \\n.",
    "fstring": "true: the literal is an f-string; value keeps each {expression} as written and `placeholders` "
               "lists them in order.",
    "derived": "true: value is a mapping built from several literals (each picked by line), following the code "
               "that uses them; it is not one literal upstream.",
    "fill": "How upstream puts values into the slots: str.format, str.replace, f-string or concatenation.",
    "kinds": ITEM_KINDS,
}


class ExtractionError(DataError):
    """An item that cannot be extracted or whose value differs from its pin."""


class _Literal:
    """A literal found in the source: its value and, for f-strings, the expressions it holds."""

    def __init__(self, value: Any, placeholders: list[str] | None = None):
        self.value = value
        self.placeholders = placeholders


def _literal(node: ast.AST) -> _Literal | None:
    """The value of a literal expression (never evaluated as code), or None if ``node`` is not one."""
    if isinstance(node, ast.Constant) and not isinstance(node.value, bytes):
        return _Literal(node.value)
    if isinstance(node, ast.JoinedStr):
        text, names = [], []
        for part in node.values:
            if isinstance(part, ast.Constant):
                text.append(part.value)
            else:  # FormattedValue: the expression as written
                expr = ast.unparse(part.value)
                names.append(expr)
                text.append("{" + expr + "}")
        return _Literal("".join(text), names)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        parts = [_literal(e) for e in node.elts]
        return None if any(p is None for p in parts) else _Literal([p.value for p in parts])
    if isinstance(node, ast.Dict):
        keys = [_literal(k) if k is not None else None for k in node.keys]
        vals = [_literal(v) for v in node.values]
        if any(k is None for k in keys) or any(v is None for v in vals):
            return None
        return _Literal({str(k.value): v.value for k, v in zip(keys, vals, strict=True)})
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left), _literal(node.right)
        if left and right and isinstance(left.value, str) and isinstance(right.value, str):
            names = (left.placeholders or []) + (right.placeholders or [])
            return _Literal(left.value + right.value, names or None)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _literal(node.operand)
        if inner and isinstance(inner.value, (int, float)):
            return _Literal(-inner.value)
    return None


def _outermost_literals(tree: ast.AST, first: int, last: int, keys: bool = False) -> list[tuple[ast.AST, _Literal]]:
    """Literals lying within lines ``first``-``last``, not inside another literal, in source order.

    A dict entry's key, an assignment's target and a subscript's key locate a value rather than
    being one, so they are left out unless ``keys``.
    """
    found: list[tuple[ast.AST, _Literal]] = []

    def children(node: ast.AST) -> list[ast.AST]:
        if keys:
            return list(ast.iter_child_nodes(node))
        if isinstance(node, ast.Dict):
            return list(node.values)
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            return [node.value] if node.value is not None else []
        if isinstance(node, ast.Subscript):
            return [node.value]
        return list(ast.iter_child_nodes(node))

    def walk(node: ast.AST) -> None:
        for child in children(node):
            lit = _literal(child) if isinstance(child, ast.expr) else None
            if lit is not None and first <= child.lineno and child.end_lineno <= last:
                found.append((child, lit))
            elif lit is None or (child.lineno <= last and child.end_lineno >= first):
                walk(child)

    walk(tree)
    found.sort(key=lambda x: (x[0].lineno, x[0].col_offset))
    exact = [f for f in found if (f[0].lineno, f[0].end_lineno) == (first, last)]
    return exact or found


class _Sources:
    """The upstream files of one protocol, parsed once each."""

    def __init__(self, texts: dict[str, str]):
        self.texts = texts
        self._trees: dict[tuple[str, int | None], ast.AST] = {}

    def text(self, file: str) -> str:
        if file not in self.texts:
            raise KeyError(file)
        return self.texts[file]

    def tree(self, file: str, cell: int | None) -> ast.AST:
        key = (file, cell)
        if key not in self._trees:
            source = self.text(file)
            if file.endswith(".ipynb"):
                cells = json.loads(source)["cells"]
                if cell is None or not 0 <= cell < len(cells) or cells[cell].get("cell_type") != "code":
                    raise ValueError(f"cell {cell} is not a code cell of {file}")
                src = cells[cell]["source"]
                source = "".join(src) if isinstance(src, list) else src
            self._trees[key] = ast.parse(source, filename=file)
        return self._trees[key]


def _pick(srcs: _Sources, file: str, first: int, last: int, *, cell: int | None = None, index: int | None = None,
          every: bool = False, kw: str | None = None, key: Any = None, keys: bool = False, kind: str = "") -> _Literal:
    """The literal at ``first``-``last`` of ``file`` (see :class:`ProtocolItem`)."""
    if file.endswith(".md"):
        lines = srcs.text(file).split("\n")
        if not (1 < first <= last < len(lines) and lines[first - 2].lstrip().startswith("```")
                and lines[last].lstrip().startswith("```")):
            raise ValueError(f"lines {first}-{last} of {file} are not the inside of a code fence")
        return _Literal("\n".join(lines[first - 1:last]))
    tree = srcs.tree(file, cell)
    if kw is not None:
        hits = [_literal(k.value) for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg == kw
                and first <= k.lineno <= last]
        found = [h for h in hits if h is not None]
        where = f"keyword argument {kw!r}"
    else:
        found = [lit for _, lit in _outermost_literals(tree, first, last, keys)]
        where = "a literal"
    if not found:
        raise ValueError(f"no {where} at lines {first}-{last} of {file}")
    if every:  # several literals that upstream tests one after the other: one list
        names = [n for lit in found for n in lit.placeholders or []]
        found = [_Literal([lit.value for lit in found], list(dict.fromkeys(names)) if names else None)]
    if index is None and len(found) > 1:
        raise ValueError(f"{len(found)} literals at lines {first}-{last} of {file}; the spec must say which (index)")
    if index is not None and index >= len(found):
        raise ValueError(f"index {index} but only {len(found)} literals at lines {first}-{last} of {file}")
    lit = found[index or 0]
    for step in ([] if key is None else key if isinstance(key, list) else [key]):
        value = lit.value
        ok = (isinstance(value, dict) and str(step) in value) or (isinstance(value, list) and isinstance(step, int)
                                                                  and -len(value) <= step < len(value))
        if not ok:
            raise ValueError(f"the literal at lines {first}-{last} of {file} has no key {step!r}")
        lit = _Literal(value[str(step)] if isinstance(value, dict) else value[step], lit.placeholders)
    if kind in ("phrase_list", "prefix_list") and isinstance(lit.value, str):
        lit = _Literal([lit.value], lit.placeholders)
    return lit


def _ident(srcs: _Sources, file: str, line: int, cell: int | None) -> str:
    """The name assigned on ``line`` (``x = some_name`` -> ``"some_name"``)."""
    for node in ast.walk(srcs.tree(file, cell)):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.lineno == line and node.value is not None:
            if isinstance(node.value, ast.Name):
                return node.value.id
            if isinstance(node.value, ast.Attribute):
                return node.value.attr
    raise ValueError(f"no assignment of a name at line {line} of {file}")


def _resolve(part: Any, srcs: _Sources, item: ProtocolItem) -> Any:
    """A derived item's part: a pick, or a mapping / list of parts."""
    if isinstance(part, list):
        return [_resolve(p, srcs, item) for p in part]
    if not isinstance(part, dict):
        raise ValueError(f"a part must be a pick or a mapping of picks, got {part!r}")  # noqa: TRY004 (a selection error)
    if set(part) <= PICK_KEYS and set(part) & {"line", "lines", "ident", "const"}:
        if "const" in part:
            return part["const"]
        file, cell = part.get("file", item.file), part.get("cell", item.cell)
        if "ident" in part:
            return _ident(srcs, file, part["ident"], cell)
        first, last = part["lines"] if "lines" in part else (part["line"], part["line"])
        return _pick(srcs, file, first, last, cell=cell, index=part.get("index"), every=part.get("all", False),
                     kw=part.get("kw"),
                     key=part.get("key"), keys=part.get("keys", False)).value
    return {k: _resolve(v, srcs, item) for k, v in part.items()}


def extract_item(item: ProtocolItem, srcs: _Sources) -> dict[str, Any]:
    """One entry of protocol.json; raises ValueError saying what is wrong with the selection."""
    out: dict[str, Any] = {"name": item.name, "kind": item.kind, "file": item.file, "lines": list(item.lines)}
    if item.cell is not None:
        out["cell"] = item.cell
    if item.parts is not None:
        out["value"] = _resolve(item.parts, srcs, item)
        out["derived"] = True
    else:
        lit = _pick(srcs, item.file, *item.lines, cell=item.cell, index=item.index, every=item.all, kw=item.kw,
                    key=item.key,
                    keys=item.keys, kind=item.kind)
        out["value"] = lit.value
        if lit.placeholders is not None:
            out |= {"fstring": True, "placeholders": lit.placeholders}
        elif item.fill == "str.format" and isinstance(lit.value, str):
            names = [f for _, f, _, _ in string.Formatter().parse(lit.value) if f]
            out["placeholders"] = list(dict.fromkeys(names))
    for key in ("symbol", "fill", "note"):
        if getattr(item, key):
            out[key] = getattr(item, key)
    return out


def extract(src: ProtocolSource, texts: dict[str, str], origin: str = "") -> dict[str, Any]:
    """The protocol.json document for ``src`` from the upstream files' texts (path -> text).

    Every item's value must equal its pin; the first that does not stops the extraction with
    a :class:`ExtractionError` naming the item, its file and lines (``origin``: where the files
    came from, for the message).
    """
    srcs = _Sources(texts)
    items = []
    for item in src.items:
        where = f"{item.file}:{item.lines[0]}-{item.lines[1]}"
        try:
            entry = extract_item(item, srcs)
        except KeyError as exc:
            raise ExtractionError(where, f"protocol item {item.name!r}: upstream file {exc.args[0]!r} not given") from exc
        except (ValueError, SyntaxError) as exc:
            raise ExtractionError(where, f"protocol item {item.name!r}: {exc}{origin}") from exc
        got = value_sha256(entry["value"])
        if got != item.sha256:
            raise ExtractionError(where, f"protocol item {item.name!r}: the extracted value's sha256 is {got[:12]}..., "
                                f"the spec pins {item.sha256[:12]}... (upstream changed, or the selection is "
                                f"wrong){origin}; nothing was written")
        items.append(entry)
    source: dict[str, Any] = {"repo": src.repo, "commit": src.commit}
    if src.via:
        source["fetched_from"] = src.via
    source["files"] = dict(src.files)
    doc: dict[str, Any] = {"format": FORMAT, "conventions": CONVENTIONS, "source": source, "items": items}
    if src.notes:
        doc["notes"] = list(src.notes)
    return doc
