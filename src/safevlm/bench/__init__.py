"""Benchmarks in their native formats, declared by YAML specs (see :mod:`safevlm.bench.spec`)."""

from safevlm.bench.loader import LoadResult
from safevlm.bench.registry import all_specs, expand_refs, get_spec, load_benchmark, parse_ref, scan_specs

__all__ = ["LoadResult", "all_specs", "expand_refs", "get_spec", "load_benchmark", "parse_ref", "scan_specs"]
