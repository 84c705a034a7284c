"""Where a benchmark's data comes from: the ``sources:`` block of a spec.

A spec's ``sources`` pins everything ``safevlm bench fetch`` downloads and ``safevlm
bench verify`` checks: the Git repository and commit (or Hub dataset and revision)
each file comes from, the sha256 and size of every file safevlm reads, the image sets
(from a Git archive, a Hub archive, or by hand where the authors host them elsewhere),
the expected item count of every variant, and the selection of the authors' scoring
literals that becomes ``eval/protocol.json`` (:mod:`safevlm.bench.protocol_extract`),
each value pinned here once: the official scorers read the file with
:mod:`safevlm.bench.protocol`, which checks the same pins.

Pins are data, checked at run time: a file whose sha256 differs is never put in place,
and a value the spec could not establish (a Hub revision, the hash of a set of images
that was never seen whole) is ``null`` with a note, never invented. The rendered table
of all sources is docs/data.md (:func:`render_data_doc`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from safevlm.bench.protocol import ITEM_KINDS
from safevlm.bench.strict import Strict as _Strict
from safevlm.bench.strict import did_you_mean

SHA256 = r"^[0-9a-f]{64}$"
COMMIT = r"^[0-9a-f]{40}$"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
PROTOCOL_FILE = "eval/protocol.json"


class GitRepo(_Strict):
    """A Git repository at a pinned commit (fetched as raw files or an archive)."""

    repo: str = Field(description="`owner/name` on the Git host (GitHub; `SAFEVLM_GIT_ENDPOINT` overrides the "
                      "host).", examples=["paul-rottger/exaggerated-safety"])
    commit: str = Field(pattern=COMMIT, description="The pinned commit, 40 hex digits.")
    note: str = Field("", description="Anything a reader must know about this copy (a fork, a third party).")


class HubRepo(_Strict):
    """A Hugging Face Hub dataset repository."""

    repo: str = Field(description="The dataset id.", examples=["ys-zong/VLGuard"])
    revision: str | None = Field(None, pattern=COMMIT, description="A commit of the dataset repo (40 hex digits). "
                                 "null: not established; `main` is fetched and the commit it resolved to is "
                                 "recorded in the benchmark's `.safevlm-fetch.json`.")
    note: str = Field("", description="Why the revision is what it is.")


class SourceFile(_Strict):
    """One file safevlm reads, pinned by content."""

    sha256: str = Field(pattern=SHA256, description="sha256 of the file's bytes.")
    bytes: int = Field(ge=0, description="Size in bytes.")
    origin: Literal["git", "hub"] = Field("git", alias="from", description="Which repository of the `sources` "
                                          "block holds it.")
    path: str | None = Field(None, description="Its path in that repository, when it differs from the local path.",
                             examples=["LICENSE"])
    variants: list[str] | None = Field(None, description="Only these variants read it (default: every variant).")


class ImageSource(_Strict):
    """A folder of images and where it comes from."""

    dir: str = Field(description="Where the images land, relative to the benchmark root.",
                     examples=["data/images/SafeBench"])
    origin: Literal["git", "hub", "manual"] = Field(alias="from", description="`git`: a folder of the Git "
                                                    "repository (from its archive at the commit); `hub`: an archive "
                                                    "file of the Hub dataset; `manual`: hosted where no client "
                                                    "reaches (see `how`).")
    path: str | None = Field(None, description="`git`: the folder in the repository; `hub`: the archive's file name "
                             "in the dataset (zip or tar).", examples=["data/images/SafeBench", "test.zip"])
    count: int | None = Field(None, ge=0, description="How many image files the folder holds (null: not "
                              "established).")
    tree_sha256: str | None = Field(None, pattern=SHA256, description="sha256 over the sorted lines `relative/path "
                                    "sha256` of the folder's image files (null: the whole set was never seen here).")
    archive_sha256: str | None = Field(None, pattern=SHA256, description="sha256 of the Hub archive, when known.")
    size: str = Field("", description="Download size, in words.", examples=["2.45 GB"])
    how: str = Field("", description="`manual`: where to get the images and where to unpack them.")
    variants: list[str] | None = Field(None, description="Only these variants use them (default: every variant).")


class ProtocolItem(_Strict):
    """One entry of ``eval/protocol.json``: which literal(s) of the authors' file make its value.

    The value is read with :mod:`ast` from the upstream file (never executed): the literal
    spanning ``lines`` (or, for Markdown, the lines themselves: the text inside a code
    fence), or for a ``derived`` item the mapping ``parts`` of such picks. ``sha256``
    pins the value itself, so an extraction that differs from upstream is refused.
    """

    name: str = Field(description="The item's name in protocol.json.")
    kind: str = Field(description="judge_prompt, task_prompt, few_shot, phrase_list, prefix_list, label_map, regex, "
                      "judge_settings, generation_settings (protocol.json's `conventions.kinds`); the official "
                      "scorers take an item's kind from here, not from the file.")
    file: str = Field(description="The upstream file, as in `protocol.files`.")
    lines: list[int] = Field(min_length=2, max_length=2, description="First and last line (1-based, inclusive).")
    cell: int | None = Field(None, ge=0, description="Notebooks: the 0-based code cell the lines count in.")
    index: int | None = Field(None, ge=0, description="When several literals lie in `lines`: which one, in source "
                              "order.")
    all: bool = Field(False, description="Take every literal in `lines`, in order, as one list (several patterns "
                      "tested one after the other).")
    kw: str | None = Field(None, description="Take the value of this keyword argument of a call in `lines`.")
    key: str | int | list[str | int] | None = Field(None, description="Take this key (dict) or position (list) of "
                                                    "the literal found; a list is a path.")
    keys: bool = Field(False, description="Also count literals used as dict keys, assignment targets and "
                       "subscripts (`x['name']`), which are otherwise skipped.")
    parts: dict[str, Any] | None = Field(None, description="A derived value: key -> pick (`{line: N}`, "
                                         "`{lines: [a, b]}`, with optional `file`, `cell`, `index`, `all`, `kw`, `key`, `keys`, or "
                                         "`{ident: N}` for the name assigned on line N), or a nested mapping or "
                                         "list of picks.")
    fill: Literal["str.format", "str.replace", "f-string", "concatenation"] | None = Field(
        None, description="How upstream fills its slots; the official scorers fill a template this way (the "
        "file's copy of it is not read).")
    symbol: str = Field("", description="Where in the file, in words (a variable, a function).")
    note: str = Field("", description="What the item is for, in safevlm's words.")
    sha256: str = Field(pattern=SHA256, description="sha256 of the value as canonical JSON "
                        "(:func:`safevlm.bench.protocol.value_sha256`).")

    @model_validator(mode="after")
    def _known_kind(self) -> ProtocolItem:
        if self.kind not in ITEM_KINDS:
            raise ValueError(f"protocol item {self.name!r}: unknown kind {self.kind!r}"
                             f"{did_you_mean(self.kind, list(ITEM_KINDS))}")
        return self


class ProtocolSource(_Strict):
    """The authors' scoring files and the literals taken from them."""

    repo: str = Field(description="`owner/name` of the repository holding the scoring code.")
    commit: str = Field(pattern=COMMIT, description="The pinned commit.")
    via: str | None = Field(None, description="A fork that keeps the commit when the original is gone.")
    files: dict[str, str] = Field(description="Upstream path -> sha256 of the file at the commit (read, parsed, "
                                  "never executed, not kept).")
    items: list[ProtocolItem] = Field(description="What protocol.json holds, in order.")
    notes: list[str] = Field(default_factory=list, description="Protocol-level notes, in safevlm's words.")

    @model_validator(mode="after")
    def _files_known(self) -> ProtocolSource:
        unknown = sorted({it.file for it in self.items} - set(self.files))
        if unknown:
            raise ValueError(f"protocol items read files not listed in protocol.files: {', '.join(unknown)}")
        return self


