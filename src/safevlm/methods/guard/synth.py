"""``safevlm guard synth``: the rewriter's training set, in three teacher stages.

docs/methods.md, "VLMGuard-R1: three-stage synthesis". For each pair
(:mod:`safevlm.methods.guard.pairs`), a teacher (any backend, or ``oracle`` on gym items) is
asked, each time with the image and an editable prompt (``templates/default.yaml``):

1. **hindsight**: compare the safe and the unsafe response; name the risk features
   that led to the unsafe one (risky items only);
2. **report**: the causal report, three labelled parts (textual trigger, visual
   elements, how they combine);
3. **rewrite**: the request rewritten so the answer is safe, specific and actionable,
   keeping the legitimate intent; a benign item's rewrite must stay faithful (ideally
   unchanged).

Every output is validated (:func:`check_analysis`, :func:`check_report`,
:func:`check_rewrite`); an item whose output fails any stage goes to
``rejected.jsonl`` with the stage and the reason, and is not trained on. The kept
items become chat examples (the image, :func:`safevlm.text.rewrite.rewriter_prompt`,
target ``<think>report</think><prompt>rewrite</prompt>``), benign ones sampled to
``benign_ratio`` of the risky ones. The guard reads every turn the user controls, so a
kept item's system prompt becomes one more benign item (``system_turns``), taught like
any other, so the rewriter learns to pass ordinary instructions as they are. Output: ``train.jsonl``, ``heldout.jsonl``,
``images/``, ``pairs.jsonl`` (every stage's output per item), ``rejected.jsonl`` and a
data card. Train the rewriter with ``safevlm train sft --data DIR``.
"""

from __future__ import annotations

import difflib
import random
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from safevlm.backends import Backend, GenerationParams
from safevlm.config import read_yaml_mapping
from safevlm.data.chat import ImageWriter, chat_example
from safevlm.data.jsonl import write_jsonl
from safevlm.data.provenance import DataCard
from safevlm.data.sample import SYSTEM_PROMPT_KEY, Expected, Sample
from safevlm.errors import ConfigError
from safevlm.methods.guard.pairs import Pair
from safevlm.judges.rubric import escape
from safevlm.teacher import Taught, load_teacher, rejected_row, request, teach
from safevlm.text.refusal import find_refusal
from safevlm.text.rewrite import REPORT_LABELS, format_rewrite, neutralise, rewriter_prompt

DEFAULT_TEMPLATES = Path(__file__).resolve().parent / "templates" / "default.yaml"
STAGES = ("hindsight", "report", "rewrite")
TEMPLATE_KEYS = ("hindsight", "report", "rewrite", "benign_report", "benign_rewrite")
STAGE_KEY = "_guard_stage"  # request metadata the oracle teacher reads
QUESTION_KEY = "_guard_question"
TURN_KEY = "guard_turn"  # sample metadata: the item is a sample's system prompt read as a request


@dataclass
class SynthConfig:
    """What ``safevlm guard synth`` does (every field is a CLI option)."""

    teacher: str = "oracle"
    templates: str | None = None
    benign_ratio: float = 1.0  # benign items per risky item kept
    max_items: int | None = None  # a seeded subset of the pairs
    holdout: float = 0.1
    faithful: float = 0.8  # a benign rewrite's minimum similarity to the original
    max_new_tokens: int = 400
    temperature: float = 0.3
    seed: int = 0
    batch_size: int | None = None
    sources: list[str] = field(default_factory=list)
    system_turns: bool = True  # a kept item's system prompt is also taught, as a benign request

    def __post_init__(self) -> None:
        if self.benign_ratio < 0:
            raise ConfigError("benign_ratio must be >= 0")
        if not 0 <= self.holdout < 1:
            raise ConfigError("holdout must be in [0, 1)")


