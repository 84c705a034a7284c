"""The generic loader: a :class:`BenchmarkSpec` variant -> typed samples.

Items whose images are not on disk are never dropped silently. ``on_missing_image``
decides: ``skip`` (counted and warned about), ``text_only`` (kept without their
images, marked ``metadata['images_missing']``) or ``error``; the caller's choice
wins, then the variant's own ``on_missing_image``, then ``skip``.

What a data file says is not trusted: an image path that resolves outside the
variant's image root (``../../etc/passwd``, an absolute path) is an error unless the
spec sets ``images_outside_root``, and a hook from a user path runs only when hooks
are trusted (``trust_hooks``; built-in ``safevlm.*`` hooks always run). Every data
error names the data file and item, the benchmark variant and its spec file.
"""

from __future__ import annotations

import logging
import string
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import ValidationError

from safevlm import config
from safevlm.bench.categories import RISK_CATEGORIES
from safevlm.bench.native import Where, read_records
from safevlm.bench.protocol import Protocol, load_protocol, pins_of, task_text
from safevlm.bench.sources import PROTOCOL_FILE, where_from
from safevlm.bench.spec import BenchmarkSpec, LabelMap, MissingImagePolicy, VariantSpec
from safevlm.data.paths import inside, real
from safevlm.data.sample import Expected, ImageRef, Sample, check_image
from safevlm.errors import ConfigError, DataError
from safevlm.plugins import load_callable, needs_trust

log = logging.getLogger(__name__)

MissingPolicy = MissingImagePolicy
MISSING_HINT = ("--on-missing-image text_only (on_missing_image='text_only') keeps them without their images; "
                "or point the benchmark's image_root at a local copy")


@dataclass
class BenchContext:
    """What a hook needs to find files: the benchmark root and the image root."""

    spec: BenchmarkSpec
    variant_name: str
    variant: VariantSpec
    root: Path
    image_root: Path
    trust_hooks: bool = False

    @property
    def uid(self) -> str:
        return f"{self.spec.name}:{self.variant_name}"

    def path(self, rel: str) -> Path:
        return self.root / rel

    def protocol(self) -> Protocol | None:
        """The benchmark's protocol file, every item this variant reads checked against its pin
        (None: the variant reads none)."""
        uses = self.spec.protocol_items(self.variant_name)
        if not uses:
            return None
        src = self.spec.sources
        return load_protocol(self.path(PROTOCOL_FILE), pins_of(src.protocol if src else None), uses,
                             bench=self.spec.name, homepage=self.spec.homepage)


@dataclass
class LoadResult:
    """Samples plus an account of what happened to every item."""

    name: str
    variant: str
    samples: list[Sample]
    total: int = 0
    with_images: int = 0
    skipped_missing_images: int = 0
    kept_text_only: int = 0
    behaviour: Counter = field(default_factory=Counter)
    on_missing_image: str = "skip"
    image_root: str = ""
    spec_path: Path | None = None
    origin: str = ""  # where the data comes from (sources.where_from), for error messages

    @property
    def uid(self) -> str:
        return f"{self.name}:{self.variant}"

    def check_images(self, samples: Sequence[Sample]) -> None:
        """:func:`check_images`, errors naming this benchmark and its spec."""
        try:
            check_images(samples)
        except DataError as exc:
            raise exc.in_context(f"benchmark {self.uid}, spec {self.spec_path}; {self.origin}") from exc

    def account(self) -> dict[str, Any]:
        """Where every item went: the counts a run's summary reports."""
        return {"total": self.total, "with_images": self.with_images,
                "skipped_missing_images": self.skipped_missing_images, "kept_text_only": self.kept_text_only,
                "on_missing_image": self.on_missing_image, "image_root": self.image_root}


