"""The benchmark registry: built-in specs plus the user's own.

Specs are found in ``safevlm/bench/specs/*.yaml``, then in every folder or file named
by ``$SAFEVLM_BENCH_PATH`` (``os.pathsep``-separated), the config file's
``bench_paths`` and ``--spec``. A later spec with the same name as an earlier one
replaces it, with a warning naming both files (a user spec may deliberately patch a
built-in one, but never silently). A spec that does not load is reported and
skipped: every other benchmark still lists, loads and runs; asking for the broken
one by name gives its error.

Benchmarks are addressed as ``NAME`` (its default variant), ``NAME:VARIANT`` or
``NAME:*`` (every variant, see :func:`expand_refs`).

Each spec file is parsed once per process (:func:`_parse`, keyed by the file's path, size
and modification time): a command that scans the search path several times (``bench
list`` loads every variant, ``eval`` every ref) pays for one parse, and a broken spec is
reported once, not once per scan or per variant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from safevlm import config
from safevlm.bench.loader import LoadResult, MissingPolicy, load_variant, make_context
from safevlm.bench.spec import BenchmarkSpec, SpecError, load_spec
from safevlm.bench.strict import closest
from safevlm.errors import ConfigError

log = logging.getLogger(__name__)

BUILTIN_SPECS = Path(__file__).parent / "specs"
ALL_VARIANTS = "*"
_warned: set[str] = set()
_parsed: dict[Path, tuple[tuple[int, int], BenchmarkSpec | SpecError]] = {}


@dataclass
class SpecScan:
    """Every spec found: the usable ones by name, the broken ones with their error, and notes."""

    specs: dict[str, BenchmarkSpec] = field(default_factory=dict)
    broken: dict[str, SpecError] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _spec_files(extra: list[Path] | None, notes: list[str]) -> list[Path]:
    """Spec files in search order; a missing folder from the environment or config is a note,
    a missing ``--spec`` (given explicitly) an error."""
    files = sorted(BUILTIN_SPECS.glob("*.yaml"))
    given = [Path(p) for p in extra or []]
    for p in config.bench_paths() + given:
        if p.is_dir():
            files += sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml"))
        elif p.is_file():
            files.append(p)
        elif p in given:
            raise ConfigError(f"benchmark spec path {p} does not exist")
        else:
            notes.append(f"benchmark spec path {p} (SAFEVLM_BENCH_PATH or bench_paths) does not exist")
    return files


def _parse(path: Path) -> BenchmarkSpec:
    """:func:`load_spec`, memoised per file version (a changed file is read again)."""
    try:
        st = path.stat()
        key = (st.st_size, st.st_mtime_ns)
    except OSError:
        return load_spec(path)  # gives its own error
    path = path.resolve()
    hit = _parsed.get(path)
    if hit is None or hit[0] != key:
        try:
            hit = (key, load_spec(path))
        except SpecError as exc:
            hit = (key, exc)
        _parsed[path] = hit
    if isinstance(hit[1], SpecError):
        raise hit[1]
    return hit[1]


def scan_specs(extra: list[Path] | None = None, *, warn_broken: bool = True) -> SpecScan:
    """Read every spec on the search path; broken ones and shadowed names are reported, never fatal.

    Each note is logged once per process; ``warn_broken=False`` leaves broken specs to the
    caller (``bench list`` shows them as rows, so a warning would say it twice).
    """
    scan = SpecScan()
    for f in _spec_files(extra, scan.notes):
        try:
            spec = _parse(f)
        except SpecError as exc:
            name = exc.name or f.stem
            scan.broken[name] = exc
            scan.specs.pop(name, None)
            if warn_broken:
                scan.notes.append(f"skipped broken spec {f}: {exc}")
            continue
        earlier = scan.specs.get(spec.name)
        if earlier is not None:
            what = "the built-in spec" if earlier.builtin else "the spec"
            scan.notes.append(f"benchmark {spec.name!r}: {spec.spec_path} replaces {what} {earlier.spec_path}")
        scan.specs[spec.name] = spec
        scan.broken.pop(spec.name, None)
    for note in scan.notes:
        if note not in _warned:  # a command scans several times; say it once
            _warned.add(note)
            log.warning("%s", note)
    return scan


def all_specs(extra: list[Path] | None = None) -> dict[str, BenchmarkSpec]:
    """Every usable benchmark by name, later (user) specs overriding earlier ones."""
    return scan_specs(extra).specs


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``"figstep:safebench"`` -> ``("figstep", "safebench")``; ``"xstest"`` -> ``("xstest", None)``."""
    name, _, variant = ref.partition(":")
    return name.strip().lower(), (variant.strip() or None)


