"""Benchmark specs: a small YAML file per benchmark, validated here.

A spec says where a benchmark's files are, how their fields map onto a
:class:`~safevlm.data.sample.Sample`, and how labels map onto expected behaviour.
Layouts YAML cannot express name a Python ``hook`` (``module:function`` or
``path/to/file.py:function``) that yields raw records (dicts) or ready samples.

Minimal example (XSTest without its pairing)::

    name: xstest
    root: XSTest
    variants:
      default:
        file: xstest_prompts.csv
        id: "{id}"
        text: "{prompt}"
        expected: {from: "{label}", map: {safe: comply, unsafe: refuse}}

Templates are Python format strings over the record's fields; nested fields are
reached with ``{metadata[over]}``. Every field, its type, default and an example:
docs/benchmark-spec.md, generated from the models below by ``safevlm bench schema``
(:mod:`safevlm.bench.specdoc`), so the reference cannot drift from the schema.

Reading is bounded: a spec file larger than :data:`MAX_SPEC_BYTES`, or whose YAML
aliases expand to more than :data:`MAX_SPEC_VALUES` values, is refused before
validation (a few hundred bytes of nested aliases can otherwise expand to gigabytes).
Validation errors give one line per mistake and suggest the closest allowed key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import Discriminator, Field, Tag, ValidationError, model_validator

from safevlm.bench.categories import RISK_CATEGORIES
from safevlm.bench.official import OfficialSpec, TaskPrompt
from safevlm.bench.sources import Sources
from safevlm.bench.strict import Strict as _Strict
from safevlm.bench.strict import did_you_mean as _did_you_mean
from safevlm.data.sample import Expected
from safevlm.errors import ConfigError

MAX_SPEC_BYTES = 1 << 20
MAX_SPEC_VALUES = 50_000
MissingImagePolicy = Literal["skip", "text_only", "error"]


class SpecError(ConfigError):
    """A spec file that cannot be used; ``name`` is the benchmark it declares, when readable."""

    def __init__(self, message: str, name: str | None = None):
        super().__init__(message)
        self.name = name


# One-of-two types dispatch on the input's shape, so a wrong value gives one message, not one per branch.
# The tags are written in parentheses so error locations can drop them (see _format_errors).
def _one_or_list(item: Any) -> Any:
    return Annotated[Union[Annotated[item, Tag("(one)")], Annotated[list[item], Tag("(list)")]],  # noqa: UP007
                     Discriminator(lambda v: "(list)" if isinstance(v, list) else "(one)")]


class LabelMap(_Strict):
    """Map a templated value onto a label: ``{from: "{label}", map: {...}, default: ...}``."""

    source: str = Field(alias="from", description="Template whose rendered value is looked up in `map`.",
                        examples=["{label}"])
    map: dict[str, str] = Field(default_factory=dict, description="Rendered value -> label.",
                                examples=[{"safe": "comply", "unsafe": "refuse"}])
    default: str | None = Field(None, description="Label for values not in `map`; without it an unknown value "
                                "is an error naming the record.", examples=["other"])


def _label_or_map(label: Any) -> Any:
    return Annotated[Union[Annotated[label, Tag("(label)")], Annotated[LabelMap, Tag("(map)")]],  # noqa: UP007
                     Discriminator(lambda v: "(map)" if isinstance(v, (dict, LabelMap)) else "(label)")]


class HistoryTurn(_Strict):
    """One earlier turn written in the spec: a role and a text template."""

    role: Literal["user", "assistant"] = Field(description="Who spoke.", examples=["user"])
    text: str = Field(description="Template of the turn's text.", examples=["{first_question}"])


class SideSpec(_Strict):
    """One item made from a record that holds several (``items:``): a side of a pair.

    Fields left unset take the variant's value; the item's id is ``{record id}/{name}``
    unless ``id`` is set, and every side of a record shares its ``group``.
    """

    name: str = Field(description="The side's name: appended to the record id, shown in reports.",
                      examples=["unsafe"])
    id: str | None = Field(None, description="Id template for this side (default: the record's id + `/NAME`).",
                           examples=["{pair_id}-u"])
    text: str | None = Field(None, description="Text template for this side.", examples=["{unsafe_prompt}"])
    image: _one_or_list(str) | None = Field(None, description="Image path template(s) for this side.",
                                            examples=["unsafe/{img}"])
    expected: _label_or_map(Expected) | None = Field(None, description="Expected behaviour of this side.",
                                                     examples=["refuse"])
    category: str | None = Field(None, description="Category template for this side.", examples=["{topic}"])
    risk_category: _label_or_map(str) | None = Field(None, description="Risk category of this side.",
                                                     examples=["benign"])
    reference: str | None = Field(None, description="Reference answer template for this side.")
    answer: str | None = Field(None, description="Gold answer template for this side.")
    metadata: list[str] | None = Field(None, description="Record fields kept in this side's metadata "
                                       "(replaces the variant's list).")


#: VariantSpec fields a side may set (the rest belong to the record or the variant)
SIDE_FIELDS = tuple(n for n in SideSpec.model_fields if n != "name")


class VariantSpec(_Strict):
    """One variant or split of a benchmark."""

    description: str = Field("", description="One line shown by `safevlm bench list`.",
                             examples=["harmful items only"])
    extends: str | None = Field(None, description="Another variant of this spec to start from: the fields set "
                                "here replace its fields; `options` are merged key by key. Chains are allowed, "
                                "cycles are an error.", examples=["test"])
    file: _one_or_list(str) | None = Field(None, description="Data file(s) relative to the benchmark root, read "
                                           "one after the other. Needed unless a `hook` reads the files.",
                                           examples=["items.jsonl", ["part1.json", "part2.json"]])
    format: Literal["csv", "json", "jsonl"] | None = Field(
        None, description="File format (default: the file's extension). JSON may be a list of records (each gets "
        "`_key`: its 0-based position) or an object keyed by id (each gets `_key`: its key). CSV needs a header "
        "row.", examples=["jsonl"])
    hook: str | None = Field(None, description="Python that yields records or samples, for layouts YAML cannot "
                             "express: `module:function` or `file.py:function` (relative to the spec). Hooks "
                             "outside safevlm run only when trusted (`--trust-hooks`, `trust_hooks: true`).",
                             examples=["my_hooks.py:read"])
    options: dict[str, Any] = Field(default_factory=dict, description="Free settings for the hook "
                                    "(`ctx.variant.options`).", examples=[{"subsets": ["unsafes"]}])
    where: dict[str, Any] = Field(default_factory=dict, description="Keep only records whose fields equal these "
                                  "values (as read from the file, before templating).",
                                  examples=[{"label": "harmful"}])
    id: str = Field("{id}", description="Id template; ids must be unique within the variant.",
                    examples=["{uid}", "{_key}"])
    text: str | None = Field(None, description="Template of the user turn's text.", examples=["{question}"])
    image: _one_or_list(str) | None = Field(None, description="Image path template(s), relative to `image_root`; "
                                            "a list gives several images in order. `null` removes the image of an "
                                            "extended variant.", examples=["images/{img}"])
    image_root: str | None = Field(None, description="Folder that image paths are relative to, itself relative to "
                                   "the benchmark root (default: the root). The config file's "
                                   "`benchmarks.NAME.image_root` or `image_root=` override it.",
                                   examples=["data/images"])
    images_outside_root: bool = Field(False, description="Allow image paths that resolve outside `image_root` "
                                      "(`../`, absolute paths in the data). Off: such a path is an error naming "
                                      "the record.", examples=[True])
    on_missing_image: MissingImagePolicy | None = Field(
        None, description="What to do with items whose images are not on disk: `skip` (counted and reported), "
        "`text_only` (kept without their images) or `error`. Default: the caller's choice, else `skip`; "
        "`--on-missing-image` overrides it.", examples=["text_only"])
    expected: _label_or_map(Expected) | None = Field(
        None, description="Expected behaviour: `refuse`, `comply` or `safe_complete`, or a label map from a "
        "record field.", examples=["refuse", {"from": "{label}", "map": {"ok": "comply", "harmful": "refuse"}}])
    category: str | None = Field(None, description="Template of the benchmark's own label (kept verbatim).",
                                 examples=["{topic}"])
    risk_category: _label_or_map(str) | None = Field(
        None, description="Normalised risk category (one of safevlm.bench.categories), as a template or a "
        "label map.", examples=[{"from": "{topic}", "map": {"weapons": "violence"}, "default": "other"}])
    reference: str | None = Field(None, description="Template of a reference answer.", examples=["{answer}"])
    history: str | list[HistoryTurn] | None = Field(
        None, description="Earlier turns of the conversation, before `text`: the name of a record field holding a "
        "list of turns (each `{role, text}`), or a list of turn templates. Turns alternate user / assistant, "
        "starting with the user and ending with the assistant.",
        examples=["turns", [{"role": "user", "text": "{first_question}"}, {"role": "assistant", "text": "{first_answer}"}]])
    choices: str | None = Field(None, description="Name of a record field holding a mapping letter -> option "
                                "text (multiple choice).", examples=["options"])
    answer: str | None = Field(None, description="Template of the correct choice letter or gold short answer.",
                               examples=["{correct_option}"])
    metadata: list[str] = Field(default_factory=list, description="Record fields copied into the sample's "
                                "metadata (a leading `_` is dropped from the key).", examples=[["topic", "source"]])
    group: str | None = Field(None, description="Template of the item's group: items of one group (an unsafe "
                              "request and its safe twin) are scored together by the paired metric. Default: the "
                              "record's id when `items` is set, else no group. An empty value means no group.",
                              examples=["{pair_id}"])
    items: list[SideSpec] | None = Field(None, description="Make several items from each record (the sides of a "
                                         "pair), sharing the record's `group`; see the side fields below.",
                                         examples=[[{"name": "unsafe", "text": "{unsafe}", "expected": "refuse"},
                                                    {"name": "safe", "text": "{safe}", "expected": "comply"}]])
    repeat: int = Field(1, ge=1, le=16, description="Ask every item this many times (ids `ID#1`..`ID#N`, "
                        "`metadata.repeat_of`): protocols that score several sampled responses per item "
                        "(SIUO: the majority of 3).", examples=[3])
    task_prompt: TaskPrompt | None = Field(None, description="Build the text sent to the model from a task "
                                           "prompt of the benchmark's protocol file, as its authors sent it "
                                           "(`null` in an extending variant: the plain text).",
                                           examples=[{"builder": "prefix", "items": {"prompt": "prompt_chat_if"}}])
    official: OfficialSpec | None = Field(None, description="This variant's official protocol (default: the "
                                          "benchmark's); see [Official protocol](#official-protocol-official).")

    @model_validator(mode="after")
    def _labels_known(self) -> VariantSpec:
        """Labels written in the spec are checked now, not at the first record that uses them."""
        problems: list[str] = []
        for where, spec in [("", self)] + [(f"items[{i}].", s) for i, s in enumerate(self.items or [])]:
            problems += _check_labels(spec.expected, [e.value for e in Expected], f"{where}expected")
            problems += _check_labels(spec.risk_category, list(RISK_CATEGORIES), f"{where}risk_category")
        names = [s.name for s in self.items or []]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            problems.append(f"items: side name(s) {', '.join(map(repr, dup))} used twice")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def side(self, side: SideSpec) -> VariantSpec:
        """This variant with one side's fields laid over it (no ``items``: one item per record)."""
        update = {k: getattr(side, k) for k in SIDE_FIELDS if k in side.model_fields_set and k != "id"}
        return self.model_copy(update={**update, "items": None})


