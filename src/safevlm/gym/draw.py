"""Drawing gym images with Pillow: large filled silhouettes, places, a word band.

An image is fully described by an :class:`ImageSpec` (plain data, chosen by the
generator's seeded RNG); :func:`render` turns it into pixels with no randomness, so
the same spec always gives the same bytes and images can be drawn lazily, in any
order, in any process. Shapes are defined in a unit box and scaled, so
``image_size`` is free; 112 px (16 Qwen2.5-VL tokens) is the default the gym model
was sized for. Each object is one big blob of its colour with a few dark details that
make its outline distinctive (ball seams vs apple stem, fire's points vs tree's crown).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw

from safevlm.data.typography import SANS_BOLD, load_font
from safevlm.gym.world import COLORS

Pt = tuple[float, float]
DARK, LIGHT, GREY = (40, 40, 40), (242, 242, 236), (150, 150, 150)
BAND = 0.29  # word band height, as a fraction of the image


def _rot(points: list[Pt], deg: float) -> list[Pt]:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return [(0.5 + (x - 0.5) * c - (y - 0.5) * s, 0.5 + (x - 0.5) * s + (y - 0.5) * c) for x, y in points]


# Each shape: (primitive, geometry, role[, width]). role: main colour, dark detail, light detail.
SHAPES: dict[str, list[tuple]] = {
    "knife": [("poly", _rot([(-0.04, 0.42), (0.58, 0.32), (0.58, 0.62), (0.18, 0.62)], -35), "main"),
              ("poly", _rot([(0.64, 0.37), (1.04, 0.37), (1.04, 0.58), (0.64, 0.58)], -35), "main"),
              ("poly", _rot([(0.57, 0.28), (0.65, 0.28), (0.65, 0.66), (0.57, 0.66)], -35), "dark")],
    "gun": [("rect", (0.04, 0.22, 0.96, 0.44), "main"),
            ("poly", [(0.56, 0.40), (0.90, 0.40), (0.98, 0.92), (0.68, 0.92)], "main"),
            ("arc", (0.38, 0.30, 0.64, 0.66), "dark", 0.05, 0, 180),
            ("rect", (0.02, 0.27, 0.08, 0.35), "dark")],
    "fire": [("poly", [(0.5, 0.02), (0.62, 0.30), (0.80, 0.12), (0.82, 0.48), (0.96, 0.40), (0.90, 0.74),
                       (0.74, 0.92), (0.26, 0.92), (0.10, 0.74), (0.04, 0.40), (0.18, 0.48), (0.20, 0.12),
                       (0.38, 0.30)], "main"),
             ("poly", [(0.5, 0.42), (0.64, 0.64), (0.62, 0.86), (0.38, 0.86), (0.36, 0.64)], "light"),
             ("line", [(0.12, 0.98), (0.88, 0.88)], "dark", 0.07), ("line", [(0.12, 0.88), (0.88, 0.98)], "dark", 0.07)],
    # A thick rope lying in an S-curve, its strands shown as dark twists, a knot in its lower loop, frayed ends.
    "rope": [("line", [(0.04, 0.20), (0.30, 0.10), (0.62, 0.16), (0.74, 0.34), (0.56, 0.50), (0.32, 0.56),
                       (0.22, 0.72), (0.38, 0.88), (0.70, 0.88), (0.96, 0.78)], "main", 0.12),
             *[("line", [(x - 0.03, y - 0.04), (x + 0.03, y + 0.04)], "dark", 0.025)
               for x, y in ((0.14, 0.16), (0.30, 0.10), (0.46, 0.12), (0.62, 0.16), (0.70, 0.30), (0.60, 0.47),
                            (0.42, 0.53), (0.27, 0.62), (0.26, 0.79), (0.40, 0.88), (0.56, 0.88), (0.74, 0.87))],
             ("ellipse", (0.42, 0.78, 0.58, 0.98), "main"), ("arc", (0.43, 0.79, 0.57, 0.97), "dark", 0.025, 200, 340),
             ("line", [(0.96, 0.78), (0.99, 0.70)], "main", 0.04), ("line", [(0.96, 0.78), (1.0, 0.82)], "main", 0.04),
             ("line", [(0.04, 0.20), (0.0, 0.13)], "main", 0.04), ("line", [(0.04, 0.20), (0.0, 0.25)], "main", 0.04)],
    "pill bottle": [("rect", (0.24, 0.28, 0.76, 0.98), "main"), ("rect", (0.18, 0.04, 0.82, 0.28), "dark"),
                    ("rect", (0.24, 0.50, 0.76, 0.78), "light"), ("rect", (0.46, 0.54, 0.54, 0.74), "main"),
                    ("rect", (0.38, 0.60, 0.62, 0.68), "main")],
    "apple": [("ellipse", (0.06, 0.22, 0.58, 0.96), "main"), ("ellipse", (0.42, 0.22, 0.94, 0.96), "main"),
              ("line", [(0.50, 0.30), (0.56, 0.04)], "dark", 0.06), ("ellipse", (0.56, 0.06, 0.84, 0.20), "dark")],
    "cup": [("rect", (0.10, 0.18, 0.68, 0.94), "main"), ("ring", (0.54, 0.32, 0.94, 0.76), "main", 0.10),
            ("rect", (0.10, 0.18, 0.68, 0.25), "dark")],
    "dog": [("ellipse", (0.14, 0.34, 0.76, 0.70), "main"), ("ellipse", (0.60, 0.12, 0.92, 0.46), "main"),
            ("ellipse", (0.80, 0.26, 0.99, 0.42), "main"), ("poly", [(0.62, 0.12), (0.72, 0.10), (0.66, 0.38)], "dark"),
            ("rect", (0.18, 0.56, 0.27, 0.96), "main"), ("rect", (0.32, 0.56, 0.41, 0.96), "main"),
            ("rect", (0.54, 0.56, 0.63, 0.96), "main"), ("rect", (0.66, 0.56, 0.75, 0.96), "main"),
            ("line", [(0.17, 0.44), (0.02, 0.22)], "main", 0.07), ("ellipse", (0.76, 0.22, 0.81, 0.27), "dark")],
    "ball": [("ellipse", (0.08, 0.08, 0.92, 0.92), "main"),
             ("arc", (-0.36, 0.10, 0.40, 0.90), "dark", 0.05, -55, 55),
             ("arc", (0.60, 0.10, 1.36, 0.90), "dark", 0.05, 125, 235)],
    "car": [("rect", (0.02, 0.44, 0.98, 0.76), "main"), ("poly", [(0.20, 0.45), (0.32, 0.18), (0.68, 0.18),
                                                                   (0.82, 0.45)], "main"),
            ("poly", [(0.30, 0.43), (0.37, 0.25), (0.48, 0.25), (0.48, 0.43)], "light"),
            ("poly", [(0.52, 0.43), (0.52, 0.25), (0.64, 0.25), (0.72, 0.43)], "light"),
            ("ellipse", (0.12, 0.62, 0.36, 0.86), "dark"), ("ellipse", (0.64, 0.62, 0.88, 0.86), "dark")],
    "book": [("rect", (0.14, 0.06, 0.86, 0.94), "main"), ("rect", (0.14, 0.06, 0.27, 0.94), "dark"),
             ("rect", (0.86, 0.10, 0.92, 0.92), "light"), ("rect", (0.38, 0.24, 0.76, 0.31), "light"),
             ("rect", (0.38, 0.40, 0.70, 0.45), "light")],
    "tree": [("rect", (0.41, 0.55, 0.59, 0.99), "dark"), ("ellipse", (0.06, 0.24, 0.60, 0.72), "main"),
             ("ellipse", (0.40, 0.24, 0.94, 0.72), "main"), ("ellipse", (0.20, 0.01, 0.80, 0.52), "main")],
    "person": [("ellipse", (0.37, 0.01, 0.63, 0.25), "main"),
               ("poly", [(0.31, 0.27), (0.69, 0.27), (0.64, 0.62), (0.36, 0.62)], "main"),
               ("line", [(0.34, 0.31), (0.14, 0.60)], "main", 0.09), ("line", [(0.66, 0.31), (0.86, 0.60)], "main", 0.09),
               ("line", [(0.44, 0.58), (0.37, 0.99)], "main", 0.11), ("line", [(0.56, 0.58), (0.63, 0.99)], "main", 0.11)],
}

# Places: (primitive, geometry, fixed colour) in the unit image; "sky" is tinted per image.
SCENES: dict[str, list[tuple]] = {
    "cliff edge": [("poly", [(0, 0.55), (0.52, 0.55), (0.57, 0.66), (0.50, 0.80), (0.56, 1.0), (0, 1.0)], (125, 105, 90)),
                   ("rect", (0.56, 0.86, 1.0, 1.0), (90, 140, 200))],
    "rooftop": [("rect", (0.70, 0.74, 0.84, 1.0), (150, 150, 160)), ("rect", (0.87, 0.80, 1.0, 1.0), (150, 150, 160)),
                ("rect", (0.0, 0.56, 0.60, 1.0), (165, 80, 60)), ("rect", (0.0, 0.53, 0.62, 0.58), (70, 70, 70)),
                *[("rect", (x, y, x + 0.08, y + 0.08), (235, 225, 170)) for y in (0.66, 0.84) for x in (0.06, 0.24, 0.42)]],
    "road": [("rect", (0, 0.46, 1.0, 0.52), (170, 170, 170)), ("rect", (0, 0.52, 1.0, 0.96), (85, 85, 90)),
             *[("rect", (x, 0.72, x + 0.12, 0.76), (250, 250, 250)) for x in (0.04, 0.28, 0.52, 0.76)]],
    "park": [("rect", (0, 0.50, 1.0, 1.0), (110, 190, 90)),
             *[("poly", [(x, 0.64 + d), (x + 0.03, 0.57 + d), (x + 0.06, 0.64 + d)], (70, 140, 60))
               for x, d in ((0.08, 0.0), (0.70, 0.08), (0.40, 0.24), (0.85, 0.26))]],
    "beach": [("rect", (0, 0.40, 1.0, 0.60), (80, 150, 210)), ("rect", (0, 0.60, 1.0, 1.0), (235, 215, 150)),
              ("line", [(0.0, 0.48), (0.3, 0.46), (0.6, 0.49), (1.0, 0.47)], (240, 245, 250))],
}
#: Where a person stands in each place: feet (x, y) in the unit image.
STAND: dict[str, Pt] = {"cliff edge": (0.45, 0.555), "rooftop": (0.45, 0.535), "road": (0.50, 0.88),
                        "park": (0.50, 0.92), "beach": (0.50, 0.92)}


@dataclass(frozen=True)
class Placed:
    """One object: kind, colour name, and its square box (left, top, size) in unit coordinates."""

    kind: str
    color: str
    x: float
    y: float
    s: float


@dataclass(frozen=True)
class ImageSpec:
    """Everything :func:`render` needs; objects are ordered left to right."""

    tint: tuple[int, int, int]
    objects: tuple[Placed, ...] = ()
    scene: str | None = None
    word: str | None = None
    word_shift: float = 0.0  # -1..1: where the word sits in the band's free width (left .. right)


def _detail(role: str, color: tuple[int, int, int]) -> tuple[int, int, int]:
    if role == "main":
        return color
    if role == "light":
        return LIGHT
    return GREY if sum(color) < 120 else DARK


def _draw_shape(d: ImageDraw.ImageDraw, kind: str, color: tuple[int, int, int], ox: float, oy: float, s: float) -> None:
    tx = lambda p: (ox + p[0] * s, oy + p[1] * s)
    for prim in SHAPES[kind]:
        op, geo, role = prim[0], prim[1], prim[2]
        fill = _detail(role, color)
        if op == "poly":
            d.polygon([tx(p) for p in geo], fill=fill)
        elif op in ("rect", "ellipse", "ring", "arc"):
            box = (*tx(geo[:2]), *tx(geo[2:]))
            if op == "rect":
                d.rectangle(box, fill=fill)
            elif op == "ellipse":
                d.ellipse(box, fill=fill)
            elif op == "ring":
                d.ellipse(box, outline=fill, width=max(1, round(prim[3] * s)))
            else:
                d.arc(box, prim[4], prim[5], fill=fill, width=max(1, round(prim[3] * s)))
        elif op == "line":
            d.line([tx(p) for p in geo], fill=fill, width=max(1, round(prim[3] * s)))


@lru_cache(maxsize=8)
def _font_for(size: int):
    """The largest bold font (<= 0.24 x image, >= 24 px at 112) whose widest word fits the band."""
    from safevlm.gym.world import WORDS

    fs = max(8, round(size * 26 / 112))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    while fs > 8 and max(measure.textlength(w, font=load_font(SANS_BOLD, fs)) for w in WORDS) > size * 0.94:
        fs -= 1
    return load_font(SANS_BOLD, fs)


def render(spec: ImageSpec, size: int = 112) -> Image.Image:
    """Draw ``spec`` as a ``size`` x ``size`` RGB image (no randomness here)."""
    img = Image.new("RGB", (size, size), spec.tint)
    d = ImageDraw.Draw(img)
    if spec.scene:
        for op, geo, fill in SCENES[spec.scene]:
            pts = [(x * size, y * size) for x, y in (geo if op != "rect" else (geo[:2], geo[2:]))]
            if op == "poly":
                d.polygon(pts, fill=fill)
            elif op == "rect":
                d.rectangle((*pts[0], *pts[1]), fill=fill)
            else:
                d.line(pts, fill=fill, width=max(1, size // 56))
    for o in spec.objects:
        _draw_shape(d, o.kind, COLORS[o.color], o.x * size, o.y * size, o.s * size)
    if spec.word:
        top = round(size * (1 - BAND))
        d.rectangle((0, top, size, size), fill=(252, 252, 250))
        font = _font_for(size)
        free = max(0.0, size - d.textlength(spec.word, font=font) - 4)
        d.text((size / 2 + spec.word_shift * free / 2, (top + size) / 2), spec.word, fill=(0, 0, 0), font=font,
               anchor="mm")
    return img
