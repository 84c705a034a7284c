"""Inline SVG charts drawn in Python: per-category bars and the safety-vs-helpfulness scatter.

No JavaScript library and nothing fetched: each chart is a string of SVG that the
HTML page embeds. Rates live in [0, 1], so the axes are fixed at 0..1 (a chart never
zooms in on a small difference). Whiskers are the 95% intervals from ``results.json``.

Layout is computed, not guessed, so that no two labels overprint at any page width:

- text is measured with the bundled DejaVu Sans Bold (:func:`text_width`), the widest of
  the fonts the page asks for, so a measured box holds the text in whatever font the
  browser picks;
- a chart is several small SVGs (one per metric panel, one scatter per benchmark) that
  the page wraps with CSS (``.panels``): at 800 px they stack, at 1400 px they sit side by
  side, and none is wider than its natural size or the page (``max-width: 100%``);
- label columns are as wide as their longest label (up to a cap; longer labels wrap onto
  a second line, then are shortened with the full text in a tooltip); every bar's value
  and n sit in a gutter of their own width; scatter labels are placed beside their
  point where they touch nothing, else in a column with a leader line; coincident
  points are spread on a small ring so none hides another.

:func:`text_boxes` reads the boxes back from an SVG string; the tests assert they do not
overlap, and a headless-Chromium test checks the same in a real browser.
"""

from __future__ import annotations

import functools
import math
import re
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path
from typing import Any

from safevlm.report.fmt import NULL, fmt_metric, metric

# Okabe-Ito (distinguishable with the common colour-vision deficiencies), then two more for up to 10 runs.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D1F", "#000000", "#7F7F7F",
           "#332288"]
FONT_FILE = Path(__file__).resolve().parent.parent / "assets" / "fonts" / "DejaVuSans-Bold.ttf"
#: font size (px) of each text class the charts use (report.css sets the same)
SIZES = {"ct": 12, "tick": 11, "val": 11, "na": 11, "axis": 12, "cat": 12, "plabel": 11, "legend": 12}


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


@functools.lru_cache(maxsize=8)
def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.truetype(str(FONT_FILE), size)
    except OSError:
        return None


def text_width(text: str, size: int = 11) -> float:
    """The width of ``text`` in px at ``size`` px, measured in DejaVu Sans Bold (an upper bound for the
    page's sans-serif fonts); 0.7 em per character where the font file is missing."""
    font = _font(size)
    return float(font.getlength(text)) if font is not None else 0.7 * size * len(text)


def _t(x: float, y: float, text: str, **attrs: Any) -> str:
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def _svg_open(width: float, height: float, label: str = "") -> str:
    aria = f' aria-label="{escape(label)}"' if label else ""
    return (f'<svg class="chart" role="img"{aria} viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
            f'height="{height:.0f}" xmlns="http://www.w3.org/2000/svg">')


def text_boxes(svg: str) -> list[tuple[str, float, float, float, float]]:
    """``(text, x0, y0, x1, y1)`` of every ``<text>`` of an SVG string, from its position, anchor and
    class (:data:`SIZES`) as :func:`text_width` measures it; the viewBox is the first entry."""
    root = ET.fromstring(svg)
    _, _, w, h = (float(v) for v in root.get("viewBox", "0 0 0 0").split())
    out = [("<viewBox>", 0.0, 0.0, w, h)]
    for el in root.iter("{http://www.w3.org/2000/svg}text"):
        text = (el.text or "") + "".join(child.tail or "" for child in el)  # a <title> child is a tooltip
        size = SIZES.get(el.get("class", ""), 12)
        x, y = float(el.get("x", 0)), float(el.get("y", 0))
        width = text_width(text, size)
        anchor = el.get("text-anchor", "start")
        x0 = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
        if el.get("transform", "").startswith("rotate(-90"):  # a vertical axis title: the box turns too
            out.append((text, x - size, y - width / 2, x + 0.25 * size, y + width / 2))
            continue
        out.append((text, x0, y - 0.93 * size, x0 + width, y + 0.24 * size))
    return out


