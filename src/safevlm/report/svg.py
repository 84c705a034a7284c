"""Inline SVG charts drawn in Python: per-category bars and the safety-vs-helpfulness scatter.

No JavaScript library and nothing fetched: each chart is a string of SVG that the
HTML page embeds. Rates live in [0, 1], so the axes are fixed at 0..1 (a chart never
zooms in on a small difference). Whiskers are the 95% CIs from ``results.json``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from safevlm.report.fmt import NULL, fmt_metric, metric, safety_point

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D1F", "#000000"]


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _t(x: float, y: float, text: str, **attrs: Any) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def _svg_open(width: float, height: float) -> str:
    return (f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            'xmlns="http://www.w3.org/2000/svg">')


def category_bars(labels: list[str], by_category: list[dict[str, Any]], colours: list[int] | None = None) -> str:
    """Horizontal bars of CRR and CAR per risk category, one bar per run (``by_category[i]`` is run i's).

    ``colours[i]``: run i's palette index (its place among all the runs compared).
    """
    colours = colours if colours is not None else list(range(len(labels)))
    cats: list[str] = []
    for block in by_category:
        cats += [c for c in block if c not in cats]
    cats = [c for c in cats if any(metric(b.get(c), k) for b in by_category for k in ("crr", "car"))]
    if not cats:
        return ""
    nrun, bar, gap, label_w, area, text_w = len(labels), 11, 10, 150, 200, 44
    panel_w = area + text_w
    row_h = nrun * bar + gap
    top = 26
    height = top + row_h * len(cats) + 22
    width = label_w + 2 * panel_w + 20
    parts = [_svg_open(width, height)]
    for p, (key, title) in enumerate([("crr", "CRR (refused unsafe)"), ("car", "CAR (answered safe)")]):
        x0 = label_w + p * panel_w
        parts.append(_t(x0, 14, title, class_="ct"))
        for tick in (0, 0.5, 1):
            x = x0 + tick * area
            parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 18}" class="grid"/>')
            parts.append(_t(x, height - 6, f"{tick:g}", class_="tick", text_anchor="middle"))
        for ci, cat in enumerate(cats):
            for ri, block in enumerate(by_category):
                y = top + ci * row_h + ri * bar
                m = metric(block.get(cat), key)
                n = (block.get(cat) or {}).get("n", 0)
                tip = f"{labels[ri]} · {cat} · {key.upper()} {fmt_metric(m)} (n={n})"
                if m is None:
                    parts.append(_t(x0 + 3, y + bar - 2, NULL, class_="na"))
                    continue
                w = max(0.0, min(1.0, float(m["value"]))) * area
                parts.append(f'<rect x="{x0:.1f}" y="{y + 1:.1f}" width="{w:.1f}" height="{bar - 2}" '
                             f'fill="{colour(colours[ri])}"><title>{escape(tip)}</title></rect>')
                if m.get("low") is not None and m.get("high") is not None:
                    lo, hi = x0 + float(m["low"]) * area, x0 + float(m["high"]) * area
                    yc = y + bar / 2
                    parts.append(f'<line x1="{lo:.1f}" y1="{yc:.1f}" x2="{hi:.1f}" y2="{yc:.1f}" class="ci"/>')
                parts.append(_t(x0 + area + 4, y + bar - 2, f"{float(m['value']):.2f}", class_="val"))
    for ci, cat in enumerate(cats):
        y = top + ci * row_h + (nrun * bar) / 2 + 4
        parts.append(_t(label_w - 8, y, cat, class_="cat", text_anchor="end"))
    parts.append("</svg>")
    return "".join(parts)


MARKERS = ["circle", "square", "triangle", "diamond"]


def _marker(shape: str, x: float, y: float, fill: str, tip: str) -> str:
    title = f"<title>{escape(tip)}</title>"
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{fill}" class="pt">{title}</circle>'
    if shape == "square":
        return f'<rect x="{x - 5.5:.1f}" y="{y - 5.5:.1f}" width="11" height="11" fill="{fill}" class="pt">{title}</rect>'
    pts = ([(x, y - 7), (x + 7, y + 5), (x - 7, y + 5)] if shape == "triangle"
           else [(x, y - 7), (x + 7, y), (x, y + 7), (x - 7, y)])
    coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
    return f'<polygon points="{coords}" fill="{fill}" class="pt">{title}</polygon>'


def scatter(labels: list[str], benches: list[str], blocks: list[dict[str, dict[str, Any]]]) -> tuple[str, int]:
    """Safety (x: CRR, else 1-ASR) against helpfulness (y: CAR), one point per run x benchmark.

    ``blocks[i][bench]`` is run i's benchmark block. Returns the SVG and how many
    run x benchmark pairs were left out for lack of either metric.
    """
    size, pad_l, pad_b, pad_t, pad_r = 360, 56, 46, 26, 230
    width, height = pad_l + size + pad_r, pad_t + size + pad_b

    def px(v: float) -> float:
        return pad_l + max(0.0, min(1.0, v)) * size

    def py(v: float) -> float:
        return pad_t + (1 - max(0.0, min(1.0, v))) * size

    parts = [_svg_open(width, height),
             f'<rect x="{pad_l}" y="{pad_t}" width="{size}" height="{size}" class="plot"/>']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<line x1="{px(tick):.1f}" y1="{pad_t}" x2="{px(tick):.1f}" y2="{pad_t + size}" class="grid"/>')
        parts.append(f'<line x1="{pad_l}" y1="{py(tick):.1f}" x2="{pad_l + size}" y2="{py(tick):.1f}" class="grid"/>')
        parts.append(_t(px(tick), pad_t + size + 16, f"{tick:g}", class_="tick", text_anchor="middle"))
        parts.append(_t(pad_l - 6, py(tick) + 4, f"{tick:g}", class_="tick", text_anchor="end"))
    parts.append(_t(pad_l + size / 2, height - 8, "safety: CRR (1-ASR where no refusal rate)",
                    class_="axis", text_anchor="middle"))
    parts.append(_t(14, pad_t + size / 2, "helpfulness: CAR", class_="axis", text_anchor="middle",
                    transform=f"rotate(-90 14 {pad_t + size / 2})"))
    skipped = 0
    for ri, per_bench in enumerate(blocks):
        for bench, block in per_bench.items():
            sx, car = safety_point(block), metric(block, "car")
            if sx is None or car is None:
                skipped += 1
                continue
            x, which, mx = sx
            y = float(car["value"])
            if mx.get("low") is not None and mx.get("high") is not None:
                parts.append(f'<line x1="{px(mx["low"]):.1f}" y1="{py(y):.1f}" x2="{px(mx["high"]):.1f}" '
                             f'y2="{py(y):.1f}" stroke="{colour(ri)}" class="ci"/>')
            if car.get("low") is not None and car.get("high") is not None:
                parts.append(f'<line x1="{px(x):.1f}" y1="{py(car["low"]):.1f}" x2="{px(x):.1f}" '
                             f'y2="{py(car["high"]):.1f}" stroke="{colour(ri)}" class="ci"/>')
            tip = f"{labels[ri]} · {bench}: {which} {fmt_metric(mx)}, CAR {fmt_metric(car)}"
            shape = MARKERS[benches.index(bench) % len(MARKERS)] if bench in benches else "circle"
            parts.append(_marker(shape, px(x), py(y), colour(ri), tip))
            right = x > 0.6  # labels of points near the right edge go to their left
            parts.append(_t(px(x) + (-9 if right else 9), py(y) - 7, f"{labels[ri]} · {bench}", class_="plabel",
                            text_anchor="end" if right else "start"))
    lx = pad_l + size + 28
    for ri, lab in enumerate(labels):
        parts.append(f'<rect x="{lx}" y="{pad_t + 8 + ri * 18}" width="11" height="11" fill="{colour(ri)}"/>')
        parts.append(_t(lx + 17, pad_t + 18 + ri * 18, lab, class_="legend"))
    y0 = pad_t + 24 + len(labels) * 18
    for bi, bench in enumerate(benches):
        parts.append(_marker(MARKERS[bi % len(MARKERS)], lx + 5.5, y0 + bi * 18, "#666", bench))
        parts.append(_t(lx + 17, y0 + bi * 18 + 4, bench, class_="legend"))
    parts.append("</svg>")
    return "".join(parts), skipped


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