def _check_labels(value: Any, allowed: list[str], what: str) -> list[str]:
    """Problems with the labels a spec writes out (templated labels are checked per record)."""
    if isinstance(value, LabelMap):
        pairs = [(f"{what}.map[{k!r}]", v) for k, v in value.map.items()]
        pairs += [(f"{what}.default", value.default)] if value.default is not None else []
    elif isinstance(value, str) and "{" not in value:
        pairs = [(what, value)]
    else:
        return []
    return [f"{loc}: {label!r} is not one of {', '.join(allowed)}{_did_you_mean(label, allowed)}"
            for loc, label in pairs if label not in allowed]


class BenchmarkSpec(_Strict):
    """A benchmark and its variants, as declared in YAML."""

    name: str = Field(description="The benchmark's name (`NAME` in `NAME:VARIANT`), lower case.",
                      examples=["house-rules"])
    title: str = Field("", description="Human-readable title.", examples=["In-house probes"])
    description: str = Field("", description="What the benchmark measures.")
    license: str = Field("unknown", description="The data's licence, shown by `bench list`.",
                         examples=["CC BY 4.0"])
    homepage: str = Field("", description="Where the data comes from.")
    paper: str = Field("", description="The paper to cite.")
    root: str = Field(".", description="The benchmark's folder: absolute, or relative to the data root "
                      "(`SAFEVLM_DATA_ROOT`, the config file's `data_root`, `--data-root`).",
                      examples=["XSTest", "/data/house-rules"])
    modality: Literal["text", "image"] = Field("image", description="Whether items carry images "
                                               "(`bench list` shows text-only benchmarks as such).",
                                               examples=["text"])
    default_variant: str | None = Field(None, description="The variant a bare `NAME` means (default: the "
                                        "first one listed).", examples=["test"])
    variants: dict[str, VariantSpec] = Field(description="Variant name -> variant (below).")
    official: OfficialSpec | None = Field(None, description="How the benchmark's authors score it, read from "
                                          "its protocol file; see [Official protocol](#official-protocol-official).")
    sources: Sources | None = Field(None, description="Where the data comes from, pinned: `safevlm bench fetch` / "
                                    "`verify` (see Sources below and docs/data.md).")
    spec_path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _resolve_extends(self) -> BenchmarkSpec:
        resolved: dict[str, VariantSpec] = {}

        def resolve(name: str, chain: tuple[str, ...] = ()) -> VariantSpec:
            if name in resolved:
                return resolved[name]
            if name in chain:
                raise ValueError(f"variant {name!r}: 'extends' cycle {' -> '.join(chain + (name,))}")
            if name not in self.variants:
                raise ValueError(f"variant {chain[-1]!r} extends unknown variant {name!r}"
                                 f"{_did_you_mean(name, list(self.variants))}")
            v = self.variants[name]
            if v.extends:
                base = resolve(v.extends, chain + (name,))
                # field values, not dumps: a side keeps which fields it set (the others come from the variant)
                merged = {k: getattr(base, k) for k in VariantSpec.model_fields}
                merged |= {k: getattr(v, k) for k in v.model_fields_set}
                merged["options"] = {**base.options, **v.options}
                merged["extends"] = None
                v = VariantSpec.model_validate(merged)
            resolved[name] = v
            return v

        for name in self.variants:
            resolve(name)
        self.variants = resolved
        if self.default_variant is None:
            self.default_variant = next(iter(self.variants), None)
        elif self.default_variant not in self.variants:
            raise ValueError(f"default_variant {self.default_variant!r} is not among the variants "
                             f"({', '.join(self.variants)})")
        for name, v in self.variants.items():
            if v.hook is not None:
                continue
            sides = v.items or [SideSpec(name="")]
            missing = [f for f in ("text", "expected") if any(getattr(v.side(s), f) is None for s in sides)]
            missing = (["file"] if v.file is None else []) + missing
            if missing:
                raise ValueError(f"variant {name!r}: needs {', '.join(map(repr, missing))} (or a 'hook')")
        if self.sources and (problems := self.sources.check_variants(self.variants)):
            raise ValueError("; ".join(problems))
        pinned = {it.name for it in self.sources.protocol.items} if self.sources and self.sources.protocol else set()
        unpinned = [n for v in self.variants for n in self.protocol_items(v) if n not in pinned]
        if unpinned:
            raise ValueError(f"protocol item(s) {', '.join(dict.fromkeys(unpinned))} read by the official block or a "
                             "task_prompt have no pin: list each under sources.protocol.items with the sha256 of its "
                             "value (safevlm.bench.protocol.value_sha256)")
        return self

    def protocol_items(self, variant: str) -> list[str]:
        """The protocol items ``variant`` reads by name: its official block's and its task prompt's."""
        official, task = self.official_for(variant), self.variants[variant].task_prompt
        names = (official.item_names() if official else []) + (list(task.items.values()) if task else [])
        return list(dict.fromkeys(names))

    def official_for(self, variant: str) -> OfficialSpec | None:
        """The official protocol of ``variant``: its own block, else the benchmark's."""
        v = self.variants[variant]
        return v.official if v.official is not None else self.official

    @property
    def base_dir(self) -> Path:
        """Folder of the YAML file (hooks given as relative ``.py`` paths resolve here)."""
        return self.spec_path.parent if self.spec_path else Path.cwd()

    @property
    def builtin(self) -> bool:
        """Shipped with safevlm (``safevlm/bench/specs``)."""
        return self.spec_path is not None and self.spec_path.parent == Path(__file__).resolve().parent / "specs"


