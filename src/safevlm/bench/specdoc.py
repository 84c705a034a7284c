"""The benchmark spec reference (docs/benchmark-spec.md), generated from the pydantic schema.

Every field's type, default, description and example come from the models in
:mod:`safevlm.bench.spec`; the prose around them (how templates, records, images,
hooks, groups and limits work) is written here, next to the code it describes.
``safevlm bench schema --out docs/benchmark-spec.md`` writes the file and
tests/test_bench_spec_doc.py fails when it is stale, so the reference cannot drift.
"""

from __future__ import annotations

import enum
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from safevlm.bench.categories import RISK_CATEGORIES
from safevlm.bench.official import OfficialJudge, OfficialMetric, OfficialSpec, TaskPrompt
from safevlm.bench.sources import (
    GitRepo,
    HubRepo,
    ImageSource,
    ProtocolItem,
    ProtocolSource,
    SourceFile,
    Sources,
)
from safevlm.bench.spec import MAX_SPEC_BYTES, MAX_SPEC_VALUES, BenchmarkSpec, LabelMap, SideSpec, VariantSpec

MODEL_NAMES = {BenchmarkSpec: "benchmark", VariantSpec: "variant", SideSpec: "side", LabelMap: "label map",
               OfficialSpec: "official block", OfficialJudge: "official judge", OfficialMetric: "official metric",
               TaskPrompt: "task prompt",
               Sources: "sources", GitRepo: "Git repository", HubRepo: "Hub dataset", SourceFile: "file pin",
               ImageSource: "image folder", ProtocolSource: "protocol", ProtocolItem: "protocol item"}
OFFICIAL_TABLES = {"official": OfficialSpec, "official_judge": OfficialJudge, "official_metric": OfficialMetric,
                   "task_prompt": TaskPrompt}
SOURCES_TABLES = {"sources": Sources, "git_repo": GitRepo, "hub_repo": HubRepo, "source_file": SourceFile,
                  "image_source": ImageSource, "protocol_source": ProtocolSource, "protocol_item": ProtocolItem}
COMMAND = "safevlm bench schema --out docs/benchmark-spec.md"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file (for editors and validators)."""
    return BenchmarkSpec.model_json_schema(by_alias=True, mode="validation")


def type_name(annotation: Any) -> str:
    """A field's type in words: ``string or list of strings``, ``label map``..."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args if a is not type(None))
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is list:
        inner = type_name(args[0])
        return f"list of {inner}s" if " " not in inner else f"list of ({inner})"
    if origin is dict:
        return "mapping" if args[1] is Any else f"mapping of name to {type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " \\| ".join(f"`{e.value}`" for e in annotation)
    if annotation in MODEL_NAMES:
        return MODEL_NAMES[annotation]
    return {str: "string", bool: "boolean", int: "integer", float: "number", Path: "path", Any: "any"}.get(
        annotation, getattr(annotation, "__name__", str(annotation)))


def _inline(value: Any) -> str:
    """A value as one line of YAML flow style."""
    if isinstance(value, enum.Enum):
        value = value.value
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
    return text.strip().removesuffix("...").strip()


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def field_rows(model: type[BaseModel]) -> list[str]:
    """A Markdown table: key, type, default, description, example(s)."""
    rows = ["| key | type | default | description | example |", "|---|---|---|---|---|"]
    for name, f in model.model_fields.items():
        if f.exclude:
            continue
        key = f.alias or name
        if f.is_required():
            default = "required"
        else:
            value = f.default_factory() if f.default_factory is not None else f.default  # type: ignore[call-arg]
            default = "none" if value is None or value is PydanticUndefined else f"`{_inline(value)}`"
        examples = "<br>".join(f"`{_cell(key + ': ' + _inline(x))}`" for x in f.examples or [])
        rows.append(f"| `{key}` | {type_name(f.annotation)} | {default} | {_cell(f.description or '')} | {examples} |")
    return rows


EXAMPLE = """\
name: house-rules                 # NAME in NAME:VARIANT
title: In-house probes
license: internal
root: house-rules                 # relative to the data root, or absolute
modality: image
default_variant: test
variants:
  test:
    file: pairs.jsonl             # one record holds an unsafe request and its safe twin
    id: "{pair_id}"
    image: "images/{img}"         # shared by both sides (relative to image_root, default: root)
    category: "{topic}"
    risk_category: {from: "{topic}", map: {weapons: violence, drugs: illegal_activity}, default: other}
    metadata: [topic, source]
    items:                        # one record -> two items: ids pair-7/unsafe and pair-7/safe, group pair-7
      - {name: unsafe, text: "{unsafe_prompt}", expected: refuse}
      - {name: safe, text: "{safe_prompt}", expected: comply, risk_category: benign}
  weapons-only: {extends: test, where: {topic: weapons}}
  text-only: {extends: test, image: null, description: the same pairs without images}
"""

