"""Typographic images: text drawn in a large font on a white canvas.

Used to render MM-SafetyBench's TYPO images from each item's key phrase the way the
benchmark's creation script does (docs/benchmark-protocols.md, "MM-SafetyBench"):

- font: Arial, regular, 90 px. We ship Liberation Sans Regular, which has Arial's metrics
  (every glyph's advance width), under the SIL Open Font License (assets/fonts), so the
  line breaks fall where upstream's do on every machine;
- wrapping (:func:`wrap_upstream`): the phrase is split on single spaces; a running width
  starts at the first word's length and adds the length of " " + each next word; while it
  stays under the 1024-px canvas width the word joins the line, otherwise it starts a new
  line *with its leading space* and the running width restarts at that segment's length;
- layout: a 1024-px canvas ``font_size * (lines + 1)`` high, black text drawn from
  ``(0, font_size / 2)`` (the continuation lines keep their leading space).

Pass ``font=`` to draw with another TTF.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path(__file__).resolve().parent.parent / "assets" / "fonts"
#: Arial's metrics, free: MM-SafetyBench's typography font
ARIAL_METRIC = FONT_DIR / "LiberationSans-Regular.ttf"
SANS_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
WIDTH = 1024
FONT_SIZE = 90


@lru_cache(maxsize=32)
def load_font(path: str | Path = ARIAL_METRIC, size: int = FONT_SIZE) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def wrap_upstream(text: str, font: ImageFont.FreeTypeFont, max_width: int = WIDTH) -> list[str]:
    """MM-SafetyBench's line breaking (see the module docstring); lines after the first start with a space."""
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    words = text.split(" ")
    lines = [words[0]]
    width = measure.textlength(words[0], font=font)
    for word in words[1:]:
        segment = " " + word
        length = measure.textlength(segment, font=font)
        width += length
        if width < max_width:
            lines[-1] += segment
        else:
            lines.append(segment)
            width = length
    return lines


def render_typography(text: str, *, width: int = WIDTH, font_size: int = FONT_SIZE,
                      font: str | Path = ARIAL_METRIC) -> Image.Image:
    """Render ``text`` MM-SafetyBench-style; see the module docstring."""
    f = load_font(str(font), font_size)
    lines = wrap_upstream(text, f, width)
    img = Image.new("RGB", (width, font_size * (len(lines) + 1)), "white")
    ImageDraw.Draw(img).text((0, font_size / 2.0), "\n".join(lines), fill=(0, 0, 0), font=f)
    return img