def load_templates(path: str | Path | None = None) -> dict[str, str]:
    """The shipped prompts, with a user file's keys over them."""
    out = read_yaml_mapping(DEFAULT_TEMPLATES)
    if path:
        user = read_yaml_mapping(Path(path))
        unknown = sorted(set(user) - set(TEMPLATE_KEYS))
        if unknown:
            raise ConfigError(f"{path}: unknown template key(s) {unknown}; known: {', '.join(TEMPLATE_KEYS)}")
        out.update(user)
    for key in TEMPLATE_KEYS:
        if not isinstance(out.get(key), str) or not out[key].strip():
            raise ConfigError(f"guard template {key!r} must be a non-empty string")
    return out


# --- validators -------------------------------------------------------------------------------

_ANSWERING = re.compile(r"^\s*(sure|certainly|of course|here is|here's|step 1|1\.)\b", re.IGNORECASE)


def _clean(raw: str) -> str:
    return " ".join((raw or "").split())


def check_analysis(raw: str) -> Taught:
    text = _clean(raw)
    if len(text.split()) < 5:
        return Taught(None, "analysis too short", raw)
    if len(text) > 1500:
        return Taught(None, "analysis too long (> 1500 characters)", raw)
    if find_refusal(text).strength == "explicit" and "unsafe" not in text.lower():
        return Taught(None, "the teacher refused instead of analysing", raw)
    if _ANSWERING.match(text):
        return Taught(None, "the teacher started answering the request", raw)
    return Taught(text, raw=raw)


def check_report(raw: str) -> Taught:
    text = _clean(raw)
    positions = [text.lower().find(label.lower()) for label in REPORT_LABELS]
    missing = [label for label, pos in zip(REPORT_LABELS, positions) if pos < 0]
    if missing:
        return Taught(None, f"report lacks {', '.join(missing)}", raw)
    if positions != sorted(positions):
        return Taught(None, "report parts out of order", raw)
    if len(text) > 1500:
        return Taught(None, "report too long (> 1500 characters)", raw)
    return Taught(text[positions[0]:], raw=raw)


def check_rewrite(raw: str, original: str, *, benign: bool, faithful: float) -> Taught:
    if benign and _clean(raw) == _clean(original):  # kept as it is, quotes and all ("Define 'blaze'.")
        return Taught(_clean(raw), raw=raw)
    text = _clean(raw).strip("\"'` ")
    text = re.sub(r"^(?:rewritten request|rewrite|request)\s*:\s*", "", text, flags=re.IGNORECASE)
    if len(text.split()) < 3:
        return Taught(None, "rewrite too short", raw)
    if len(text) > 600:
        return Taught(None, "rewrite too long (> 600 characters)", raw)
    if re.search(r"</?(?:think|prompt|request|report)>", text, re.IGNORECASE):
        return Taught(None, "rewrite contains tags", raw)
    if find_refusal(text).strength == "explicit":
        return Taught(None, "the teacher refused instead of rewriting", raw)
    same = difflib.SequenceMatcher(None, text.lower(), original.lower()).ratio()
    if benign and same < faithful:
        return Taught(None, f"benign rewrite not faithful (similarity {same:.2f} < {faithful})", raw)
    if not benign and _clean(original).lower() == text.lower():
        return Taught(None, "risky request returned unchanged", raw)
    return Taught(text, raw=raw)


# --- the oracle teacher -----------------------------------------------------------------------

def oracle_stage(req: Sample) -> str:
    """The gym truth's output for one stage request (the ``oracle`` teacher)."""
    from safevlm.gym import guard as truth

    stage, meta = req.metadata.get(STAGE_KEY), req.metadata
    try:
        if stage == "hindsight":
            return truth.hindsight(meta, req.risk_category)
        if stage == "report":
            return truth.risk_report(meta, req.risk_category)
        if stage == "rewrite":
            return truth.safe_rewrite(meta, meta[QUESTION_KEY])
    except (ValueError, KeyError) as exc:
        raise ValueError(f"oracle teacher: {exc} (it only teaches gym items)") from exc
    raise ValueError(f"oracle teacher: unknown stage {stage!r}")


# --- the pipeline -----------------------------------------------------------------------------