def _render(template: str, record: dict[str, Any], where: Where) -> str:
    try:
        return string.Formatter().vformat(template, (), record)
    except KeyError as exc:
        raise where.error(f"missing field {exc.args[0]!r} (needed by template {template!r}); "
                          f"fields present: {', '.join(sorted(k for k in record if not k.startswith('_'))) or 'none'}") from exc
    except (IndexError, TypeError, ValueError) as exc:
        raise where.error(f"cannot fill template {template!r}: {exc}") from exc


def _map_label(mapping: LabelMap, record: dict[str, Any], where: Where, what: str) -> str:
    value = _render(mapping.source, record, where)
    if value in mapping.map:
        return mapping.map[value]
    if mapping.default is not None:
        return mapping.default
    raise where.error(f"unknown {what} label {value!r}; expected one of: {', '.join(mapping.map)}")


def _image_path(ctx: BenchContext, v: VariantSpec, rel: str, where: Where) -> str:
    """``rel`` under the image root; a path from the data that really leaves it (``..``, an absolute path,
    a symbolic link inside the root pointing out: :mod:`safevlm.data.paths`) is refused unless the spec
    allows it."""
    path = ctx.image_root / rel
    _check_inside(ctx, v, path, rel, where)
    return str(path)


def _check_inside(ctx: BenchContext, v: VariantSpec, path: str | Path, shown: str, where: Where) -> None:
    if not v.images_outside_root and not inside(path, ctx.image_root):
        raise where.error(f"image path {shown!r} resolves to {real(path)}, outside the image root "
                          f"{real(ctx.image_root)}; refused (set images_outside_root: true in the spec if the data "
                          "really points there)")


def _as_image_ref(value: Any, ctx: BenchContext, v: VariantSpec, where: Where) -> ImageRef:
    if isinstance(value, ImageRef):
        return value
    if isinstance(value, Image.Image):
        return ImageRef.from_image(value)
    if callable(value):
        return ImageRef.lazy(value)
    return ImageRef(path=_image_path(ctx, v, str(value), where))


def _history(v: VariantSpec, record: dict[str, Any], where: Where) -> list[dict[str, str]]:
    """Earlier turns: a record field holding ``[{role, text}, ...]``, or the spec's turn templates."""
    if v.history is None:
        return []
    if isinstance(v.history, str):
        turns = record.get(v.history)
        if turns in (None, ""):
            return []
        if not isinstance(turns, list) or not all(isinstance(t, dict) and {"role", "text"} <= set(t) for t in turns):
            raise where.error(f"field {v.history!r} should be a list of turns, each with 'role' and 'text'")
        return [{"role": str(t["role"]), "text": str(t["text"])} for t in turns]
    return [{"role": t.role, "text": _render(t.text, record, where)} for t in v.history]


def build_sample(ctx: BenchContext, where: Where, record: dict[str, Any], v: VariantSpec | None = None, *,
                 sample_id: str | None = None, group: str | None = None) -> Sample:
    """Map one raw record onto a sample following the field templates of ``v`` (default: the variant's)."""
    v = v or ctx.variant
    images = [_as_image_ref(x, ctx, v, where) for x in record.get("_images", [])]
    for template in ([v.image] if isinstance(v.image, str) else v.image or []):
        images.append(ImageRef(path=_image_path(ctx, v, _render(template, record, where), where)))
    if isinstance(v.expected, LabelMap):  # map values were checked against Expected with the spec
        expected = Expected(_map_label(v.expected, record, where, "expected-behaviour"))
    else:
        expected = v.expected
    if isinstance(v.risk_category, LabelMap):
        risk = _map_label(v.risk_category, record, where, "risk-category")
    elif v.risk_category is not None:
        risk = _render(v.risk_category, record, where)
    else:
        risk = None
    if risk is not None and risk not in RISK_CATEGORIES:
        raise where.error(f"risk category {risk!r} is not one of {', '.join(RISK_CATEGORIES)}")
    choices = None
    if v.choices:
        choices = record.get(v.choices)
        if not isinstance(choices, dict):
            raise where.error(f"field {v.choices!r} should be a mapping of choice letter to text")
    metadata = {k.lstrip("_"): record[k] for k in v.metadata if k in record}
    metadata.update(record.get("_metadata", {}))
    opt = lambda t: _render(t, record, where) if t else None
    try:
        return Sample(id=sample_id or _render(v.id, record, where), source=ctx.spec.name, split=ctx.variant_name,
                      text=_render(v.text, record, where), images=images, expected=expected,
                      category=opt(v.category), risk_category=risk, reference=opt(v.reference),
                      choices=choices, answer=opt(v.answer), group=group, metadata=metadata,
                      history=_history(v, record, where))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise where.error(f"not a valid item: {problems}") from exc


