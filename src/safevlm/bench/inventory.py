"""The benchmark inventory: one row per registered variant (what ``safevlm bench list`` shows).

Items, groups (items scored together, e.g. MSSBench's 600 chat query pairs of 1,200
items: a query asked with its safe and with its unsafe image), images on disk and the
behaviour mix of every variant, computed by loading it
with ``on_missing_image="text_only"`` so no item is hidden. ``verify_images`` also
checks every image file (the demo's first stage does).

Listing never stops at one bad benchmark and never runs untrusted code: a variant
that fails to load (a missing or malformed file) gets a row with its ``error``, a
broken spec gets a row naming its file, and a variant whose hook comes from a user
path is listed uncounted (``note``) unless hooks are trusted. A benchmark that records
its sources but whose folder is not under the data root gets one row for the whole
benchmark, ``fetch`` holding the command that downloads it. ``strict`` turns the first
failure into an exception instead (the demo's check).

Each spec is parsed once: variants are loaded from the scanned spec, not looked up again
by name (a look-up rescans the search path).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from safevlm import config
from safevlm.bench.loader import benchmark_root, hook_needs_trust, load_variant, make_context
from safevlm.bench.registry import scan_specs
from safevlm.bench.sources import fetch_command
from safevlm.errors import SafeVLMError


def _row(name: str, variant: str | None, **fields: Any) -> dict[str, Any]:
    base = {"name": name, "variant": variant, "ref": f"{name}:{variant}" if variant else name, "items": None,
            "groups": None, "with_images": None, "modality": None, "behaviour": {}, "license": "", "description": "",
            "spec": None, "error": None, "note": None, "default": False, "fetch": None}
    return base | fields


def summarise(data_root: Path | None = None, specs: list[Path] | None = None, names: list[str] | None = None,
              *, exclude: tuple[str, ...] = (), verify_images: bool = False, strict: bool = False,
              trust_hooks: bool | None = None, on_variant: Callable[[str], None] | None = None
              ) -> list[dict[str, Any]]:
    """One row per benchmark variant: item counts, image availability, behaviour mix (or why not).

    ``on_variant(ref)`` is called before each variant loads (progress display).
    """
    trusted = config.trust_hooks() if trust_hooks is None else trust_hooks
    scan = scan_specs(specs, warn_broken=False)  # broken specs are rows below, said once
    rows = []
    for name, spec in sorted(scan.specs.items()):
        if (names and name not in names) or name in exclude:
            continue
        if spec.sources is not None and not benchmark_root(spec, data_root=data_root).is_dir() and not strict:
            rows.append(_row(name, None, modality=spec.modality, license=spec.license, description=spec.title,
                             spec=str(spec.spec_path), fetch=fetch_command(name)))
            continue
        for variant, v in spec.variants.items():
            row = _row(name, variant, modality=spec.modality, license=spec.license, description=v.description,
                       spec=str(spec.spec_path), default=variant == spec.default_variant)
            rows.append(row)
            if hook_needs_trust(v) and not trusted:
                row["note"] = f"not counted: runs the user hook {v.hook!r} (only with --trust-hooks)"
                continue
            if on_variant:
                on_variant(row["ref"])
            try:
                ctx = make_context(spec, variant, data_root=data_root, trust_hooks=trusted)
                res = load_variant(ctx, verify_images=verify_images, on_missing_image="text_only")
            except SafeVLMError as exc:
                if strict:
                    raise
                row["error"] = str(exc)
                continue
            groups = len({s.group for s in res.samples if s.group is not None}) or None
            row.update(items=res.total, groups=groups, with_images=res.with_images,
                       behaviour=dict(sorted(res.behaviour.items())))
    for name, exc in sorted(scan.broken.items()):
        if strict:
            raise exc
        if not names or name in names:
            rows.append(_row(name, None, error=str(exc)))
    return rows