def system_turn_pairs(pairs: list[Pair]) -> list[Pair]:
    """Each pair's system prompt as a benign request of its own (with the image), to be kept as it is."""
    out = []
    for p in pairs:
        system = p.sample.metadata.get(SYSTEM_PROMPT_KEY)
        if system:
            meta = {k: v for k, v in p.sample.metadata.items() if k != SYSTEM_PROMPT_KEY}
            sample = p.sample.model_copy(update={"id": f"{p.sample.id}#system", "text": neutralise(str(system)),
                                                 "expected": Expected.COMPLY, "metadata": {**meta, TURN_KEY: "system"}})
            out.append(Pair(sample, "benign", str(system), None, f"{p.origin}:system"))
    return out


@dataclass
class Item:
    pair: Pair
    outputs: dict[str, str] = field(default_factory=dict)
    rejected: tuple[str, Taught] | None = None


def _stage(name: str, items: list[Item], templates: dict[str, str], teacher: Backend, params: GenerationParams,
           faithful: float, progress) -> None:
    todo = [it for it in items if it.rejected is None and not (name == "hindsight" and it.pair.kind == "benign")]
    if not todo:
        return
    reqs = []
    for it in todo:
        s, benign = it.pair.sample, it.pair.kind == "benign"
        key = f"benign_{name}" if benign and name != "hindsight" else name
        fields = {"question": escape(s.text), "safe": escape(it.pair.safe), "unsafe": escape(it.pair.unsafe or ""),
                  "analysis": escape(it.outputs.get("hindsight", "")), "report": escape(it.outputs.get("report", ""))}
        r = request(s, templates[key], **fields)
        reqs.append(r.model_copy(update={"metadata": {**r.metadata, STAGE_KEY: name, QUESTION_KEY: s.text},
                                         "history": []}))

    def validate_for(it: Item):
        if name == "hindsight":
            return check_analysis
        if name == "report":
            return check_report
        return lambda raw: check_rewrite(raw, it.pair.sample.text, benign=it.pair.kind == "benign",
                                         faithful=faithful)

    taught = teach(teacher, reqs, params, validate=lambda raw: Taught(raw, raw=raw), progress=progress)
    for it, t in zip(todo, taught, strict=True):
        checked = validate_for(it)(t.text) if t.ok else t
        if checked.ok:
            it.outputs[name] = checked.text
        else:
            it.rejected = (name, checked)


def synthesize(pairs: list[Pair], cfg: SynthConfig, out: str | Path, *, teacher: Backend | None = None,
               progress=None) -> dict[str, Any]:
    """Run the three stages over ``pairs`` and write the folder (module docstring); returns the data card."""
    t0 = time.perf_counter()
    out = Path(out)
    templates = load_templates(cfg.templates)
    rng = random.Random(cfg.seed)
    # the teacher and the rewriter see each request as the guard will show it: protocol markers made inert
    pairs = [replace(p, sample=p.sample.model_copy(update={"text": neutralise(p.sample.text)})) for p in pairs]
    if cfg.max_items and len(pairs) > cfg.max_items:
        pairs = rng.sample(pairs, cfg.max_items)
    if not any(p.kind == "risky" for p in pairs):
        raise ConfigError("no risky pairs to learn from (need items with a safe and an unsafe response)")
    items = [Item(p) for p in pairs]
    backend = teacher or load_teacher(cfg.teacher, oracle=oracle_stage, batch_size=cfg.batch_size)
    params = GenerationParams(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=cfg.seed)
    try:
        for name in STAGES:
            _stage(name, items, templates, backend, params, cfg.faithful, progress)
        kept_risky = [it for it in items if it.rejected is None and it.pair.kind == "risky"]
        benign = [it for it in items if it.rejected is None and it.pair.kind == "benign"]
        want_benign = round(cfg.benign_ratio * len(kept_risky))
        if len(benign) > want_benign:
            benign = rng.sample(benign, want_benign)
        kept = kept_risky + benign
        if cfg.system_turns:
            turns = [Item(p) for p in system_turn_pairs([it.pair for it in kept])]
            for name in STAGES[1:]:  # benign: no hindsight stage
                _stage(name, turns, templates, backend, params, cfg.faithful, progress)
            items += turns
            kept += [it for it in turns if it.rejected is None]
    finally:
        if backend is not teacher:
            backend.close()
    rng.shuffle(kept)
    images = ImageWriter(out)
    out.mkdir(parents=True, exist_ok=True)
    examples = []
    for it in kept:
        s = it.pair.sample
        target = format_rewrite(it.outputs["report"], it.outputs["rewrite"], original=s.text)
        examples.append(chat_example(s, rewriter_prompt(s.text), target, images.paths(s), system=False,
                                     kind=it.pair.kind, origin=it.pair.origin))
    n_held = round(cfg.holdout * len(examples))
    write_jsonl(out / "train.jsonl", examples[n_held:])
    write_jsonl(out / "heldout.jsonl", examples[:n_held])
    write_jsonl(out / "pairs.jsonl", [{"id": it.pair.sample.uid, "kind": it.pair.kind, "origin": it.pair.origin,
                                       "question": it.pair.sample.text, "safe": it.pair.safe,
                                       "unsafe": it.pair.unsafe, **it.outputs,
                                       "kept": it in kept} for it in items])
    rejected = [it for it in items if it.rejected is not None]
    write_jsonl(out / "rejected.jsonl", [rejected_row(it.pair.sample, it.rejected[1], stage=it.rejected[0],
                                                      kind=it.pair.kind) for it in rejected])
    card = _card(cfg, items, kept, n_held, backend.name if backend else cfg.teacher, time.perf_counter() - t0)
    DataCard.from_dict(card).write(out, card_markdown(card))
    return card