def _matches(record: dict[str, Any], where_clause: dict[str, Any]) -> bool:
    return all(record.get(k) == val for k, val in where_clause.items())


def hook_needs_trust(variant: VariantSpec) -> bool:
    """The variant runs Python from outside safevlm (a user file or another package)."""
    return variant.hook is not None and needs_trust(variant.hook)


def _hook(ctx: BenchContext) -> Any:
    """The variant's hook, through the one trust gate (:mod:`safevlm.plugins`)."""
    return load_callable(ctx.variant.hook, base_dir=ctx.spec.base_dir, what=f"benchmark {ctx.uid}'s hook",
                         trust=ctx.trust_hooks, source=str(ctx.spec.spec_path))


def iter_samples(ctx: BenchContext) -> Iterator[tuple[Where, Sample]]:
    """All samples of a variant, images unchecked, in file order (a record's sides in spec order).

    A variant's ``task_prompt`` builds each text from its protocol file's task prompt;
    ``repeat: N`` yields every sample N times (ids ``ID#1``..``ID#N``, ``metadata.repeat_of``).
    """
    v = ctx.variant
    protocol = ctx.protocol() if v.task_prompt is not None else None
    for where, sample in _built_samples(ctx):
        if protocol is not None and v.task_prompt is not None:
            text = task_text(v.task_prompt.builder, v.task_prompt.items, protocol, sample.text, sample.choices)
            meta = dict(sample.metadata)
            if sample.choices and v.task_prompt.builder == "siuo_mcqa":
                meta["options_in_text"] = True  # the evaluation does not list them again
            sample = sample.model_copy(update={"text": text, "metadata": meta})
        if v.repeat == 1:
            yield where, sample
            continue
        for k in range(1, v.repeat + 1):
            yield where, sample.model_copy(update={"id": f"{sample.id}#{k}", "metadata": {
                **sample.metadata, "repeat_of": sample.id, "repeat": k}})


def _built_samples(ctx: BenchContext) -> Iterator[tuple[Where, Sample]]:
    v = ctx.variant
    if v.hook:
        produced = _hook(ctx)(ctx)
    else:
        files = [v.file] if isinstance(v.file, str) else v.file
        produced = (pair for f in files for pair in read_records(ctx.path(f), v.format))
    sides = [(s, v.side(s)) for s in v.items or []]
    for where, item in produced:
        if isinstance(item, Sample):  # a hook's own sample: its image files are confined all the same
            for ref in item.images:
                if ref.path is not None:
                    _check_inside(ctx, v, ref.path, ref.path, where)
            yield where, item
        elif not _matches(item, v.where):
            continue
        elif not sides:
            group = _render(v.group, item, where) if v.group else None
            yield where, build_sample(ctx, where, item, v, group=group or None)
        else:
            record_id = _render(v.id, item, where)
            group = _render(v.group, item, where) if v.group else record_id
            for side, side_spec in sides:
                sid = _render(side.id, item, where) if side.id else f"{record_id}/{side.name}"
                sample = build_sample(ctx, where, item, side_spec, sample_id=sid, group=group or None)
                sample.metadata["side"] = side.name
                yield where, sample