def overlaps(svg: str, slack: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of texts of ``svg`` whose boxes overlap, and texts reaching outside the viewBox (paired with
    ``<viewBox>``); empty when the layout is clean."""
    boxes = text_boxes(svg)
    (_, _, _, w, h), texts = boxes[0], boxes[1:]
    bad = [(t, "<viewBox>") for t, x0, y0, x1, y1 in texts if x0 < -slack or y0 < -slack or x1 > w + slack
           or y1 > h + slack]
    for i, (a, ax0, ay0, ax1, ay1) in enumerate(texts):
        for b, bx0, by0, bx1, by1 in texts[i + 1:]:
            if min(ax1, bx1) - max(ax0, bx0) > slack and min(ay1, by1) - max(ay0, by0) > slack:
                bad.append((a, b))
    return bad


def _fit(label: str, size: int, width: float) -> list[str]:
    """``label`` on at most two lines of ``width`` px: broken at spaces, ``_``, ``-`` or ``/``, the
    second line shortened with an ellipsis when still too long."""
    if text_width(label, size) <= width:
        return [label]
    parts = re.findall(r"[^ _\-/]+[ _\-/]*", label) or [label]
    first = ""
    while parts and text_width(first + parts[0], size) <= width:
        first += parts.pop(0)
    if not first:  # one unbreakable word: cut it
        cut = len(label)
        while cut > 1 and text_width(label[:cut], size) > width:
            cut -= 1
        first, parts = label[:cut], [label[cut:]]
    rest = "".join(parts)
    if text_width(rest, size) > width:
        while rest and text_width(rest + "…", size) > width:
            rest = rest[:-1]
        rest += "…"
    return [first.rstrip(), rest] if rest else [first.rstrip()]


# -- bars per category ------------------------------------------------------------------------------

PANELS = [("crr", "CRR (refused unsafe)"), ("car", "CAR (answered safe)"),
          ("paired_accuracy", "both right (groups)")]
LABEL_MAX = 240  # px: longer category labels wrap


def _value_text(m: dict[str, Any] | None, n: Any) -> str:
    if m is None:
        return f"{NULL} n=0" if not n else NULL
    return f"{float(m['value']):.2f} n={m.get('n', n)}"


def _bar_panel(key: str, title: str, cats: list[str], labels: list[str], blocks: list[dict[str, Any]],
               colours: list[int]) -> str:
    """One metric's panel: a label column, bars with whiskers on 0..1, and a gutter for value and n."""
    nrun, pitch, bar, gap = len(labels), 15, 11, 12
    fitted = {c: _fit(c, SIZES["cat"], LABEL_MAX) for c in cats}
    label_w = max(text_width(line, SIZES["cat"]) for lines in fitted.values() for line in lines) + 14
    values = [[metric(b.get(c), key) for b in blocks] for c in cats]
    texts = [_value_text(m, (b.get(c) or {}).get("n", 0)) for c, row in zip(cats, values) for m, b in zip(row, blocks)]
    area = 200.0
    gutter = max(text_width(t, SIZES["val"]) for t in texts) + 12
    title_w = text_width(title, SIZES["ct"])
    width = max(label_w + area + gutter, title_w + 8) + 4
    rows = [max(nrun * pitch, len(fitted[c]) * 15) + gap for c in cats]
    top = 26
    height = top + sum(rows) + 22
    x0 = label_w
    parts = [_svg_open(width, height, title), _t(4, 15, title, class_="ct")]
    for tick in (0, 0.5, 1):
        x = x0 + tick * area
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 18}" class="grid"/>')
        parts.append(_t(x, height - 5, f"{tick:g}", class_="tick", text_anchor="middle"))
    y_row = float(top)
    for c, row_h, row in zip(cats, rows, values):
        block_h = nrun * pitch
        lines = fitted[c]
        y_lab = y_row + block_h / 2 - (len(lines) - 1) * 7.5 + 4
        for k, line in enumerate(lines):
            tip = f"<title>{escape(c)}</title>" if line != c else ""
            parts.append(f'<text x="{label_w - 8:.1f}" y="{y_lab + 15 * k:.1f}" class="cat" text-anchor="end">'
                         f"{tip}{escape(line)}</text>")
        for ri, m in enumerate(row):
            y = y_row + ri * pitch + (pitch - bar) / 2
            n = (blocks[ri].get(c) or {}).get("n", 0)
            tip = f"{labels[ri]} · {c} · {title.split(' (')[0]} {fmt_metric(m)} (n={(m or {}).get('n', n)})"
            text_y = y + bar - 1.5
            if m is not None:
                w = max(0.0, min(1.0, float(m["value"]))) * area
                parts.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar}" '
                             f'fill="{colour(colours[ri])}"><title>{escape(tip)}</title></rect>')
                if m.get("low") is not None and m.get("high") is not None:
                    lo, hi = x0 + float(m["low"]) * area, x0 + float(m["high"]) * area
                    yc = y + bar / 2
                    parts.append(f'<line x1="{lo:.1f}" y1="{yc:.1f}" x2="{hi:.1f}" y2="{yc:.1f}" class="ci"/>')
            parts.append(_t(x0 + area + 6, text_y, _value_text(m, n), class_="val" if m is not None else "na"))
        y_row += row_h
    parts.append("</svg>")
    return "".join(parts)


