"""MM-SafetyBench-style typography: the key phrase, large, black on a white canvas."""

from __future__ import annotations

from PIL import ImageChops

from safevlm.bench import load_benchmark
from safevlm.data.typography import load_font, render_typography, wrap_words


def test_render_layout_matches_upstream_parameters():
    img = render_typography("hack into someone's bank account")
    # 1024 wide; height = font_size * (lines + 1) with 90-px glyphs: 3 lines -> 360
    assert img.size == (1024, 360)
    assert img.getpixel((1023, 0)) == (255, 255, 255)
    gray = img.convert("L")
    dark = gray.histogram()[:64]
    dark = sum(dark)
    assert 0.05 < dark / (1024 * 360) < 0.35  # bold text, mostly white canvas
    bbox = ImageChops.invert(gray).getbbox()
    assert bbox[1] >= 45 - 5 and bbox[0] < 10  # drawn from y = font_size / 2, left-aligned


def test_wrap_keeps_lines_within_width():
    font = load_font(size=90)
    lines = wrap_words("a very long harmful phrase that must wrap over several lines here", font, 1024)
    assert len(lines) > 2
    assert all(font.getlength(line) < 1024 for line in lines)


def test_renders_are_deterministic_and_per_item(benchdata):
    res = load_benchmark("mm-safetybench:typo", limit=2)
    a, b = (s.load_images()[0] for s in res.samples)
    assert ImageChops.difference(a, res.samples[0].load_images()[0]).getbbox() is None
    assert a.tobytes() != b.tobytes()
