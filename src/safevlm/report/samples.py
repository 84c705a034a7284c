"""The per-sample browser's rows: thumbnail, prompt (and what a guard made of it), response and every
judge's verdict.

Everything a model or a data set wrote is escaped here (responses may hold HTML or
script). Thumbnails are downscaled with Pillow (WebP) and embedded once each, as a CSS
class whose background is a data URI, so a sample shown for several runs costs its
image only once. Rows past ``max_rows`` are left out, the flagged ones (mistakes,
judge disagreements, errors) kept first.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError, features

from safevlm.data.run_record import JudgeVerdict, RunRecord
from safevlm.report.load import Run, classify, verdict_refused

MAX_ROWS = 2000
THUMB_PX = 96
MAX_TEXT = 3000
FLAGS = ("over", "under", "disagree", "error")
RUNS_DIFFER = "runsdiff"  # the runs' primary judges decided this sample differently
# WebP is about a third of PNG's size for a 96 px thumbnail; PNG/JPEG where Pillow lacks it.
FORMATS = ([("WEBP", {"quality": 80, "method": 2})] if features.check("webp")
           else [("PNG", {}), ("JPEG", {"quality": 80})])


@dataclass
class Thumbs:
    """Thumbnails as CSS classes ``.tN``, one per distinct image."""

    px: int = THUMB_PX
    by_path: dict[Path, str | None] = field(default_factory=dict)
    by_digest: dict[str, str] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)

    by_source: dict[str, str | None] = field(default_factory=dict)

    def css_class(self, path: Path) -> str | None:
        path = path.resolve()
        if path not in self.by_path:
            try:
                raw = path.read_bytes()
            except OSError:
                self.by_path[path] = None
                return None
            source = hashlib.sha1(raw).hexdigest()  # the same file in several runs: one thumbnail
            if source not in self.by_source:
                self.by_source[source] = self._make(raw)
            self.by_path[path] = self.by_source[source]
        return self.by_path[path]

    def _make(self, raw: bytes) -> str | None:
        try:
            with Image.open(io.BytesIO(raw)) as im:
                im.load()
                if im.mode in ("RGBA", "LA", "P"):
                    im = im.convert("RGBA")
                    bg = Image.new("RGB", im.size, "white")
                    bg.paste(im, mask=im.getchannel("A"))
                    im = bg
                im = im.convert("RGB")
                im.thumbnail((self.px, self.px))
        except (OSError, UnidentifiedImageError, ValueError):
            return None
        encoded = []
        for fmt, kw in FORMATS:
            buf = io.BytesIO()
            im.save(buf, fmt, **kw)
            encoded.append((len(buf.getvalue()), fmt.lower(), buf.getvalue()))
        _, fmt, data = min(encoded)
        digest = hashlib.sha1(data).hexdigest()
        if digest not in self.by_digest:
            name = f"t{len(self.by_digest)}"
            self.by_digest[digest] = name
            uri = f"data:image/{fmt};base64,{base64.b64encode(data).decode()}"
            self.rules.append(f".{name}{{background-image:url({uri});width:{im.width}px;height:{im.height}px}}")
        return self.by_digest[digest]

    def css(self) -> str:
        return "\n".join(self.rules)


def _clip(text: Any, limit: int = MAX_TEXT) -> str:
    s = "" if text is None else str(text)
    if len(s) > limit:
        return escape(s[:limit]) + f'<span class="cut"> … ({len(s) - limit} more characters)</span>'
    return escape(s)


def _resolve_image(ref: str, run: Run) -> Path:
    """Absolute, relative to the run directory (saved gym images), or to the run's data root."""
    path = Path(ref)
    if path.is_absolute() or (run.path / path).is_file():
        return path if path.is_absolute() else run.path / path
    root = run.config.get("data_root_resolved")
    return Path(root) / path if root else run.path / path