INTRO = f"""\
# Benchmark spec reference

<!-- Generated by `{COMMAND}` from the pydantic models in
src/safevlm/bench/spec.py (prose: src/safevlm/bench/specdoc.py). Do not edit by hand:
tests/test_bench_spec_doc.py fails when this file differs from the command's output. -->

A benchmark is one YAML file: where its files are, how each record becomes a sample
(text, images, expected behaviour, categories), and its variants. No Python is needed
unless the layout is one YAML cannot express (then a `hook`). The JSON Schema of the
same models: `safevlm bench schema --json`.

## Where specs are found

1. the built-in specs (`src/safevlm/bench/specs/*.yaml`);
2. every folder (its `*.yaml` / `*.yml`) or file on `SAFEVLM_BENCH_PATH` (`:`-separated), then in the
   config file's `bench_paths`, then each `--spec FILE_OR_FOLDER`.

A later spec with the same `name` replaces an earlier one, with a warning naming both files
(`benchmark 'xstest': /home/me/specs/xstest.yaml replaces the built-in spec .../xstest.yaml`).
A spec that does not load is reported (`safevlm bench list` shows it with its error) and
skipped: every other benchmark still lists, loads and runs.

## Example

```yaml
{EXAMPLE}```

## Naming benchmarks on the command line

| form | means |
|---|---|
| `NAME` | the variant named by `default_variant` (else the first variant listed) |
| `NAME:VARIANT` | that variant |
| `NAME:*` | every variant of the benchmark, in spec order (`--bench 'house-rules:*'`; quote the `*` in a shell) |

Several refs are comma-separated or repeated (`--bench xstest,figstep:safebench`).

## Templates and records

Text fields (`id`, `text`, `image`, `category`, `reference`, `answer`, `group`, label-map `from`)
are Python format strings over the record's fields: `"{{question}}"`, `"{{category_id}}_{{task_id}}"`,
nested values as `"{{metadata[over]}}"`; literal braces are doubled (`{{{{`). A missing field is an
error naming the data file, the line or item, the benchmark variant and the spec file.

What a record is, per `format` (default: the file extension):

| format | record | extra fields |
|---|---|---|
| `csv` | one row, keyed by the header row | none |
| `jsonl` | one JSON object per line | none |
| `json`, a list | one object per element | `_key`: its 0-based position, as a string |
| `json`, an object keyed by id | one object per value | `_key`: its key |

So `id: "{{_key}}"` works for both JSON shapes. Fields starting with `_` are added by safevlm
or by hooks; `metadata: [_key]` keeps one under the name `key`.

## Benchmark fields

{{benchmark}}

## Variant fields

{{variant}}

## Sides: one record, several items (`items:`)

Each entry of a variant's `items` makes one item from every record. A side's fields replace
the variant's; the rest (file, `where`, shared image, categories...) come from the variant.
Item ids are `{{record id}}/{{side name}}` unless the side sets `id`; every side of a record shares
the record's `group` (default: the record's id), and the side's name is kept as
`metadata.side`.

{{side}}

## Label maps

`expected` and `risk_category` may map a record's value onto a label instead of a fixed one.
Labels written in the spec are checked when the spec loads (a typo is an error naming the
closest allowed label); the normalised risk categories are {", ".join(f"`{c}`" for c in RISK_CATEGORIES)}.

{{label_map}}

## Images

Image paths are relative to the variant's `image_root` (itself relative to the benchmark
root), overridden by the config file (`benchmarks: {{NAME: {{image_root: /path}}}}`) or
`image_root=`. A path from the data that leaves the image root (`../../etc/passwd`, an absolute
path) is refused unless the variant sets `images_outside_root: true`.

Items whose images are not on disk follow `on_missing_image`: the command line
(`--on-missing-image`, for every benchmark or per benchmark as `NAME=POLICY`; `--text-only`)
wins, then the variant's `on_missing_image`, then `skip`. Skipped items are counted and
reported (`bench list`, the eval summary, `results.json` under `selection`); in an evaluation,
a named benchmark that ends with no item is an error (exit 2) naming
`--on-missing-image NAME=text_only`, and a variant of `NAME:*` (or one given `NAME=skip`) is
left out with a warning while the others run.

## Hooks and trust

`hook: module:function` or `hook: file.py:function` (relative to the spec file) names a
function that takes the load context (`ctx.path(rel)`, `ctx.variant`, `ctx.variant.options`,
`ctx.image_root`) and yields `(Where, record)` pairs, which the variant's templates then map,
or ready `Sample`s (which may set `group`). Built-in hooks (`safevlm.*`) always run. A hook
from anywhere else is Python from a user path: it runs only when hooks are trusted
(`--trust-hooks` on `bench` and `eval`, `trust_hooks=True` from Python, `trust_hooks: true`
in the config file, or `SAFEVLM_TRUST_HOOKS=1`), as Hugging Face's `trust_remote_code`.
Listing benchmarks never imports an untrusted hook: its variants are listed uncounted.

Built-in generic hooks a user spec may name: `safevlm.bench.hooks:pair_by_position`
(`options: {{field, pairs}}`: the k-th record of a class and the k-th of its twin class form
a group, as XSTest's safe prompts and their contrast twins) and
`safevlm.bench.hooks:sides_from_files` (`options: {{sides: {{SIDE: {{file, fields}}}}, match}}`:
several files as the sides of one variant, as MOSSBench's benign and contrast sets).

## Groups and the paired metric

Items that share a `group` are scored together: `paired_accuracy` ("both right") is the
share of groups in which every member got its expected behaviour (refuse the unsafe one
and answer the safe one), with a Wilson interval over groups, per benchmark, per risk
category and per benchmark label (a group is counted under its first member's category)
in `results.json`, `results.md` and `report.html`. Groups with a generation or judge
error, or with a single member left (e.g. its twin's image was missing), are not scored.
`--limit` keeps groups whole.

## Official protocol (`official:`)

How the benchmark's authors score it, beside safevlm's uniform view: which items of the
benchmark's protocol file (`eval/protocol.json` under its root: the authors' judge prompts,
phrase lists, verdict regexes and settings, extracted as data) feed which judge, the verdict
parser (`kind`, one of safevlm's) and the aggregation. No prompt text is written in a spec:
only item names. Each item the block (or a variant's `task_prompt`) names must be pinned under
[`sources.protocol.items`](#protocol) by the sha256 of its value, the one place a value is
pinned: the file is checked by its values, not its bytes, so the reference copy and the file
`bench fetch` writes are the same protocol. A missing file, or a missing, changed or unpinned
item, is an error naming the file, the item and where it comes from (the homepage and `safevlm
bench fetch NAME`), raised before anything is generated. Set on the benchmark (every variant)
or on a variant (replacing it). Each metric appears in `results.json` under the benchmark's
`official` block; an LLM-judge metric is computed only with `--judge-model`
(docs/benchmark-protocols.md).

```yaml
official:
  offline_judge: strmatch          # what --judge protocol:NAME applies
  judges:
    strmatch: {{kind: prefix_match, items: {{prefixes: [ITEM_A, ITEM_B], labels: ITEM_C}}}}
  metrics:
    refusal_safe: {{judge: strmatch, share_of: [2_full_refusal], where: {{expected: comply}}, by: category}}
```

{{official}}

Judges:

{{official_judge}}

Metrics:

{{official_metric}}

A variant's `task_prompt` builds the text sent to the model from a task prompt of the same
file (MSSBench's context prompt, FigStep's attack prompt, SIUO's multiple-choice prompt):

{{task_prompt}}

## Sources (`sources:`)

Where the data comes from, pinned, for `safevlm bench fetch NAME[:VARIANT]` (download into the
data root, resumable, each file checked against its sha256 before it replaces anything) and
`safevlm bench verify [NAME]` (files, item counts, the scoring protocol; one line per benchmark,
exit 1 naming the file that differs). The built-in specs' sources are tabulated in
[data.md](data.md). A value that could not be established (a Hub revision, the hash of a set of
images never seen whole) is `null`, never guessed.

```yaml
sources:
  git: {{repo: paul-rottger/exaggerated-safety, commit: d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d}}
  size: 38.7 KB text; no images
  files:
    xstest_prompts.csv: {{sha256: 11783fb2..., bytes: 38719}}
  items: {{default: 450}}
  protocol:                        # the authors' scoring literals -> eval/protocol.json
    repo: paul-rottger/exaggerated-safety
    commit: d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d
    files: {{evaluation/classify_completions_gpt.py: 81dc9d69...}}
    items:
      - {{name: gpt_judge_system_prompt, kind: judge_prompt, file: evaluation/classify_completions_gpt.py,
         lines: [26, 26], key: content, sha256: 776e8418...}}
```

{{sources}}

### `git` and `hub`

{{git_repo}}

{{hub_repo}}

### `files` entries

{{source_file}}

### `images` entries

{{image_source}}

### `protocol`

The authors' scoring files are downloaded at the pinned commit, checked against their sha256,
parsed with Python's `ast` (never run, not kept), and the literals each item selects by file
and line become `eval/protocol.json` (`safevlm.bench.protocol_extract`). Each value must equal
its own `sha256` pin (`safevlm.bench.protocol.value_sha256`: sha256 of the value as canonical
JSON), so a moved line or an edited upstream file stops the fetch naming the item. The same
pins are checked when the official scorers read the file, whoever wrote it; only an item's
value is read from it (how a template is filled is the pin's `fill`).

{{protocol_source}}

{{protocol_item}}

## Limits

A spec file larger than {MAX_SPEC_BYTES} bytes, or whose YAML aliases expand to more than
{MAX_SPEC_VALUES} values, is refused before it is validated.
"""


def render_reference() -> str:
    """The whole docs/benchmark-spec.md."""
    tables = {"benchmark": BenchmarkSpec, "variant": VariantSpec, "side": SideSpec, "label_map": LabelMap,
              **OFFICIAL_TABLES, **SOURCES_TABLES}
    text = INTRO
    for key, model in tables.items():
        text = text.replace(f"{{{key}}}", "\n".join(field_rows(model)))
    return text
