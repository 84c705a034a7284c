"""``safevlm safecot build``: a SafeCoT SFT set (chat JSONL + images + data card).

Recipe (docs/methods.md, "SafeCoT: data"):

- the **unsafe side** is every ``refuse`` / ``safe_complete`` item of the ``--unsafe``
  benchmarks (optionally a seeded subset of ``max_unsafe``), each with a refusal target:
  v0 a bare refusal, v1 a category reason + the v1 suffix, v2 a teacher's explanation +
  the v2 suffix (:mod:`safevlm.methods.safecot.templates`, :mod:`safevlm.methods.safecot.explanations`);
  ``safe_complete`` items (a warning is the right answer) end their v1 and v2 targets
  with the warning suffix instead (ours; the paper refuses every unsafe input, and v0
  keeps doing so as the paper's baseline);
- items marked ``metadata["ambiguous"]`` (disputed labels) and multi-turn items (the
  loss would also train their earlier assistant turns) are left out of both sides and
  counted in the card; a system prompt is kept, and an item in the reasoning format
  gets its target in that format (``<think>`` what the image shows + the reason
  ``</think><answer>`` the refusal or warning ``</answer>``);
- the **general side** is ``comply`` items of the ``--general`` benchmarks that carry a
  reference answer, which stays the target; it is sampled to ``ratio`` (1:1 by default)
  against the unsafe items actually kept. A general side asked for that ends empty (most
  often: its images are not on disk, so every item was skipped) stops the build with the
  reason instead of writing a set that is all refusals; ``on_missing_image`` (per
  benchmark, as ``safevlm eval`` takes it) keeps such items text-only on request, though
  their reference answers may describe an image the model will not see;
- every prompt goes through the same wrapper (:mod:`safevlm.data.prompts`), the image
  first in the user turn; the mix is shuffled with the seed and ``holdout`` of it
  (10 %) is written apart as ``heldout.jsonl``.

Output folder: ``train.jsonl``, ``heldout.jsonl`` (TRL's conversational vision format
plus provenance fields), ``images/`` (rendered or copied images), ``rejected.jsonl``
(teacher outputs that failed validation, with the reason), ``data_card.json`` and
``README.md`` (counts per source, category and side, seed, wrapper, teacher).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safevlm.backends import Backend
from safevlm.data.chat import ImageWriter, chat_example
from safevlm.data.jsonl import write_jsonl
from safevlm.data.prompts import get_wrapper
from safevlm.data.provenance import DataCard
from safevlm.data.sample import Expected, Sample
from safevlm.errors import ConfigError
from safevlm.methods.safecot.explanations import explain_samples
from safevlm.methods.safecot.templates import load_templates
from safevlm.teacher import rejected_row
from safevlm.text import parse_response

VARIANTS = ("v0", "v1", "v2")
TRAIN, HELDOUT, REJECTED = "train.jsonl", "heldout.jsonl", "rejected.jsonl"


@dataclass
class BuildConfig:
    variant: str
    unsafe: list[str]
    general: list[str]
    ratio: str = "1:1"
    teacher: str | None = None
    templates: list[str] = field(default_factory=list)
    prompt_wrapper: str = "safecot"
    seed: int = 0
    max_unsafe: int | None = None
    holdout: float = 0.1
    copy_images: bool = False
    data_root: str | None = None
    extra_specs: list[str] = field(default_factory=list)
    on_missing_image: str | dict[str, str] | None = None  # per benchmark: see safevlm.eval.config

    def __post_init__(self) -> None:
        from safevlm.eval.config import parse_missing_image

        self.on_missing_image = parse_missing_image(self.on_missing_image)
        if self.variant not in VARIANTS:
            raise ConfigError(f"unknown SafeCoT variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        if self.variant == "v2" and not self.teacher:
            raise ConfigError("variant v2 needs --teacher (a backend spec, or 'oracle' on the gym)")
        if not self.unsafe:
            raise ConfigError("no --unsafe benchmark given")
        if not 0 <= self.holdout < 1:
            raise ConfigError(f"holdout must be in [0, 1), got {self.holdout}")
        if self.max_unsafe is not None and self.max_unsafe < 1:
            raise ConfigError(f"max_unsafe must be >= 1, got {self.max_unsafe}")
        _ = self.ratio_parts  # raises on a malformed ratio

    @property
    def ratio_parts(self) -> tuple[float, float]:
        try:
            u, g = (float(x) for x in self.ratio.split(":"))
        except ValueError:
            raise ConfigError(f"ratio must look like UNSAFE:GENERAL (e.g. 1:1), got {self.ratio!r}") from None
        if u <= 0 or g < 0:
            raise ConfigError(f"ratio {self.ratio!r}: the unsafe part must be > 0 and the general part >= 0")
        return u, g


@dataclass
class Loaded:
    """Each benchmark's samples and its item account (total, skipped for missing images, kept text-only)."""

    samples: dict[str, list[Sample]]
    accounts: dict[str, dict[str, Any]]

    @property
    def skipped(self) -> dict[str, int]:
        return {ref: a["skipped_missing_images"] for ref, a in self.accounts.items() if a["skipped_missing_images"]}