class Sources(_Strict):
    """Where every file of the benchmark comes from, pinned (``safevlm bench fetch`` / ``verify``)."""

    git: GitRepo | None = Field(None, description="The Git repository of the data files.")
    hub: HubRepo | None = Field(None, description="The Hub dataset (images, gated sets).")
    gated: str | None = Field(None, description="The page whose terms must be accepted (logged in) before the "
                              "data can be downloaded.", examples=["https://huggingface.co/datasets/ys-zong/VLGuard"])
    size: str = Field("", description="What a full fetch downloads, in words.",
                      examples=["1 MB text + 2.45 GB images"])
    files: dict[str, SourceFile] = Field(default_factory=dict, description="Every file safevlm reads: local path "
                                         "(relative to the benchmark root) -> pin.")
    images: list[ImageSource] = Field(default_factory=list, description="Image folders; a benchmark without them "
                                      "still runs text-only (`--on-missing-image text_only`).")
    protocol: ProtocolSource | None = Field(None, description="The authors' scoring literals, written to "
                                            "eval/protocol.json.")
    items: dict[str, int] = Field(default_factory=dict, description="Variant -> expected item count "
                                  "(`bench verify`).")
    note: str = Field("", description="Caveats about the data's provenance.")

    @model_validator(mode="after")
    def _origins_declared(self) -> Sources:
        for rel, f in self.files.items():
            if getattr(self, f.origin) is None:
                raise ValueError(f"files[{rel!r}] comes from {f.origin!r} but the sources have no {f.origin!r} block")
        for img in self.images:
            if img.origin != "manual" and (getattr(self, img.origin) is None or not img.path):
                raise ValueError(f"images {img.dir!r} from {img.origin!r} need a {img.origin!r} block and a 'path'")
            if img.origin == "manual" and not img.how:
                raise ValueError(f"images {img.dir!r} are fetched by hand: say where from in 'how'")
        return self

    def check_variants(self, variants: Iterable[str]) -> list[str]:
        """Problems with variant names used here (a typo would silently skip a file)."""
        known = set(variants)
        used = [("items", v) for v in self.items] + [(f"files[{k!r}].variants", v) for k, f in self.files.items()
                                                      for v in f.variants or []]
        used += [(f"images[{i.dir!r}].variants", v) for i in self.images for v in i.variants or []]
        return [f"sources.{where}: unknown variant {v!r}" for where, v in used if v not in known]

    def files_for(self, variants: Iterable[str] | None = None) -> dict[str, SourceFile]:
        """The files the given variants read (all files when None)."""
        want = None if variants is None else set(variants)
        return {k: f for k, f in self.files.items() if want is None or f.variants is None or want & set(f.variants)}

    def images_for(self, variants: Iterable[str] | None = None) -> list[ImageSource]:
        want = None if variants is None else set(variants)
        return [i for i in self.images if want is None or i.variants is None or want & set(i.variants)]

    def origin_url(self) -> str:
        """The upstream page of the data (the Git repository, else the Hub dataset)."""
        if self.git:
            return f"https://github.com/{self.git.repo}/tree/{self.git.commit}"
        return f"https://huggingface.co/datasets/{self.hub.repo}" if self.hub else ""


