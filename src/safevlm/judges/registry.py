"""``get_judge(name, **opts)``: one string names any judge (docs/eval-contract.md).

Names::

    refusal                 the default refusal detector (offline rules + two small logistic heads)
    phrases:safecot|gcg     the papers' phrase lists, case-sensitive (docs/methods.md, "SafeCoT: evaluation")
    protocol:BENCH          a benchmark's own offline judge, read from its protocol file
                            (xstest, vlguard, mossbench; docs/benchmark-protocols.md)
    logit:PATH_OR_ID        a local HF causal LM answers reject/accept (same section)
    rubric:MODEL_SPEC       an LLM judge over any backend: SaFeR safety/helpfulness/rigour,
                            VLMGuard 0-10 safety (docs/methods.md)
    oracle                  the gym oracle (gym items only)
    GUARD:SPEC              a guard model (llama-guard-3-vision, llama-guard-4, shieldgemma-2, guardreasoner-vl,
                            proguard, wildguard) from hf:PATH_OR_ID or openai:URL#MODEL (judges/guards)
    path/to/file.py:func    a user judge: func(items) -> verdicts (or dicts), or a Judge factory; imported only
                            when trusted (``--trust-code``; :mod:`safevlm.plugins`)

Heavy judges import torch/transformers inside their factory, so naming a cheap
judge never pays for them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safevlm.errors import ConfigError
from safevlm.judges.base import Judge, JudgeInput, JudgeVerdict
from safevlm.plugins import is_file_ref, load_callable

#: The guard-model judge kinds (safevlm.judges.guards.formats.FORMATS; listed here so naming a cheap judge
#: never imports the guard code).
GUARD_NAMES = ("llama-guard-3-vision", "llama-guard-4", "shieldgemma-2", "guardreasoner-vl", "proguard", "wildguard")

JUDGE_FORMS = """\
  refusal                  default refusal detector (offline; --opt partial_as=refused|complied)
  phrases:safecot          SafeCoT's 22-phrase list (case-sensitive substring)
  phrases:gcg              the GCG test-prefix list (case-sensitive substring)
  protocol:xstest          XSTest's prefix matcher, read from its protocol file (--opt parity=true)
  protocol:vlguard         VLGuard's refusal-phrase list (attack success = no phrase)
  protocol:mossbench       MOSSBench's empty-answer rule over the default detector
  logit:PATH_OR_ID         local HF causal LM, softmax over 'reject'/'accept'
  rubric:MODEL_SPEC        rubric LLM judge, e.g. rubric:openai:http://host/v1#model or rubric:mock:FILE
  oracle                   the gym oracle (gym samples only)
  GUARD:hf:PATH_OR_ID      a guard model: llama-guard-3-vision, llama-guard-4, shieldgemma-2,
  GUARD:openai:URL#MODEL     guardreasoner-vl, proguard or wildguard (e.g. wildguard:hf:allenai/wildguard)
  FILE.py:FUNCTION         your own judge"""


def _no_opts(name: str, opts: dict[str, Any]) -> None:
    if opts:
        raise ConfigError(f"judge {name!r} takes no options; got {', '.join(sorted(opts))}")


def get_judge(name: str, *, trust_code: bool | None = None, source: str | None = None, **opts: Any) -> Judge:
    """Build the judge ``name`` names (see :data:`JUDGE_FORMS`); ``None``-valued options are dropped.

    ``trust_code``: the user's ``--trust-code`` for a ``file.py:function`` judge (None: their config);
    ``source``: where the name was found, for the error when it is not trusted.
    """
    opts = {k: v for k, v in opts.items() if v is not None}
    name = name.strip()
    kind, _, rest = name.partition(":")
    if name == "refusal":
        from safevlm.judges.refusal import RefusalJudge

        unknown = sorted(set(opts) - {"partial_as"})
        if unknown:
            raise ConfigError(f"judge 'refusal' takes only partial_as=refused|complied; got {', '.join(unknown)}")
        return RefusalJudge(**opts)
    if name == "oracle":
        from safevlm.judges.oracle_judge import OracleJudge

        _no_opts(name, opts)
        return OracleJudge()
    if kind == "phrases" and rest:
        from safevlm.judges.phrases import phrase_judge

        _no_opts(name, opts)
        return phrase_judge(rest)
    if kind == "protocol" and rest:
        from safevlm.judges.protocols import ProtocolPhraseJudge

        unknown = sorted(set(opts) - {"data_root", "parity"})
        if unknown:
            raise ConfigError(f"judge {name!r} takes only data_root= and parity=; got {', '.join(unknown)}")
        return ProtocolPhraseJudge(rest.lower(), **opts)
    if kind == "logit" and rest:
        from safevlm.judges.logit import LogitJudge

        return LogitJudge(rest, **opts)
    if kind == "rubric" and rest:
        from safevlm.judges.rubric import RubricJudge

        return RubricJudge(rest, **opts)
    if kind in GUARD_NAMES and rest:
        from safevlm.judges.guards.judge import GuardJudge

        return GuardJudge(kind, rest, **opts)
    if is_file_ref(name):
        file_, _, func = name.rpartition(":")
        return load_user_judge(file_, func, trust_code=trust_code, source=source, **opts)
    raise ConfigError(f"unknown judge {name!r}; use one of:\n{JUDGE_FORMS}")


class FunctionJudge:
    """Wraps a user function ``f(items) -> list[JudgeVerdict | dict]`` as a judge.

    The function must return one verdict per item; dicts become verdicts (unknown
    keys go to ``detail``). Anything else is a :class:`ConfigError` naming the function.
    """

    def __init__(self, fn: Callable[[list[JudgeInput]], list[Any]], name: str):
        self.fn = fn
        self.name = name

    def judge(self, items: list[JudgeInput]) -> list[JudgeVerdict]:
        raw = self.fn(items)
        if not isinstance(raw, (list, tuple)) or len(raw) != len(items):
            got = f"{len(raw)} results" if isinstance(raw, (list, tuple)) else type(raw).__name__
            raise ConfigError(f"judge {self.name}: must return one verdict per item ({len(items)}); got {got}")
        out = []
        for k, v in enumerate(raw):
            if isinstance(v, JudgeVerdict):
                out.append(v)
            elif isinstance(v, dict):
                try:
                    out.append(JudgeVerdict.from_dict(v, judge=self.name))
                except TypeError as exc:
                    raise ConfigError(f"judge {self.name}: result [{k}] is not a verdict ({exc})") from exc
            else:
                raise ConfigError(f"judge {self.name}: result [{k}] is a {type(v).__name__}, "
                                  "expected a JudgeVerdict or a dict")
        return out


def load_user_judge(path: str | Path, func: str, *, trust_code: bool | None = None, source: str | None = None,
                    **opts: Any) -> Judge:
    """Load ``func`` from the Python file ``path``, when trusted (:func:`safevlm.plugins.load_callable`).

    ``func`` may be a judge function (one positional parameter: the items), or a
    factory (a class or a function taking only ``opts`` as keywords) returning an
    object with a ``judge`` method.
    """
    p = Path(path)
    fn = load_callable(f"{p}:{func}", what="judge", trust=trust_code, source=source)
    name = f"{p.name}:{func}"
    if inspect.isclass(fn) or _is_factory(fn):
        judge = fn(**opts)
        if not callable(getattr(judge, "judge", None)):
            raise ConfigError(f"{name} returned {type(judge).__name__}, which has no judge(items) method")
        if not getattr(judge, "name", None):
            judge.name = name
        return judge
    if opts:
        raise ConfigError(f"judge function {name} takes no options; got {', '.join(sorted(opts))}")
    return FunctionJudge(fn, name)


def _is_factory(fn: Callable[..., Any]) -> bool:
    """A function whose parameters are all optional or keyword-only is a factory, not ``f(items)``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return not required