def _load(refs: list[str], data_root: str | None, extra_specs: list[str],
          on_missing_image: str | dict[str, str] | None = None) -> Loaded:
    """Each distinct benchmark once (``--unsafe gym:train --general gym:train`` loads it once).

    Images are checked when written, not here: only the selected items' images matter.
    """
    from safevlm.bench import expand_refs, load_benchmark
    from safevlm.eval.config import missing_image_policy

    specs = [Path(p) for p in extra_specs] or None
    loaded = Loaded({}, {})
    for ref in dict.fromkeys(refs):
        policy, _ = missing_image_policy(on_missing_image, expand_refs([ref], specs)[0])
        res = load_benchmark(ref, data_root=data_root, verify_images=False, on_missing_image=policy,  # type: ignore[arg-type]
                             extra_specs=specs)
        loaded.samples[ref] = res.samples
        loaded.accounts[ref] = {**res.account(), "name": res.name, "uid": res.uid}
    return loaded


def _no_general(cfg: BuildConfig, loaded: Loaded, without_reference: int) -> ConfigError:
    """Why ``--general`` gave no item, and the ways out."""
    why = []
    for ref in dict.fromkeys(cfg.general):
        a = loaded.accounts[ref]
        if a["skipped_missing_images"]:
            why.append(f"{a['uid']}: all of its {a['skipped_missing_images']} items with images not on disk (under "
                       f"{a['image_root']}) were skipped")
        else:
            why.append(f"{a['uid']}: no comply item with a reference answer")
    name = loaded.accounts[cfg.general[0]]["name"]
    return ConfigError(
        f"--general {','.join(cfg.general)}: no general item to mix in ({'; '.join(why)}"
        + (f"; {without_reference} had no reference answer" if without_reference else "")
        + "), so the set would be all refusals and teach the model to refuse everything. Point the benchmark's "
        f"image_root at its images, take its items without them with --on-missing-image {name}=text_only (their "
        "reference answers may describe an image the model will not see), use another --general benchmark, or "
        "--ratio 1:0 for an unsafe-only set on purpose")


def _dedupe(samples: list[Sample]) -> list[Sample]:
    """The same item listed twice (``--unsafe a,a``) is used once."""
    seen: dict[str, Sample] = {}
    for s in samples:
        seen.setdefault(s.uid, s)
    return list(seen.values())


def _in_format(sample: Sample, reason: str | None, closing: str) -> str:
    """The target in the sample's answer format: for a reasoning-format item (its reference is
    ``<think>...</think><answer>...</answer>``) the reason goes into the think block after what the
    image shows, and the refusal or warning is the answer; plain text otherwise."""
    parsed = parse_response(sample.reference) if sample.reference else None
    if parsed is not None and parsed.tagged:
        thought = f"{parsed.think} {reason}" if reason else parsed.think
        return f"<think>{thought}</think><answer>{closing}</answer>"
    return f"{reason} {closing}" if reason else closing


Targets = dict[str, tuple[str, dict[str, Any]]]  # item key -> (target text, extra record fields)


def _suffix(sample: Sample, refusal_suffix: str, book) -> str:
    """The refusal suffix, or the warning suffix for items whose right answer is a warning (safe_complete)."""
    return book.warn_suffix if sample.expected is Expected.SAFE_COMPLETE else refusal_suffix


def _template_targets(unsafe: list[Sample], variant: str, book, rng: random.Random) -> Targets:
    """v0: a refusal from the list; v1: a reason of the item's category + the v1 (or warning) suffix."""
    targets: Targets = {}
    for s in unsafe:
        if variant == "v0":
            targets[s.uid] = (_in_format(s, None, rng.choice(book.v0_refusals)), {})
        else:
            entry = book.entry_for(s)
            targets[s.uid] = (_in_format(s, rng.choice(entry.reasons), _suffix(s, book.v1_suffix, book)),
                              {"template": entry.key})
    return targets


