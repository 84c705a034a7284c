"""The generic loader: a :class:`BenchmarkSpec` variant -> typed samples.

Items whose images are not on disk are never dropped silently. ``on_missing_image``
decides: ``skip`` (default; counted and warned about), ``text_only`` (kept without
their images, marked ``metadata['images_missing']``) or ``error``.
"""

from __future__ import annotations

import logging
import string
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from safevlm import config
from safevlm.bench.categories import RISK_CATEGORIES
from safevlm.bench.records import Where, read_records
from safevlm.bench.spec import BenchmarkSpec, LabelMap, VariantSpec
from safevlm.data.sample import Expected, ImageRef, Sample, check_image
from safevlm.errors import ConfigError, DataError
from safevlm.plugins import load_callable

log = logging.getLogger(__name__)

MissingPolicy = Literal["skip", "text_only", "error"]


@dataclass
class BenchContext:
    """What a hook needs to find files: the benchmark root and the image root."""

    spec: BenchmarkSpec
    variant_name: str
    variant: VariantSpec
    root: Path
    image_root: Path

    def path(self, rel: str) -> Path:
        return self.root / rel


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

    @property
    def uid(self) -> str:
        return f"{self.name}:{self.variant}"


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


def _as_image_ref(value: Any, image_root: Path) -> ImageRef:
    if isinstance(value, ImageRef):
        return value
    if isinstance(value, Image.Image):
        return ImageRef.from_image(value)
    if callable(value):
        return ImageRef.lazy(value)
    return ImageRef(path=str(image_root / str(value)))


def build_sample(ctx: BenchContext, where: Where, record: dict[str, Any]) -> Sample:
    """Map one raw record onto a sample following the variant's field templates."""
    v = ctx.variant
    images: list[ImageRef] = [_as_image_ref(x, ctx.image_root) for x in record.get("_images", [])]
    for template in ([v.image] if isinstance(v.image, str) else v.image or []):
        images.append(ImageRef(path=str(ctx.image_root / _render(template, record, where))))
    if isinstance(v.expected, LabelMap):
        expected_label = _map_label(v.expected, record, where, "expected-behaviour")
        try:
            expected = Expected(expected_label)
        except ValueError as exc:
            raise ConfigError(f"{ctx.spec.spec_path}: variant {ctx.variant_name!r} maps to {expected_label!r}, "
                              f"not one of {[e.value for e in Expected]}") from exc
    else:
        expected = v.expected
    if isinstance(v.risk_category, LabelMap):
        risk = _map_label(v.risk_category, record, where, "risk-category")
    elif v.risk_category is not None:
        risk = _render(v.risk_category, record, where)
    else:
        risk = None
    if risk is not None and risk not in RISK_CATEGORIES:
        raise ConfigError(f"{ctx.spec.spec_path}: risk category {risk!r} (from {where.path}) is not one of "
                          f"{', '.join(RISK_CATEGORIES)}")
    choices = None
    if v.choices:
        choices = record.get(v.choices)
        if not isinstance(choices, dict):
            raise where.error(f"field {v.choices!r} should be a mapping of choice letter to text")
    metadata = {k.lstrip("_"): record[k] for k in v.metadata if k in record}
    metadata.update(record.get("_metadata", {}))
    opt = lambda t: _render(t, record, where) if t else None  # noqa: E731
    return Sample(id=_render(v.id, record, where), source=ctx.spec.name, split=ctx.variant_name,
                  text=_render(v.text, record, where), images=images, expected=expected,
                  category=opt(v.category), risk_category=risk, reference=opt(v.reference),
                  choices=choices, answer=opt(v.answer), metadata=metadata)


def _matches(record: dict[str, Any], where_clause: dict[str, Any]) -> bool:
    return all(record.get(k) == val for k, val in where_clause.items())


def iter_samples(ctx: BenchContext) -> Iterator[tuple[Where, Sample]]:
    """All samples of a variant, images unchecked, in file order."""
    v = ctx.variant
    if v.hook:
        produced = load_callable(v.hook, base_dir=ctx.spec.base_dir, what="hook")(ctx)
    else:
        files = [v.file] if isinstance(v.file, str) else v.file
        produced = (pair for f in files for pair in read_records(ctx.path(f), v.format))
    for where, item in produced:
        if isinstance(item, Sample):
            yield where, item
        elif _matches(item, v.where):
            yield where, build_sample(ctx, where, item)


def make_context(spec: BenchmarkSpec, variant: str | None = None, *, data_root: str | Path | None = None,
                 root: str | Path | None = None, image_root: str | Path | None = None) -> BenchContext:
    """Resolve a variant's folders: CLI override > config file > spec (relative to the data root)."""
    name = variant or spec.default_variant
    if name not in spec.variants:
        raise ConfigError(f"benchmark {spec.name!r} has no variant {name!r}; variants: {', '.join(spec.variants)}")
    v = spec.variants[name]
    over = config.benchmark_overrides(spec.name)
    base = Path(root or over.get("root") or (config.data_root(data_root) / spec.root)).expanduser()
    img = image_root or over.get("image_root")
    img_root = Path(img).expanduser() if img else base / (v.image_root or ".")
    return BenchContext(spec=spec, variant_name=name, variant=v, root=base, image_root=img_root)


def _verify(sample: Sample, uid: str) -> None:
    """Check every on-disk image now, so a corrupt file stops the load with its name."""
    for ref in sample.images:
        if ref.path is not None:
            try:
                check_image(ref.path)
            except DataError as exc:
                raise DataError(exc.path, f"{exc.args[0].split(': ', 1)[-1]} (benchmark {uid}, item {sample.id})") from exc


def load_variant(ctx: BenchContext, *, on_missing_image: MissingPolicy = "skip", verify_images: bool = True,
                 limit: int | None = None) -> LoadResult:
    """Load and check one variant; see the module docstring for ``on_missing_image``."""
    result = LoadResult(name=ctx.spec.name, variant=ctx.variant_name, samples=[])
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
            if on_missing_image == "error":
                raise where.error(f"image not found: {missing[0]} (item {sample.id}); point the benchmark's "
                                  "image_root at a local copy, or load with on_missing_image='text_only'")
            if on_missing_image == "skip":
                result.skipped_missing_images += 1
                continue
            sample = sample.model_copy(update={"images": [], "metadata": {**sample.metadata, "images_missing": missing}})
            result.kept_text_only += 1
        if limit is not None and len(result.samples) >= limit:
            continue
        if verify_images:
            _verify(sample, result.uid)
        result.samples.append(sample)
    if result.skipped_missing_images:
        log.warning("%s: skipped %d of %d items whose images are not on disk (under %s); "
                    "use text-only loading to keep them", result.uid, result.skipped_missing_images,
                    result.total, ctx.image_root)
    return result