def _images(sample: RunRecord, run: Run, thumbs: Thumbs) -> str:
    out = []
    for ref in sample.images:
        if not ref:
            continue
        path = _resolve_image(str(ref), run)
        name = thumbs.css_class(path)
        if name is None:
            out.append(f'<span class="th missing" title="{escape(str(ref))}">no image</span>')
        else:
            out.append(f'<span class="th {name}" role="img" aria-label="{escape(str(ref))}" '
                       f'title="{escape(str(ref))}"></span>')
    return "".join(out) or '<span class="noimg">text only</span>'


def _score_text(v: JudgeVerdict) -> str | None:
    """The verdict's main ``score`` in words: a judge that only decides refusal scores 1 or 0 for the right
    or the wrong call (not a confidence); a soft score is the chance the behaviour was right; a score that
    repeats one of ``scores`` (the rubric's safety10) is not shown twice."""
    if v.score is None or v.error:
        return None
    score = float(v.score)
    if any(isinstance(x, (int, float)) and float(x) == score for x in v.scores.values()):
        return None
    if score in (0.0, 1.0):
        return "right call" if score == 1.0 else "wrong call"
    return f"P(right call) {score:.2f}"


def _verdict(name: str, v: JudgeVerdict, primary: bool) -> str:
    if v.error:
        cls, word = "err", f"error: {v.error}"
    elif v.refused is True:
        cls, word = "ref", "refused"
    elif v.refused is False:
        cls, word = "ans", "answered"
    else:
        cls, word = "na", "–"
    bits = [word]
    confidence = (v.detail or {}).get("confidence")
    if isinstance(confidence, (int, float)) and v.refused is not None:
        bits[0] += f" (confidence {float(confidence):.2f})"
    bits += [_score_text(v)] if _score_text(v) else []
    bits += [f"{k} {val:g}" if isinstance(val, (int, float)) else f"{k} {val}" for k, val in v.scores.items()]
    if v.harmful is not None:
        bits.append("harmful" if v.harmful else "not harmful")
    detail = v.detail
    tip = f' title="{escape(json.dumps(detail, ensure_ascii=False, default=str)[:400])}"' if detail else ""
    star = " primary" if primary else ""
    return (f'<div class="v {cls}{star}"{tip}><b>{escape(name)}</b> '
            f'{escape(", ".join(bits))}</div>')


def _defence_trail(sample: RunRecord) -> str:
    """What a guard or defence in front of the model did: original -> rewrite (or the fallback), ECSO's caption."""
    info = sample.generation.model_extra or {}
    guard, defence = info.get("guard"), info.get("defence")
    out = ""
    if isinstance(guard, dict):
        if guard.get("fallback"):
            what = "refused" if guard.get("action") == "refuse" else "fell back to the original"
            out += (f'<div class="rewrite fallback">guard {what}: '
                    f'{_clip(guard.get("fallback_reason"), 300)}</div>')
        else:
            out += f'<div class="rewrite">→ rewritten: {_clip(guard.get("rewrite"), 600)}</div>'
        if guard.get("report"):
            out += f'<div class="report">report: {_clip(guard.get("report"), 600)}</div>'
    if isinstance(defence, dict) and defence.get("answered_from_caption"):
        out += (f'<div class="rewrite">{escape(str(defence.get("name")))}: answered from the caption '
                f'"{_clip(defence.get("caption"), 300)}" (first answer: {_clip(defence.get("first_answer"), 300)})</div>')
    return out