def category_bars(labels: list[str], by_category: list[dict[str, Any]], colours: list[int] | None = None) -> str:
    """Bars of CRR, CAR and (where paired items were scored) "both right" per category, one bar per run
    (``by_category[i]`` is run i's), each bar with its 95 % interval, value and n; one SVG per metric,
    wrapped by the page. ``colours[i]``: run i's palette index (its place among all the runs compared)."""
    colours = colours if colours is not None else list(range(len(labels)))
    cats: list[str] = []
    for block in by_category:
        cats += [c for c in block if c not in cats]
    panels = [(k, t) for k, t in PANELS if any(metric(b.get(c), k) for b in by_category for c in cats)]
    cats = [c for c in cats if any(metric(b.get(c), k) for b in by_category for k, _ in panels)]
    if not cats or not panels:
        return ""
    svgs = [_bar_panel(k, t, cats, labels, by_category, colours) for k, t in panels]
    return '<div class="panels">' + "".join(f'<div class="panel">{svg}</div>' for svg in svgs) + "</div>"


# -- safety vs helpfulness -------------------------------------------------------------------------

#: Marker shapes, one per run (with its colour) up to ten runs.
MARKERS = ["circle", "square", "triangle", "diamond", "triangle-down", "pentagon", "hexagon", "star", "plus",
           "cross"]
MARKER_R = 6.5


def _polygon(x: float, y: float, k: int, r: float, turn: float = -90.0, inner: float | None = None) -> str:
    pts = []
    for i in range(k * (2 if inner else 1)):
        rad = (inner if inner and i % 2 else r)
        a = math.radians(turn + i * 360 / (k * (2 if inner else 1)))
        pts.append(f"{x + rad * math.cos(a):.1f},{y + rad * math.sin(a):.1f}")
    return " ".join(pts)


def marker(shape: str, x: float, y: float, fill: str, tip: str = "", cls: str = "pt") -> str:
    """An SVG marker of ``shape`` (:data:`MARKERS`) centred on (x, y), with a tooltip."""
    title = f"<title>{escape(tip)}</title>" if tip else ""
    r = MARKER_R
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r - 0.5:.1f}" fill="{fill}" class="{cls}">{title}</circle>'
    if shape == "square":
        s = r * 1.6
        return (f'<rect x="{x - s / 2:.1f}" y="{y - s / 2:.1f}" width="{s:.1f}" height="{s:.1f}" fill="{fill}" '
                f'class="{cls}">{title}</rect>')
    if shape in ("plus", "cross"):
        a, b = r, r * 0.35
        arms = [(-a, -b, a, b), (-b, -a, b, a)]
        d = "".join(f"M{x + x0:.1f},{y + y0:.1f}H{x + x1:.1f}V{y + y1:.1f}H{x + x0:.1f}Z" for x0, y0, x1, y1 in arms)
        rot = f' transform="rotate(45 {x:.1f} {y:.1f})"' if shape == "cross" else ""
        return f'<path d="{d}" fill="{fill}" class="{cls}"{rot}>{title}</path>'
    sides = {"triangle": (3, -90.0, None), "triangle-down": (3, 90.0, None), "diamond": (4, -90.0, None),
             "pentagon": (5, -90.0, None), "hexagon": (6, 0.0, None), "star": (5, -90.0, r * 0.45)}[shape]
    k, turn, inner = sides
    return (f'<polygon points="{_polygon(x, y, k, r + (1 if k == 3 else 0), turn, inner)}" fill="{fill}" '
            f'class="{cls}">{title}</polygon>')