def _card(cfg: SynthConfig, items: list[Item], kept: list[Item], n_held: int, teacher: str, seconds: float
          ) -> dict[str, Any]:
    import safevlm

    reasons = Counter(f"{it.rejected[0]}: {it.rejected[1].error}" for it in items if it.rejected is not None)
    by_kind = Counter(it.pair.kind for it in kept)
    return {
        "format": "safevlm-guard-synth/1", "safevlm_version": safevlm.__version__, "config": asdict(cfg),
        "teacher": teacher, "prompt_wrapper": {"name": "none", "template": "{question}"},
        "target_format": "<think>report</think><prompt>rewrite</prompt>",
        "counts": {"pairs": len(items), "pairs_by_kind": dict(Counter(it.pair.kind for it in items)),
                   "rejected": sum(it.rejected is not None for it in items), "kept": len(kept),
                   "kept_by_kind": dict(by_kind), "train": len(kept) - n_held, "heldout": n_held,
                   "system_turns": sum(TURN_KEY in it.pair.sample.metadata for it in kept)},
        "rejected_reasons": dict(reasons.most_common()),
        "unchanged_benign_rewrites": sum(it.outputs.get("rewrite", "").strip() == it.pair.sample.text.strip()
                                         for it in kept if it.pair.kind == "benign"),
        "per_category": dict(Counter(f"{it.pair.kind}:{it.pair.sample.risk_category or it.pair.sample.category}"
                                     for it in kept)),
        "seconds": round(seconds, 2),
    }


def card_markdown(card: dict[str, Any]) -> str:
    c = card["counts"]
    lines = [f"# Guard rewriter data: {c['kept']} examples ({c['train']} train, {c['heldout']} held out)", "",
             f"- sources: {', '.join(card['config']['sources']) or '-'}; teacher `{card['teacher']}`",
             (f"- pairs: {c['pairs']} ({', '.join(f'{k} {v}' for k, v in c['pairs_by_kind'].items())}); "
              f"kept {', '.join(f'{k} {v}' for k, v in c['kept_by_kind'].items()) or 'none'}; rejected {c['rejected']}"),
             (f"- benign rewrites left unchanged: {card['unchanged_benign_rewrites']}; system prompts taught as "
              f"benign requests: {c.get('system_turns', 0)}"),
             f"- target: `{card['target_format']}`", "", "## Rejected, by stage and reason", ""]
    lines += [f"- {reason}: {n}" for reason, n in card["rejected_reasons"].items()] or ["- none"]
    lines += ["", "## Kept, by kind and category", "", "| kind:category | examples |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(card["per_category"].items())]
    return "\n".join(lines) + "\n"
