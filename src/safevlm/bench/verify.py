"""``safevlm bench verify``: a benchmark's files, counts and scoring protocol against its spec's pins.

One :class:`Verdict` per benchmark: every pinned file present with its sha256, every
variant with its pinned item count (loaded text-only, images not decoded),
``eval/protocol.json`` holding every pinned item, and the image folders that ``bench
fetch`` put in place unchanged (count, tree hash, each file's hash, so a changed image
is named). Image folders that were copied by other means are reported, not judged: a
partial set (a sample of the images) is normal for a text-only setup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safevlm.bench.fetch import read_marker
from safevlm.bench.loader import benchmark_root, load_variant, make_context
from safevlm.bench.protocol import check_document
from safevlm.bench.sources import PROTOCOL_FILE, Sources, fetch_command, file_sha256, image_files, tree_sha256
from safevlm.bench.spec import BenchmarkSpec
from safevlm.errors import SafeVLMError


@dataclass
class Verdict:
    """The outcome for one benchmark: problems (each naming its file) fail it; notes only inform."""

    name: str
    root: Path
    present: bool = True
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.present and not self.problems

    def line(self) -> str:
        if not self.present:
            return f"{self.name}: not fetched (no {self.root}); `{fetch_command(self.name)}`"
        text = "; ".join(self.problems or self.notes)
        return f"{self.name}: {text}"


def verify(spec: BenchmarkSpec, *, data_root: str | Path | None = None, trust_hooks: bool | None = None) -> Verdict:
    """Check one benchmark's data under the data root against ``spec.sources``."""
    src: Sources | None = spec.sources
    root = benchmark_root(spec, data_root=data_root)
    out = Verdict(spec.name, root)
    if src is None:
        out.notes.append("the spec records no sources: nothing to check")
        return out
    if not root.is_dir():
        out.present = False
        return out
    bad_files = _files(src, root, out)
    if src.protocol is not None:
        _protocol(src, root, out)
    _items(spec, src, bad_files, out, data_root, trust_hooks)
    _images(src, root, out)
    return out


def _files(src: Sources, root: Path, out: Verdict) -> set[str]:
    bad = set()
    for rel, pin in src.files.items():
        path = root / rel
        if not path.is_file():
            out.problems.append(f"{rel} missing")
        elif path.stat().st_size != pin.bytes or file_sha256(path) != pin.sha256:
            out.problems.append(f"{rel}: sha256 differs from the pin ({pin.sha256[:12]}...)")
        else:
            continue
        bad.add(rel)
    if not bad:
        out.notes.append(f"{len(src.files)} files match")
    return bad


def _protocol(src: Sources, root: Path, out: Verdict) -> None:
    path = root / PROTOCOL_FILE
    if not path.is_file():
        out.problems.append(f"{PROTOCOL_FILE} missing")
        return
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        out.problems.append(f"{PROTOCOL_FILE}: not JSON ({exc})")
        return
    problems = check_document(doc, src.protocol)
    out.problems += [f"{PROTOCOL_FILE}: {p}" for p in problems]
    if not problems:
        out.notes.append(f"protocol: {len(src.protocol.items)} items match")


def _items(spec: BenchmarkSpec, src: Sources, bad_files: set[str], out: Verdict,
           data_root: str | Path | None, trust_hooks: bool | None) -> None:
    counted = []
    for variant, expected in src.items.items():
        if set(src.files_for([variant])) & bad_files:
            continue  # its file is already named
        try:
            ctx = make_context(spec, variant, data_root=data_root, trust_hooks=trust_hooks)
            res = load_variant(ctx, on_missing_image="text_only", verify_images=False)
        except SafeVLMError as exc:
            out.problems.append(f"{variant}: does not load: {exc}")
            continue
        if res.total != expected:
            out.problems.append(f"{variant}: {res.total} items, the spec pins {expected}")
        else:
            imgs = "" if spec.modality == "text" else f" ({res.with_images} with images)"
            counted.append(f"{variant} {res.total}{imgs}")
    if counted:
        out.notes.append("items: " + ", ".join(counted))


def _images(src: Sources, root: Path, out: Verdict) -> None:
    fetched: dict[str, Any] = read_marker(root).get("images", {})
    for img in src.images:
        folder = root / img.dir
        files = image_files(folder)
        record = fetched.get(img.dir)
        if record:  # put in place by bench fetch: it must still be exactly that
            if not folder.is_dir():
                out.problems.append(f"{img.dir}/ missing (bench fetch put it there)")
                continue
            changed = [p.relative_to(folder).as_posix() for p in files
                       if record.get("files", {}).get(p.relative_to(folder).as_posix()) != file_sha256(p)]
            gone = sorted(set(record.get("files", {})) - {p.relative_to(folder).as_posix() for p in files})
            if changed or gone:
                what = (f"{img.dir}/{changed[0]} changed" if changed else f"{img.dir}/{gone[0]} missing")
                more = len(changed) + len(gone) - 1
                out.problems.append(what + (f" (and {more} more)" if more else ""))
            continue
        if not files:
            out.notes.append(f"{img.dir}/: no images (text-only use)" + (" - by hand, see docs/data.md"
                                                                         if img.origin == "manual" else ""))
        elif img.tree_sha256 is not None and len(files) == img.count:
            if tree_sha256(folder) != img.tree_sha256:
                out.problems.append(f"{img.dir}/: the {len(files)} images differ from the pinned tree hash")
            else:
                out.notes.append(f"{img.dir}/: {len(files)} images match")
        else:
            of = f" of {img.count}" if img.count else ""
            out.notes.append(f"{img.dir}/: {len(files)}{of} images (not fetched by safevlm; not checked)")
