"""``load_backend("SPEC")``: one string names any target model.

Heavy libraries (torch, transformers, openai) are imported inside the factories,
so ``import safevlm.backends`` is cheap and a missing optional dependency only
matters for the backend that needs it.
"""

from __future__ import annotations

import difflib
from typing import Any

from safevlm.backends.base import Backend, BackendError

SPEC_FORMS = """\
  gym                                  the bundled gym model (transformers backend)
  hf:PATH_OR_ID                        a transformers checkpoint folder or a Hub id in the local cache
  openai:BASE_URL#MODEL                an OpenAI-compatible server, e.g. openai:http://127.0.0.1:8000/v1#gym
  mock:refuse|comply|echo|error|FILE   scripted responses (tests, dry runs)
  guard:REWRITER>TARGET                VLMGuard-R1: a rewriter model in front of any target, e.g.
                                       guard:hf:runs/rewriter>gym
  defence:safety-prompt>TARGET         a fixed safety system prompt (training-free baseline)
  defence:ecso>TARGET                  ECSO: self-check, then answer from an image description"""

_HF_OPTS = {"dtype", "device", "batch_size", "max_image_side", "suppress_vision_tokens", "name"}
_OPENAI_OPTS = {"api_key", "concurrency", "timeout_s", "max_retries", "max_image_side", "name", "batch_size"}
#: options only a remote backend uses (``--request-timeout``, ``--retries``): dropped for local ones, so one
#: command line serves every backend, a guard's rewriter and target included
REMOTE_OPTS = {"timeout_s", "max_retries"}


def remote_only(options: dict[str, Any]) -> dict[str, Any]:
    """The :data:`REMOTE_OPTS` of a run's backend options: what the models its judges call take too."""
    return {k: v for k, v in options.items() if k in REMOTE_OPTS and v is not None}


_MOCK_OPTS = {"batch_size", "max_image_side"}  # accepted and ignored, so one CLI serves every backend
#: options of the guard itself (docs/methods.md, "VLMGuard-R1: implementation choices")
GUARD_OPTS = ("target_wrapper", "on_failure", "max_input_chars", "long_input", "max_rewrite_tokens", "refusal")


def _check(kind: str, opts: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise BackendError(f"{kind} backend does not take option(s) {', '.join(unknown)}; "
                           f"it takes {', '.join(sorted(allowed))}")
    return opts


def load_backend(spec: str, **opts: Any) -> Backend:
    """Build the backend a spec string names (see :data:`SPEC_FORMS`).

    Options whose value is ``None`` are ignored, so callers can pass every CLI
    option through. For ``openai``, ``batch_size`` means requests in flight
    (``concurrency``) unless ``concurrency`` is given.
    """
    opts = {k: v for k, v in opts.items() if v is not None}
    kind, sep, rest = spec.strip().partition(":")
    if kind in ("guard", "defence") and sep:
        return _defended(spec, kind, rest, opts)
    if kind != "openai":
        opts = {k: v for k, v in opts.items() if k not in REMOTE_OPTS}
    if spec.strip() == "gym" or (kind == "hf" and rest):
        from safevlm.backends.hf import HFBackend
        from safevlm.models.loading import resolve_model_path

        name = "gym" if spec.strip() == "gym" else "hf"
        defaults = {"name": "gym"} if name == "gym" else {}
        return HFBackend(resolve_model_path(spec.strip()), **{**defaults, **_check(name, opts, _HF_OPTS)})
    if sep and rest:
        if kind == "openai":
            from safevlm.backends.openai_compat import OpenAIBackend

            url, hash_, model = rest.partition("#")
            if not hash_ or not model:
                raise BackendError(f"openai backend spec {spec!r} has no model name; use openai:BASE_URL#MODEL")
            opts = _check("openai", opts, _OPENAI_OPTS)
            if "batch_size" in opts:
                opts.setdefault("concurrency", opts["batch_size"])
                del opts["batch_size"]
            return OpenAIBackend(url, model, **opts)
        if kind == "mock":
            from safevlm.backends.mock import MockBackend

            _check("mock", opts, _MOCK_OPTS)
            return MockBackend(rest)
    raise BackendError(f"unknown model spec {spec!r}{_spec_hint(spec.strip())}; use one of:\n{SPEC_FORMS}")


KINDS = ("gym", "hf", "openai", "mock", "guard", "defence")


def _spec_hint(spec: str) -> str:
    """A likely intended spec: ``hf:`` before a checkpoint folder or a Hub id, or a misspelt kind."""
    from pathlib import Path

    kind, sep, rest = spec.partition(":")
    if Path(spec).expanduser().is_dir() or (not sep and "/" in spec):
        return f" (did you mean hf:{spec}?)"
    close = difflib.get_close_matches(kind, KINDS, n=1)
    if close and sep:
        return f" (did you mean {close[0]}:{rest}?)"
    if close and not sep:
        return f" (did you mean {close[0]}?)"
    return ""


def _defended(spec: str, kind: str, rest: str, opts: dict[str, Any]) -> Backend:
    """``guard:REWRITER>TARGET`` and ``defence:NAME>TARGET`` (see :mod:`safevlm.backends.defences`)."""
    from safevlm.backends.defences import DEFENCES, GuardedBackend

    front, arrow, target = rest.partition(">")
    if not arrow or not front.strip() or not target.strip():
        raise BackendError(f"model spec {spec!r}: expected {kind}:{'REWRITER' if kind == 'guard' else 'NAME'}>TARGET, "
                           "e.g. guard:hf:runs/rewriter>gym or defence:ecso>gym")
    if kind == "defence" and front not in DEFENCES:
        raise BackendError(f"unknown defence {front!r}; choose one of {', '.join(DEFENCES)}")
    guard_opts = {k: opts.pop(k) for k in GUARD_OPTS if k in opts}
    if guard_opts and kind != "guard":
        raise BackendError(f"{', '.join(sorted(guard_opts))}: option(s) of guard: specs only")
    inner = load_backend(target, **opts)
    if kind == "defence":
        return DEFENCES[front](inner)
    rkind = front.strip().partition(":")[0]
    allowed = {"openai": _OPENAI_OPTS, "mock": _MOCK_OPTS}.get(rkind, _HF_OPTS) - {"name"}
    rewriter_opts = {k: v for k, v in opts.items() if k in allowed}  # the target's options it also takes
    try:
        return GuardedBackend(load_backend(front, **rewriter_opts), inner, **guard_opts)
    except BaseException:
        inner.close()
        raise