def benchmark_root(spec: BenchmarkSpec, *, data_root: str | Path | None = None, root: str | Path | None = None) -> Path:
    """The benchmark's folder: ``root`` > the config file's ``benchmarks.NAME.root`` > data root / spec root."""
    over = config.benchmark_overrides(spec.name).get("root")
    return Path(root or over or (config.data_root(data_root) / spec.root)).expanduser()


def make_context(spec: BenchmarkSpec, variant: str | None = None, *, data_root: str | Path | None = None,
                 root: str | Path | None = None, image_root: str | Path | None = None,
                 trust_hooks: bool | None = None) -> BenchContext:
    """Resolve a variant's folders: CLI override > config file > spec (relative to the data root).

    ``trust_hooks`` None: the config's (:func:`safevlm.config.trust_hooks`).
    """
    name = variant or spec.default_variant
    if name not in spec.variants:
        hint = " ('*', every variant, works where several benchmarks are taken: eval --bench)" if name == "*" else ""
        raise ConfigError(f"benchmark {spec.name!r} has no variant {name!r}{hint}; variants: "
                          f"{', '.join(spec.variants)}")
    v = spec.variants[name]
    over = config.benchmark_overrides(spec.name)
    base = benchmark_root(spec, data_root=data_root, root=root)
    img = image_root or over.get("image_root")
    img_root = Path(img).expanduser() if img else base / (v.image_root or ".")
    return BenchContext(spec=spec, variant_name=name, variant=v, root=base, image_root=img_root,
                        trust_hooks=config.trust_hooks() if trust_hooks is None else trust_hooks)


def check_images(samples: Sequence[Sample]) -> None:
    """Check every on-disk image now (header and checksums), so a corrupt file stops the load with its name."""
    for sample in samples:
        for ref in sample.images:
            if ref.path is not None:
                try:
                    check_image(ref.path)
                except DataError as exc:
                    raise DataError(exc.path, exc.problem, item=sample.id) from exc


def load_variant(ctx: BenchContext, *, on_missing_image: MissingPolicy | None = None, verify_images: bool = True,
                 limit: int | None = None) -> LoadResult:
    """Load and check one variant (the first ``limit`` items); see the module docstring."""
    policy = on_missing_image or ctx.variant.on_missing_image or "skip"
    result = LoadResult(name=ctx.spec.name, variant=ctx.variant_name, samples=[], on_missing_image=policy,
                        image_root=str(ctx.image_root), spec_path=ctx.spec.spec_path, origin=where_from(ctx.spec))
    try:
        _fill(result, ctx, policy, verify_images, limit)
    except DataError as exc:
        raise exc.in_context(f"benchmark {ctx.uid}, spec {ctx.spec.spec_path}; {result.origin}") from exc
    if result.skipped_missing_images:
        log.warning("%s: skipped %d of %d items whose images are not on disk (under %s); %s; %s", result.uid,
                    result.skipped_missing_images, result.total, ctx.image_root, MISSING_HINT, result.origin)
    return result


def _fill(result: LoadResult, ctx: BenchContext, policy: str, verify_images: bool, limit: int | None) -> None:
    seen: dict[str, Where] = {}
    for where, sample in iter_samples(ctx):
        if sample.id in seen:
            raise where.error(f"duplicate id {sample.id!r} (first seen at {seen[sample.id].path}"
                              f"{':' + str(seen[sample.id].line) if seen[sample.id].line else ''})")
        seen[sample.id] = where
        result.total += 1
        result.behaviour[sample.expected.value] += 1
        missing = [ref.path for ref in sample.images if not ref.exists()]
        if sample.images and not missing:
            result.with_images += 1
        elif missing:
            if policy == "error":
                raise where.error(f"image not found: {missing[0]} (item {sample.id}); {MISSING_HINT}")
            if policy == "skip":
                result.skipped_missing_images += 1
                continue
            sample = sample.model_copy(update={"images": [], "metadata": {**sample.metadata, "images_missing": missing}})
            result.kept_text_only += 1
        if limit is not None and len(result.samples) >= limit:
            continue
        if verify_images:
            check_images([sample])
        result.samples.append(sample)