def fetch_command(name: str) -> str:
    return f"safevlm bench fetch {name}"


def where_from(spec: Any) -> str:
    """One clause for data errors: where the benchmark's data comes from and how to get it."""
    src: Sources | None = getattr(spec, "sources", None)
    url = (src.origin_url() if src else "") or spec.homepage
    if src is None:
        return f"data from {url}" if url else "no source recorded in the spec"
    return f"data from {url}; get it with `{fetch_command(spec.name)}`"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted by relative path."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                  key=lambda p: p.relative_to(folder).as_posix())


def tree_sha256(folder: Path) -> str:
    """sha256 of the lines ``relative/path sha256`` of the folder's image files, sorted (one pin for a set)."""
    lines = "".join(f"{p.relative_to(folder).as_posix()} {file_sha256(p)}\n" for p in image_files(folder))
    return hashlib.sha256(lines.encode()).hexdigest()


def images_line(spec: Any) -> str:
    """What a benchmark's images are, in a few words (docs/data.md, ``bench list``)."""
    src: Sources | None = spec.sources
    if spec.modality == "text":
        return "none (text only)"
    if src is None or not src.images:
        return "not recorded"
    kinds = {"git": "fetched (Git)", "hub": "fetched (Hub)", "manual": "by hand"}
    return "; ".join(f"{i.dir}: {kinds[i.origin]}" + (f", {i.count}" if i.count else "") for i in src.images)


