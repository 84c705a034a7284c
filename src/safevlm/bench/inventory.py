"""The benchmark inventory: one row per registered variant (what ``safevlm bench list`` shows).

Items, images on disk and the behaviour mix of every variant, computed by loading it
with ``on_missing_image="text_only"`` so no item is hidden. ``verify_images`` also
checks every image file (the demo's first stage does).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from safevlm.bench.registry import all_specs, load_benchmark


def summarise(data_root: Path | None = None, specs: list[Path] | None = None, names: list[str] | None = None,
              *, exclude: tuple[str, ...] = (), verify_images: bool = False,
              on_variant: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """One row per benchmark variant: item counts, image availability, behaviour mix.

    ``on_variant(ref)`` is called before each variant loads (progress display).
    """
    rows = []
    for name, spec in sorted(all_specs(specs).items()):
        if (names and name not in names) or name in exclude:
            continue
        for variant in spec.variants:
            if on_variant:
                on_variant(f"{name}:{variant}")
            res = load_benchmark(f"{name}:{variant}", data_root=data_root, verify_images=verify_images,
                                 on_missing_image="text_only", extra_specs=specs)
            rows.append({"name": name, "variant": variant, "ref": res.uid, "items": res.total,
                         "with_images": res.with_images, "modality": spec.modality,
                         "behaviour": dict(sorted(res.behaviour.items())), "license": spec.license,
                         "description": spec.variants[variant].description})
    return rows