def marker_swatch(shape: str, fill: str) -> str:
    """A marker as a 16 px inline SVG, for legends written in HTML."""
    return (f'<svg class="swatch" viewBox="0 0 16 16" width="16" height="16" xmlns="http://www.w3.org/2000/svg" '
            f'aria-hidden="true">{marker(shape, 8, 8, fill, cls="pt")}</svg>')


def _spread(points: list[tuple[float, float]], radius: float = 8.0, near: float = 4.0) -> list[tuple[float, float]]:
    """Points drawn within ``near`` px of each other moved onto a ring of ``radius`` around their centre,
    so every marker shows (each tooltip keeps its exact values)."""
    out = list(points)
    done: set[int] = set()
    for i in range(len(points)):
        if i in done:
            continue
        group = [j for j in range(len(points)) if j not in done
                 and math.dist(points[i], points[j]) <= near]
        done.update(group)
        if len(group) < 2:
            continue
        cx = sum(points[j][0] for j in group) / len(group)
        cy = sum(points[j][1] for j in group) / len(group)
        ring = max(radius, MARKER_R * 1.2 * len(group) / math.pi)
        for k, j in enumerate(group):
            a = math.radians(-90 + 360 * k / len(group))
            out[j] = (cx + ring * math.cos(a), cy + ring * math.sin(a))
    return out


def _free(box: tuple[float, float, float, float], taken: list[tuple[float, float, float, float]]) -> bool:
    x0, y0, x1, y1 = box
    return all(min(x1, b[2]) - max(x0, b[0]) <= 0 or min(y1, b[3]) - max(y0, b[1]) <= 0 for b in taken)