def render_data_doc(specs: dict[str, Any]) -> str:
    """docs/data.md: one row per benchmark with sources (``safevlm bench sources --out docs/data.md``)."""
    rows = ["| benchmark | source | licence | size | images (without them: text-only) | gated | fetch |",
            "|---|---|---|---|---|---|---|"]
    notes: list[str] = []
    for name, spec in sorted(specs.items()):
        src: Sources | None = spec.sources
        if src is None:
            continue
        where = []
        if src.git:
            where.append(f"[{src.git.repo}](https://github.com/{src.git.repo}) @ `{src.git.commit[:7]}`")
        if src.hub:
            rev = f"`{src.hub.revision[:7]}`" if src.hub.revision else "revision not pinned"
            where.append(f"Hub [{src.hub.repo}](https://huggingface.co/datasets/{src.hub.repo}) ({rev})")
        gated = f"[yes]({src.gated})" if src.gated else "no"
        rows.append(f"| {name} | {'<br>'.join(where)} | {_cell(spec.license)} | {_cell(src.size)} | "
                    f"{_cell(images_line(spec))} | {gated} | `{fetch_command(name)}` |")
        for img in src.images:
            if img.origin == "manual":
                notes.append(f"- **{name}** `{img.dir}`: {img.how}")
        if src.hub and not src.hub.revision and src.hub.note:
            notes.append(f"- **{name}** Hub revision: {src.hub.note}")
        if src.note:
            notes.append(f"- **{name}**: {src.note}")
    return DATA_DOC.format(table="\n".join(rows), notes="\n".join(notes) or "- none")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


DATA_DOC = """\
# Benchmark data: where it comes from and how to get it

<!-- Generated by `safevlm bench sources --out docs/data.md` from the `sources:` blocks of the
built-in specs (src/safevlm/bench/specs/*.yaml). Do not edit by hand: tests/test_bench_sources.py
fails when this file differs from the command's output. -->

Every built-in benchmark records its sources in its spec: the Git repository and commit or the
Hub dataset each file comes from, the sha256 of every file safevlm reads, the image sets, the
item count of each variant, and the selection of the authors' scoring literals.

```bash
safevlm bench fetch xstest figstep             # into the data root (SAFEVLM_DATA_ROOT, --data-root)
safevlm bench fetch vlguard:test --no-images   # text files only: runs text-only
safevlm bench verify                           # counts and hashes against the specs, one line each
```

`bench fetch` downloads to a staging folder (`.safevlm-fetch/` in the benchmark's folder), resumes
a cut download (HTTP Range), checks every file against its pinned sha256 and only then moves it
into place, so a good file is never replaced by a bad one. Git files come from
`https://github.com/OWNER/REPO/raw/COMMIT/PATH` and archives from
`https://github.com/OWNER/REPO/archive/COMMIT.tar.gz` (`SAFEVLM_GIT_ENDPOINT` replaces
`https://github.com`); Hub files through `huggingface_hub` (`HF_ENDPOINT`, and `HF_TOKEN` or
`hf auth login` for gated sets). The authors' scoring files are read (parsed with `ast`, never run,
not kept) and reduced to `eval/protocol.json`: each value is pinned by its own sha256, so an
extraction that differs from upstream is refused, naming the item.

A benchmark without its images still runs text-only (`--on-missing-image text_only`, marked as
such in every summary); `bench list` shows which variants have their images on disk.

{table}

## Notes

{notes}
"""