def _expanded_size(data: Any, limit: int) -> int:
    """How many values ``data`` holds with every YAML alias expanded, counted without expanding.

    Shared sub-trees (aliases) are counted once per use from a memo, so an alias bomb is
    measured in linear time; the count stops as soon as it passes ``limit``.
    """
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            raise ValueError("a YAML alias refers to itself")
        active.add(key)
        total = 1
        for child in (x for kv in node.items() for x in kv) if isinstance(node, dict) else node:
            total += size(child)
            if total > limit:
                raise OverflowError
        active.discard(key)
        memo[key] = total
        return total

    return size(data)


def _format_errors(exc: ValidationError) -> str:
    """One line per mistake: ``variants.test.expected: ...``, union branches and noise removed."""
    lines: list[str] = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e["loc"] if not str(x).startswith("(")) or "<spec>"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] in ("enum", "literal_error") and isinstance(e.get("input"), str):
            options = re.findall(r"'([^']*)'", msg)
            msg = f"{e['input']!r}: {msg}{_did_you_mean(e['input'], options)}"
        line = f"{loc}: {msg}"
        if line not in lines:
            lines.append(line)
    return "\n  ".join(lines)


def load_spec(path: str | Path) -> BenchmarkSpec:
    """Read and validate one spec file; errors (:class:`SpecError`) name the file and each mistake."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(f"{p}: spec file is {size} bytes; the limit is {MAX_SPEC_BYTES}")
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SpecError(f"{p}: benchmark spec not found") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SpecError(f"{p}: invalid YAML: {exc}") from exc
    except RecursionError as exc:
        raise SpecError(f"{p}: YAML nested too deeply") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{p}: expected a mapping with 'name' and 'variants'")
    name = data.get("name") if isinstance(data.get("name"), str) else None
    try:
        _expanded_size(data, MAX_SPEC_VALUES)
    except OverflowError:
        raise SpecError(f"{p}: the spec expands to more than {MAX_SPEC_VALUES} values (YAML aliases "
                        "repeated inside each other?); refused", name) from None
    except (ValueError, RecursionError) as exc:
        raise SpecError(f"{p}: {exc if isinstance(exc, ValueError) else 'YAML nested too deeply'}", name) from None
    try:
        spec = BenchmarkSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{p}: invalid benchmark spec:\n  {_format_errors(exc)}", name) from exc
    spec.spec_path = p.resolve()
    return spec