def scatter(points: list[dict[str, Any]], *, title: str = "") -> str:
    """Safety (x: CRR, else 1-ASR) against helpfulness (y: CAR) on fixed 0..1 axes.

    ``points``: dicts with ``x``, ``y`` (metric dicts with ``value``, ``low``, ``high``),
    ``label``, ``colour``, ``shape`` (:data:`MARKERS`) and ``tip``. Each label goes beside
    its point where it overlaps no marker, label, tick or the plot's edge, else into a
    column right of the plot joined to its point by a leader line.
    """
    size, pad_l, pad_b = 300, 50, 44
    pad_t = 26 if title else 10
    size_y = size

    def px(v: float) -> float:
        return pad_l + max(0.0, min(1.0, v)) * size

    def py(v: float) -> float:
        return pad_t + (1 - max(0.0, min(1.0, v))) * size_y

    fs = SIZES["plabel"]
    centres = _spread([(px(float(p["x"]["value"])), py(float(p["y"]["value"]))) for p in points])
    taken: list[tuple[float, float, float, float]] = [
        (cx - MARKER_R - 2, cy - MARKER_R - 2, cx + MARKER_R + 2, cy + MARKER_R + 2) for cx, cy in centres]
    placed: list[tuple[int, float, float, str]] = []  # point index, x, y, anchor
    callouts: list[int] = []
    for i, ((cx, cy), p) in enumerate(zip(centres, points)):
        w = text_width(p["label"], fs)
        d = MARKER_R + 3
        for dx, dy, anchor in ((d, 4, "start"), (-d, 4, "end"), (0, -d - 2, "middle"), (0, d + fs, "middle"),
                               (d, -d, "start"), (d, d + fs - 2, "start"), (-d, -d, "end"), (-d, d + fs - 2, "end")):
            x = cx + dx
            x0 = x - w if anchor == "end" else x - w / 2 if anchor == "middle" else x
            box = (x0 - 1, cy + dy - 0.93 * fs - 1, x0 + w + 1, cy + dy + 0.24 * fs + 1)
            if box[0] >= pad_l + 1 and box[2] <= pad_l + size - 1 and box[1] >= pad_t + 1 \
                    and box[3] <= pad_t + size_y - 1 and _free(box, taken):
                taken.append(box)
                placed.append((i, x, cy + dy, anchor))
                break
        else:
            callouts.append(i)
    col_x = pad_l + size + 22
    col_w = max((text_width(points[i]["label"], fs) for i in callouts), default=0.0)
    width = col_x + col_w + 6 if callouts else pad_l + size + 12
    width = max(width, text_width(title, SIZES["ct"]) + 8)
    # the column: in the points' vertical order, 15 px apart, as near their points as that allows
    ys, last = {}, pad_t - 15 + 0.93 * fs
    for i in sorted(callouts, key=lambda i: centres[i][1]):
        last = max(centres[i][1] + 4, last + 15)
        ys[i] = last
    height = max(pad_t + size_y + pad_b, (last + 8) if callouts else 0)
    parts = [_svg_open(width, height, title or "safety vs helpfulness"),
             f'<rect x="{pad_l}" y="{pad_t}" width="{size}" height="{size_y}" class="plot"/>']
    if title:
        parts.append(_t(4, 15, title, class_="ct"))
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<line x1="{px(tick):.1f}" y1="{pad_t}" x2="{px(tick):.1f}" y2="{pad_t + size_y}" class="grid"/>')
        parts.append(f'<line x1="{pad_l}" y1="{py(tick):.1f}" x2="{pad_l + size}" y2="{py(tick):.1f}" class="grid"/>')
        parts.append(_t(px(tick), pad_t + size_y + 15, f"{tick:g}", class_="tick", text_anchor="middle"))
        parts.append(_t(pad_l - 6, py(tick) + 4, f"{tick:g}", class_="tick", text_anchor="end"))
    parts.append(_t(pad_l + size / 2, pad_t + size_y + 36, "safety: CRR (1-ASR where no refusal rate)",
                    class_="axis", text_anchor="middle"))
    parts.append(_t(16, pad_t + size_y / 2, "helpfulness: CAR", class_="axis", text_anchor="middle",
                    transform=f"rotate(-90 16 {pad_t + size_y / 2:.1f})"))
    for p, (cx, cy) in zip(points, centres):
        mx, my = p["x"], p["y"]
        tx, ty = px(float(mx["value"])), py(float(my["value"]))
        if mx.get("low") is not None and mx.get("high") is not None:
            parts.append(f'<line x1="{px(mx["low"]):.1f}" y1="{ty:.1f}" x2="{px(mx["high"]):.1f}" y2="{ty:.1f}" '
                         f'stroke="{p["colour"]}" class="ci"/>')
        if my.get("low") is not None and my.get("high") is not None:
            parts.append(f'<line x1="{tx:.1f}" y1="{py(my["low"]):.1f}" x2="{tx:.1f}" y2="{py(my["high"]):.1f}" '
                         f'stroke="{p["colour"]}" class="ci"/>')
        if math.dist((tx, ty), (cx, cy)) > 0.5:  # moved off a shared spot: a spoke back to the true value
            parts.append(f'<line x1="{tx:.1f}" y1="{ty:.1f}" x2="{cx:.1f}" y2="{cy:.1f}" class="spoke"/>')
    for p, (cx, cy) in zip(points, centres):
        parts.append(marker(p["shape"], cx, cy, p["colour"], p["tip"]))
    for i, x, y, anchor in placed:
        parts.append(_t(x, y, points[i]["label"], class_="plabel", text_anchor=anchor))
    for i in callouts:
        cx, cy = centres[i]
        parts.append(f'<line x1="{cx + MARKER_R:.1f}" y1="{cy:.1f}" x2="{col_x - 3:.1f}" y2="{ys[i] - 4:.1f}" '
                     'class="leader"/>')
        parts.append(_t(col_x, ys[i], points[i]["label"], class_="plabel"))
    parts.append("</svg>")
    return "".join(parts)


def scatter_point(block: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str] | None:
    """(safety metric, CAR, which safety) of a benchmark block, or None when either is missing."""
    from safevlm.report.fmt import safety_point

    sx, car = safety_point(block), metric(block, "car")
    if sx is None or car is None:
        return None
    _, which, mx = sx
    return mx, car, which