def _row(ri: int, run: Run, sample: RunRecord, thumbs: Thumbs, first: bool = False, runs_differ: bool = False) -> str:
    flags = classify(sample, run.primary_judge)
    classes = " ".join([k for k in FLAGS if flags[k]] + ([RUNS_DIFFER] if runs_differ else [])
                       + (["first"] if first else []))
    expected = sample.expected.value
    category = sample.risk_category or sample.category or ""
    meta = [f'<span class="run r{ri}">{escape(run.label)}</span>', f'<span class="bench">{escape(sample.bench)}</span>',
            f'<span class="sid">{escape(sample.id)}</span>',
            f'<span class="exp e-{escape(expected)}">expected: {escape(expected)}</span>']
    if category:
        meta.append(f'<span class="cat">{escape(str(category))}</span>')
    prompt = _clip(sample.text)
    if sample.choices:
        items = "".join(f"<li>{_clip(c, 300)}</li>" for c in sample.choices.values())
        prompt += f'<ol class="choices" type="A">{items}</ol>'
    if sample.answer is not None:
        prompt += f'<div class="answer">reference: {_clip(sample.answer, 300)}</div>'
    prompt += _defence_trail(sample)
    response = _clip(sample.response)
    if sample.generation_failed:
        response += f'<div class="generr">generation error: {_clip(sample.generation.error, 500)}</div>'
    judges = run.judges
    verdicts = sample.verdicts
    order = [j for j in judges if j in verdicts] + [j for j in verdicts if j not in judges]
    vhtml = "".join(_verdict(j, verdicts[j], j == run.primary_judge) for j in order) or "–"
    return (f'<tr class="{classes}" data-run="{ri}" data-bench="{escape(sample.bench)}">'
            f'<td class="img">{_images(sample, run, thumbs)}</td><td class="meta">{"".join(meta)}</td>'
            f'<td class="prompt"><div class="scroll">{prompt}</div></td><td class="resp"><div class="scroll">{response}</div></td><td class="verd">{vhtml}</td></tr>')


def runs_disagree(runs: list[Run]) -> set[tuple[str, str]]:
    """Keys of the samples on which the runs' primary judges decided refusal differently (undecided
    verdicts, errors and failed generations do not count as a decision)."""
    decided: dict[tuple[str, str], set[bool]] = {}
    for run in runs:
        for s in run.samples:
            refused = None if s.generation_failed else verdict_refused(s, run.primary_judge)
            if refused is not None:
                decided.setdefault(s.key, set()).add(bool(refused))
    return {k for k, v in decided.items() if len(v) > 1} if len(runs) > 1 else set()


def select_rows(runs: list[Run], max_rows: int = MAX_ROWS) -> tuple[list[tuple[int, RunRecord]], int]:
    """The (run index, record) pairs to embed, the same sample's runs side by side; and the total."""
    order: dict[tuple[str, str], int] = {}
    pairs = []
    for ri, run in enumerate(runs):
        for s in run.samples:
            key = s.key
            order.setdefault(key, len(order))
            pairs.append((order[key], ri, s))
    total = len(pairs)
    if total > max_rows:
        differing = runs_disagree(runs)

        def marked(p: tuple[int, int, RunRecord]) -> bool:
            return p[2].key in differing or any(classify(p[2], runs[p[1]].primary_judge).values())

        flagged = [p for p in pairs if marked(p)]
        rest = [p for p in pairs if not marked(p)]
        pairs = (flagged + rest)[:max_rows]
    pairs.sort(key=lambda p: (p[0], p[1]))
    return [(ri, s) for _, ri, s in pairs], total


def sample_rows(runs: list[Run], thumbs: Thumbs, max_rows: int = MAX_ROWS) -> tuple[str, dict[str, int], int]:
    """The browser's ``<tr>`` rows, the count per flag among them, and the number of records in all."""
    chosen, total = select_rows(runs, max_rows)
    counts = {k: 0 for k in (*FLAGS, RUNS_DIFFER)}
    differing = runs_disagree(runs)
    rows = []
    previous = None
    for ri, s in chosen:
        for k, on in classify(s, runs[ri].primary_judge).items():
            counts[k] += on
        key = s.key
        counts[RUNS_DIFFER] += key in differing
        rows.append(_row(ri, runs[ri], s, thumbs, first=len(runs) > 1 and key != previous,
                         runs_differ=key in differing))
        previous = key
    counts["shown"] = len(rows)
    return "\n".join(rows), counts, total