def _teacher_targets(unsafe: list[Sample], teacher: str | Backend, book,
                     progress: Callable[[str, int, int], None] | None) -> tuple[Targets, list[dict[str, Any]]]:
    """v2: validated teacher explanation + the v2 (or warning) suffix; failures come back as rejected rows."""
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("teacher", done, len(unsafe))

    targets: Targets = {}
    rejected = []
    for s, ex in zip(unsafe, explain_samples(unsafe, teacher, progress=tick), strict=True):
        if ex.ok:
            targets[s.uid] = (_in_format(s, ex.text, _suffix(s, book.v2_suffix, book)), {"explanation": ex.text})
        else:
            rejected.append(rejected_row(s, ex))
    return targets, rejected


def build(cfg: BuildConfig, out: str | Path, *, teacher: Backend | None = None,
          progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Build the set into ``out`` and return the data card.

    ``teacher`` (a built backend) overrides ``cfg.teacher`` (tests pass scripted teachers);
    ``progress(stage, done, total)`` reports the teacher and image-writing stages.
    """
    t0 = time.perf_counter()
    out = Path(out)
    book = load_templates(*cfg.templates)
    wrapper = get_wrapper(cfg.prompt_wrapper)
    rng = random.Random(f"safecot:{cfg.seed}")

    got = _load(cfg.unsafe + cfg.general, cfg.data_root, cfg.extra_specs, cfg.on_missing_image)
    loaded, skipped = got.samples, got.skipped
    # disputed labels are no ground truth to train on; multi-turn items would have their earlier
    # assistant turns trained too (the loss covers every assistant turn), and those may be wrong on purpose
    usable = {ref: [s for s in loaded[ref] if not s.metadata.get("ambiguous") and not s.history] for ref in loaded}
    ambiguous = sum(bool(s.metadata.get("ambiguous")) for ref in loaded for s in loaded[ref])
    multi_turn = sum(bool(s.history) for ref in loaded for s in loaded[ref])
    unsafe = _dedupe([s for ref in cfg.unsafe for s in usable[ref] if s.expected.is_unsafe])
    general_pool = _dedupe([s for ref in cfg.general for s in usable[ref] if not s.expected.is_unsafe])
    no_reference = [s for s in general_pool if not (s.reference or "").strip()]
    general_pool = [s for s in general_pool if (s.reference or "").strip()]
    if not unsafe:
        raise ConfigError(f"--unsafe {','.join(cfg.unsafe)}: no refuse/safe_complete items"
                          + (f" ({', '.join(f'{r}: {n} skipped, images not on disk' for r, n in skipped.items())})"
                             if skipped else ""))
    if cfg.general and cfg.ratio_parts[1] > 0 and not general_pool:
        raise _no_general(cfg, got, len(no_reference))
    if cfg.max_unsafe is not None and len(unsafe) > cfg.max_unsafe:
        unsafe = rng.sample(unsafe, cfg.max_unsafe)

    rejected: list[dict[str, Any]] = []
    if cfg.variant == "v2":
        targets, rejected = _teacher_targets(unsafe, teacher or str(cfg.teacher), book, progress)
    else:
        targets = _template_targets(unsafe, cfg.variant, book, rng)
    unsafe = [s for s in unsafe if s.uid in targets]
    if not unsafe:
        raise ConfigError(f"every one of the {len(rejected)} teacher explanations failed validation "
                          f"(first: {rejected[0]['error'] if rejected else '-'}); nothing to train on")

    u, g = cfg.ratio_parts
    wanted = round(len(unsafe) * g / u)
    general = rng.sample(general_pool, min(wanted, len(general_pool)))

    mix = [(s, "unsafe") for s in unsafe] + [(s, "general") for s in general]
    rng.shuffle(mix)
    n_held = round(len(mix) * cfg.holdout)
    out.mkdir(parents=True, exist_ok=True)
    images = ImageWriter(out, cfg.copy_images)
    records = []
    for i, (s, side) in enumerate(mix):
        paths = images.paths(s)
        prompt = wrapper.apply(s.text)
        if side == "unsafe":
            target, extra = targets[s.uid]
            records.append(chat_example(s, prompt, target, paths, side=side, **extra))
        else:
            records.append(chat_example(s, prompt, str(s.reference).strip(), paths, side=side))
        if progress and ((i + 1) % 200 == 0 or i + 1 == len(mix)):
            progress("writing", i + 1, len(mix))
    held, train = records[:n_held], records[n_held:]
    write_jsonl(out / TRAIN, train)
    write_jsonl(out / HELDOUT, held)
    write_jsonl(out / REJECTED, rejected)

    card = _card(cfg, book, wrapper.to_dict(), train, held, rejected, no_reference=len(no_reference), ambiguous=ambiguous,
                 multi_turn=multi_turn,
                 wanted_general=wanted, general_available=len(general_pool),
                 skipped_images=skipped, seconds=time.perf_counter() - t0,
                 text_only={r: a["kept_text_only"] for r, a in got.accounts.items() if a["kept_text_only"]},
                 teacher_name=teacher.name if teacher is not None else cfg.teacher)
    DataCard.from_dict(card).write(out, card_markdown(card))
    return card


def _counts(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, int]]:
    table: dict[str, Counter] = {}
    for r in rows:
        table.setdefault(str(r.get(key)), Counter())[r["side"]] += 1
    return {k: dict(v) for k, v in sorted(table.items())}


def _card(cfg: BuildConfig, book, wrapper: dict[str, str], train, held, rejected, *, no_reference: int, ambiguous: int,
          multi_turn: int,
          wanted_general: int, general_available: int, skipped_images: dict[str, int], seconds: float,
          teacher_name: str | None, text_only: dict[str, int] | None = None) -> dict[str, Any]:
    import safevlm

    rows = train + held
    sides = Counter(r["side"] for r in rows)
    return {
        "format": "safevlm-safecot/1", "variant": cfg.variant, "config": asdict(cfg),
        "safevlm_version": safevlm.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "prompt_wrapper": wrapper, "teacher": teacher_name if cfg.variant == "v2" else None,
        "templates": book.sources,
        "suffix": {"v0": None, "v1": book.v1_suffix, "v2": book.v2_suffix}[cfg.variant],
        "warn_suffix": None if cfg.variant == "v0" else book.warn_suffix,
        "counts": {"total": len(rows), "train": len(train), "heldout": len(held), "unsafe": sides["unsafe"],
                   "general": sides["general"],
                   "ratio_actual": f"{sides['unsafe']}:{sides['general']}",
                   "general_wanted": wanted_general, "general_available": general_available,
                   "general_without_reference": no_reference, "ambiguous_left_out": ambiguous,
                   "multi_turn_left_out": multi_turn,
                   "teacher_rejected": len(rejected),
                   "skipped_missing_images": skipped_images, "kept_text_only": text_only or {}},
        "by_source": _counts(rows, "source"), "by_risk_category": _counts(rows, "risk_category"),
        "by_category": _counts(rows, "category"), "by_expected": _counts(rows, "expected"),
        "by_template": dict(sorted(Counter(r.get("template") for r in rows if r.get("template")).items())),
        "rejected_reasons": dict(Counter(r["error"].split(" (")[0] for r in rejected).most_common()),
        "seconds": round(seconds, 2),
    }


def card_markdown(card: dict[str, Any]) -> str:
    """The data card as a README for the dataset folder."""
    c = card["counts"]
    lines = [f"# SafeCoT {card['variant']} training set", "",
             f"- built by safevlm {card['safevlm_version']} on {card['created']}, seed {card['config']['seed']}",
             (f"- unsafe from `{','.join(card['config']['unsafe'])}`, general from "
              f"`{','.join(card['config']['general']) or '-'}`, ratio requested {card['config']['ratio']}, "
              f"actual {c['ratio_actual']}"),
             f"- {c['total']} examples: {c['train']} in `train.jsonl`, {c['heldout']} held out in `heldout.jsonl`",
             f"- prompt wrapper `{card['prompt_wrapper']['name']}`: `{card['prompt_wrapper']['template']!r}`",
             f"- refusal suffix: {card['suffix']!r}" if card["suffix"] else "- targets: bare refusals (v0)",
             f"- teacher: `{card['teacher']}`; rejected explanations: {c['teacher_rejected']} "
             f"(`rejected.jsonl`)" if card["variant"] == "v2" else "- teacher: none"]
    if c["general"] < c["general_wanted"]:
        lines.append(f"- **short of general items**: wanted {c['general_wanted']}, only {c['general_available']} "
                     "with a reference answer")
    for ref, n in (c.get("kept_text_only") or {}).items():
        lines.append(f"- **{n} items of `{ref}` kept without their images** (not on disk); their targets may "
                     "describe an image the model does not see")
    if c["general_without_reference"]:
        lines.append(f"- {c['general_without_reference']} general items had no reference answer and were not used")
    for title, key in (("source", "by_source"), ("risk category", "by_risk_category"),
                       ("expected behaviour", "by_expected")):
        lines += ["", f"## By {title}", "", f"| {title} | unsafe | general |", "|---|---|---|"]
        lines += [f"| {k} | {v.get('unsafe', 0)} | {v.get('general', 0)} |" for k, v in card[key].items()]
    if card["by_template"]:
        lines += ["", "## v1 template entries used", "", "| entry | items |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in card["by_template"].items()]
    if card["rejected_reasons"]:
        lines += ["", "## Teacher outputs rejected", "", "| reason | items |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in card["rejected_reasons"].items()]
    return "\n".join(lines) + "\n"