def _get(scan: SpecScan, name: str) -> BenchmarkSpec:
    if name in scan.specs:
        return scan.specs[name]
    if name in scan.broken:
        raise scan.broken[name]
    known = sorted(scan.specs)
    hint = closest(name, known)
    raise ConfigError(f"unknown benchmark {name!r}{f' (did you mean {hint!r}?)' if hint else ''}; "
                      f"known: {', '.join(known)}")


def get_spec(name: str, extra: list[Path] | None = None) -> BenchmarkSpec:
    return _get(scan_specs(extra), name)


def expand_refs(refs: list[str], extra: list[Path] | None = None) -> list[str]:
    """Benchmark refs as ``NAME:VARIANT``: a bare ``NAME`` is its default variant, ``NAME:*`` every variant.

    Unknown names and variants are errors here, before anything loads; duplicates are dropped.
    """
    scan = scan_specs(extra)
    out: list[str] = []
    for ref in refs:
        name, variant = parse_ref(ref)
        spec = _get(scan, name)
        if variant == ALL_VARIANTS:
            variants = list(spec.variants)
        elif variant is None:
            variants = [spec.default_variant]
        elif variant in spec.variants:
            variants = [variant]
        else:
            hint = closest(variant, list(spec.variants))
            raise ConfigError(f"benchmark {name!r} has no variant {variant!r}"
                              f"{f' (did you mean {hint!r}?)' if hint else ''}; variants: "
                              f"{', '.join(spec.variants)} (or {name}:* for all)")
        out += [f"{name}:{v}" for v in variants if f"{name}:{v}" not in out]
    return out


def load_benchmark(ref: str, *, data_root: str | Path | None = None, root: str | Path | None = None,
                   image_root: str | Path | None = None, on_missing_image: MissingPolicy | None = None,
                   verify_images: bool = True, limit: int | None = None,
                   extra_specs: list[Path] | None = None, trust_hooks: bool | None = None) -> LoadResult:
    """Load ``NAME[:VARIANT]`` into samples.

    Args:
        ref: benchmark and optional variant, e.g. ``"mm-safetybench:typo"`` (bare: the default variant).
        data_root: folder holding one sub-folder per benchmark (default: see :mod:`safevlm.config`).
        root / image_root: override where this benchmark's files / images are.
        on_missing_image: ``skip`` | ``text_only`` | ``error`` for items whose images are absent
            (None: the spec's ``on_missing_image``, else ``skip``).
        verify_images: decode every image of the returned samples (a corrupt file stops the load).
        limit: return the first ``limit`` samples (counts still cover every item).
        trust_hooks: run a Python hook from a user path (None: the config's ``trust_hooks``).
    """
    name, variant = parse_ref(ref)
    spec = get_spec(name, extra_specs)
    ctx = make_context(spec, variant, data_root=data_root, root=root, image_root=image_root, trust_hooks=trust_hooks)
    return load_variant(ctx, on_missing_image=on_missing_image, verify_images=verify_images, limit=limit)


def check_protocol(ref: str, *, data_root: str | Path | None = None, extra_specs: list[Path] | None = None) -> None:
    """Read the protocol file of ``NAME[:VARIANT]`` and check every item the variant uses against its pin,
    if it uses any (a missing file, a missing or changed item is a
    :class:`~safevlm.bench.protocol.ProtocolError` naming it)."""
    name, variant = parse_ref(ref)
    make_context(get_spec(name, extra_specs), variant, data_root=data_root).protocol()
