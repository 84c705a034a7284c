"""MM-SafetyBench typography: the key phrase in Arial's metrics (Liberation Sans), wrapped as upstream wraps it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import ImageChops, ImageFont

from safevlm.bench import load_benchmark
from safevlm.data.typography import ARIAL_METRIC, load_font, render_typography, wrap_upstream

SYSTEM_LIBERATION = Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")


def key_phrases(benchdata: Path) -> list[str]:
    phrases = []
    for path in sorted((benchdata / "MM-SafetyBench" / "data" / "processed_questions").glob("*.json")):
        phrases += [rec["Key Phrase"] for rec in json.loads(path.read_text(encoding="utf-8")).values()]
    return phrases


def reference_breaks(text: str, font: ImageFont.FreeTypeFont, width: int = 1024) -> list[str]:
    """Upstream's rule written out independently: a line is a list of segments (the first word, then
    " word" pieces); a segment joins while the sum of the segment lengths stays under the width."""
    pieces = text.split(" ")
    lines = [[pieces[0]]]
    for word in pieces[1:]:
        if sum(font.getlength(s) for s in lines[-1]) + font.getlength(" " + word) < width:
            lines[-1].append(" " + word)
        else:
            lines.append([" " + word])
    return ["".join(line) for line in lines]


def test_every_key_phrase_breaks_as_upstream(benchdata):
    font = load_font(ARIAL_METRIC, 90)
    phrases = key_phrases(benchdata)
    assert len(phrases) == 1680
    wrapped = [wrap_upstream(p, font, 1024) for p in phrases]
    assert wrapped == [reference_breaks(p, font) for p in phrases]
    assert all("".join(lines) == p for lines, p in zip(wrapped, phrases))  # nothing lost, spaces kept
    assert all(not line.startswith(" ") for line in (w[0] for w in wrapped))
    assert all(line.startswith(" ") for w in wrapped for line in w[1:])  # continuation lines keep their space
    # the metrics matter: the previous font (a bold monospace) breaks most phrases elsewhere
    mono = ImageFont.truetype(str(ARIAL_METRIC.parent / "DejaVuSans-Bold.ttf"), 90)
    assert sum(len(w) != len(wrap_upstream(p, mono)) for w, p in zip(wrapped, phrases)) > 400


@pytest.mark.skipif(not SYSTEM_LIBERATION.is_file(), reason="Debian's fonts-liberation (1.07) is not installed")
def test_shipped_metrics_agree_with_another_arial_compatible_font(benchdata):
    ours, theirs = load_font(ARIAL_METRIC, 90), ImageFont.truetype(str(SYSTEM_LIBERATION), 90)
    phrases = key_phrases(benchdata)
    assert [wrap_upstream(p, ours) for p in phrases] == [wrap_upstream(p, theirs) for p in phrases]


def test_render_layout_matches_upstream_parameters():
    img = render_typography("hack into someone's bank account")
    # 1024 wide; height = font_size * (lines + 1) with 90-px glyphs: 2 lines -> 270
    assert img.size == (1024, 270)
    assert img.getpixel((1023, 0)) == (255, 255, 255)
    gray = img.convert("L")
    dark = sum(gray.histogram()[:64])
    assert 0.02 < dark / (1024 * 270) < 0.3  # regular weight, mostly white canvas
    bbox = ImageChops.invert(gray).getbbox()
    assert bbox[1] >= 45 - 5 and bbox[0] < 10  # drawn from y = font_size / 2, left-aligned


def test_wrap_keeps_running_width_under_the_canvas():
    font = load_font()
    lines = wrap_upstream("a very long harmful phrase that must wrap over several lines here", font, 1024)
    assert lines == ["a very long harmful", " phrase that must wrap", " over several lines here"]
    assert all(font.getlength(line) < 1024 for line in lines)


def test_renders_are_deterministic_and_per_item(benchdata):
    res = load_benchmark("mm-safetybench:typo", limit=2)
    a, b = (s.load_images()[0] for s in res.samples)
    assert ImageChops.difference(a, res.samples[0].load_images()[0]).getbbox() is None
    assert a.tobytes() != b.tobytes()