def xy_scatter(points: list[tuple[float, float, str, bool]], *, x_label: str, y_label: str,
               box: tuple[float, float, float, float] | None = None, y_max: float = 1.0) -> str:
    """Points ``(x, y, tooltip, highlighted)`` on fixed axes x 0..1, y 0..``y_max``; ``box`` =
    ``(x_lo, x_hi, y_lo, y_hi)`` draws the selection region (highlighted points filled, others hollow)."""
    size, pad_l, pad_b, pad_t, pad_r = 320, 56, 46, 16, 16
    width, height = pad_l + size + pad_r, pad_t + size + pad_b

    def px(v: float) -> float:
        return pad_l + max(0.0, min(1.0, v)) * size

    def py(v: float) -> float:
        return pad_t + (1 - max(0.0, min(1.0, v / y_max))) * size

    parts = [_svg_open(width, height), f'<rect x="{pad_l}" y="{pad_t}" width="{size}" height="{size}" class="plot"/>']
    for k in range(5):
        tick = k / 4
        parts.append(_t(px(tick), pad_t + size + 16, f"{tick:g}", class_="tick", text_anchor="middle"))
        parts.append(_t(pad_l - 6, py(tick * y_max) + 4, f"{tick * y_max:.2g}", class_="tick", text_anchor="end"))
    if box is not None:
        x0, x1, y0, y1 = box
        parts.append(f'<rect x="{px(x0):.1f}" y="{py(min(y1, y_max)):.1f}" width="{px(x1) - px(x0):.1f}" '
                     f'height="{py(y0) - py(min(y1, y_max)):.1f}" fill="none" stroke="{colour(1)}" '
                     'stroke-dasharray="4 3"/>')
    for x, y, tip, on in points:
        fill = colour(0) if on else "none"
        parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{fill}" stroke="{colour(0)}" '
                     f'fill-opacity="0.6"><title>{escape(tip)}</title></circle>')
    parts.append(_t(pad_l + size / 2, height - 8, x_label, class_="axis", text_anchor="middle"))
    parts.append(_t(14, pad_t + size / 2, y_label, class_="axis", text_anchor="middle",
                    transform=f"rotate(-90 14 {pad_t + size / 2})"))
    parts.append("</svg>")
    return "".join(parts)


def line_chart(series: dict[str, list[tuple[float, float]]], *, x_label: str, y_label: str,
               y_range: tuple[float, float] = (0.0, 1.0)) -> str:
    """One line per series of ``(x, y)`` points (e.g. a reward component per training step)."""
    if not any(series.values()):
        return ""
    w, h, pad_l, pad_b, pad_t, pad_r = 420, 220, 52, 40, 14, 170
    xs = [x for pts in series.values() for x, _ in pts]
    x_lo, x_hi = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y_lo, y_hi = y_range

    def px(v: float) -> float:
        return pad_l + (v - x_lo) / (x_hi - x_lo) * w

    def py(v: float) -> float:
        return pad_t + (1 - (max(y_lo, min(y_hi, v)) - y_lo) / (y_hi - y_lo)) * h

    parts = [_svg_open(pad_l + w + pad_r, pad_t + h + pad_b),
             f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" class="plot"/>']
    for k in range(5):
        yv = y_lo + (y_hi - y_lo) * k / 4
        parts.append(_t(pad_l - 6, py(yv) + 4, f"{yv:.2g}", class_="tick", text_anchor="end"))
        xv = x_lo + (x_hi - x_lo) * k / 4
        parts.append(_t(px(xv), pad_t + h + 16, f"{xv:.0f}", class_="tick", text_anchor="middle"))
    for i, (name, pts) in enumerate(series.items()):
        if not pts:
            continue
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour(i)}" stroke-width="1.6">'
                     f'<title>{escape(name)}</title></polyline>')
        parts.append(f'<rect x="{pad_l + w + 14}" y="{pad_t + 4 + i * 18}" width="11" height="11" fill="{colour(i)}"/>')
        parts.append(_t(pad_l + w + 31, pad_t + 14 + i * 18, name, class_="legend"))
    parts.append(_t(pad_l + w / 2, pad_t + h + 34, x_label, class_="axis", text_anchor="middle"))
    parts.append(_t(14, pad_t + h / 2, y_label, class_="axis", text_anchor="middle",
                    transform=f"rotate(-90 14 {pad_t + h / 2})"))
    parts.append("</svg>")
    return "".join(parts)
