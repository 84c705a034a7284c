"""No label of a report chart overprints another (issue 26): a benchmark with fourteen long category
labels, a seven-run comparison with coinciding points, and a single run; the pages also hold the
official scores, output counts and text-only marks (the fixture: tests/report_geometry.py).

Two checks of the same property: a geometric one on the SVG (text boxes measured with the
font the layout uses; runs everywhere), and one in headless Chromium at 1400 px and 800 px
wide (the boxes the browser lays out, via getBoundingClientRect; skipped without Chromium, failed in CI),
which also checks that the page never scrolls sideways: a wide table scrolls inside its own box.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import subprocess

import pytest
from report_geometry import CATEGORIES, build_many

from safevlm.report import write_report
from safevlm.report.svg import MARKER_R, _fit, overlaps, text_boxes


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    runs = build_many(tmp_path_factory.mktemp("runs"))
    many = write_report(runs, out=tmp_path_factory.mktemp("cmp"))["html"]
    one = write_report(runs[:1], out=tmp_path_factory.mktemp("one"))["html"]
    return {"seven runs": many, "one run": one}


def _svgs(html: str) -> list[str]:
    return re.findall(r'<svg class="chart".*?</svg>', html, flags=re.DOTALL)


def test_text_boxes_read_back_what_was_drawn():
    svg = ('<svg class="chart" viewBox="0 0 100 40" xmlns="http://www.w3.org/2000/svg">'
           '<text x="10" y="20" class="val">a</text><text x="90" y="20" class="cat" text-anchor="end">b</text></svg>')
    (_, *view), (a, ax0, _, ax1, _), (b, _, _, bx1, _) = text_boxes(svg)
    assert view == [0, 0, 100, 40] and (a, ax0, b, bx1) == ("a", 10, "b", 90) and ax1 > ax0
    assert overlaps(svg) == []
    clash = svg.replace('x="90"', 'x="12"').replace('text-anchor="end"', "")
    assert overlaps(clash) == [("a", "b")]  # the check can fail
    assert overlaps(svg.replace('x="90"', 'x="140"')) == [("b", "<viewBox>")]


@pytest.mark.parametrize("which", ["seven runs", "one run"])
def test_no_label_overlaps_another_in_any_chart(pages, which):
    html = pages[which].read_text()
    svgs = _svgs(html)
    assert len(svgs) >= (6 + 2 if which == "seven runs" else 3 * 2 + 1)  # bars by category and label, scatter
    for svg in svgs:
        assert overlaps(svg) == [], svg[:200]
    bars = [svg for svg in svgs if 'aria-label="CRR (refused unsafe)"' in svg]
    assert bars and all(f">{c}</text>" in bars[0] for c in CATEGORIES[:13])  # no label clipped or dropped
    long = CATEGORIES[-1]
    first, second = _fit(long, 12, 240)
    assert f">{first}</text>" in bars[0] and second.endswith("…") and f"<title>{long}</title>" in bars[0]


def _centre(markup: str) -> tuple[float, float]:
    """The centre of a marker element as drawn (circle, rect, polygon or path)."""
    if markup.startswith("<circle"):
        return float(re.search(r'cx="([-\d.]+)"', markup).group(1)), float(re.search(r'cy="([-\d.]+)"', markup).group(1))
    if markup.startswith("<rect"):
        x, y, w, h = (float(re.search(rf' {k}="([-\d.]+)"', markup).group(1)) for k in ("x", "y", "width", "height"))
        return x + w / 2, y + h / 2
    if markup.startswith("<path"):  # plus and cross: rotated about their centre
        cx, cy = re.search(r'rotate\(45 ([-\d.]+) ([-\d.]+)\)', markup).groups() if "rotate" in markup else (None, None)
        if cx is not None:
            return float(cx), float(cy)
        nums = [float(v) for v in re.findall(r"[-\d.]+", re.search(r'd="([^"]*)"', markup).group(1))]
        xs, ys = nums[0::2], nums[1::2]
        return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    pts = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]*)"', markup).group(1).split()]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2


def test_every_run_shows_in_the_scatter_with_its_own_marker(pages):
    html = pages["seven runs"].read_text()
    scatter = html.split('id="scatter"', 1)[1].split("</section>", 1)[0]
    plots = _svgs(scatter)
    assert len(plots) == 2
    for svg in plots:
        markers = re.findall(r'<(?:circle|rect|polygon|path) [^>]*class="pt"[^>]*>', svg)
        assert len(markers) == 7
        assert len({re.search(r'fill="([^"]*)"', m).group(1) for m in markers}) == 7  # a colour per run
        for a, b in itertools.combinations([_centre(m) for m in markers], 2):
            assert math.dist(a, b) > 1.5 * MARKER_R  # none hides another
    # runs 3 and 4 coincide: both drawn, spread apart, with spokes back to their shared value
    assert scatter.count('class="spoke"') >= 2
    legend = scatter.split('<div class="legend">', 1)[1].split("</div>", 1)[0]
    swatches = re.findall(r'<(?:circle|rect|polygon|path) [^>]*class="pt"', legend)
    assert len(swatches) == 7
    # a shape per run: the seven swatches differ once their colour is removed
    assert len({re.sub(r'fill="[^"]*"', "", m) for m in swatches}) == 7


GEOMETRY_JS = """<script>
(function () {
  var out = {svgs: 0, problems: [], width: document.documentElement.clientWidth};
  function box(el) { var r = el.getBoundingClientRect(); return {l: r.left, r: r.right, t: r.top, b: r.bottom}; }
  document.querySelectorAll("svg.chart").forEach(function (svg, si) {
    out.svgs += 1;
    var s = box(svg);
    if (s.r > out.width + 0.5) { out.problems.push(["wider than the page", si, s.r]); }
    var texts = Array.prototype.map.call(svg.querySelectorAll("text"), function (t) {
      var b = box(t); b.text = t.textContent; return b; });
    texts.forEach(function (a, i) {
      if (a.l < s.l - 0.5 || a.r > s.r + 0.5 || a.t < s.t - 0.5 || a.b > s.b + 0.5) {
        out.problems.push(["outside its chart", si, a.text]); }
      for (var j = i + 1; j < texts.length; j++) {
        var b = texts[j];
        if (Math.min(a.r, b.r) - Math.max(a.l, b.l) > 0.5 && Math.min(a.b, b.b) - Math.max(a.t, b.t) > 0.5) {
          out.problems.push(["overlap", si, a.text, b.text]); }
      }
    });
  });
  var page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 0.5) { out.problems.push(["page wider than the window", page.scrollWidth]); }
  document.querySelectorAll("section").forEach(function (sec) {
    var b = box(sec);
    if (b.r > out.width + 0.5) { out.problems.push(["section wider than the page", sec.id, b.r]); }
  });
  out.official = Array.prototype.map.call(document.querySelectorAll("#official-table tbody tr"), function (tr) {
    return [tr.cells[1].textContent, tr.cells[2].textContent]; });
  out.summary_head = Array.prototype.map.call(document.querySelectorAll("#summary-table thead th"),
                                              function (th) { return th.textContent; });
  var pre = document.createElement("pre"); pre.id = "geometry"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def _measure(page, width: int, profile, browser: str) -> dict:
    probe = page.with_name(f"probe-{width}.html")
    probe.write_text(page.read_text().replace("</body>", GEOMETRY_JS + "</body>"))
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},1200", "--dump-dom",
            probe.as_uri()]
    res = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    found = re.search(r'<pre id="geometry">(.*?)</pre>', res.stdout, flags=re.DOTALL)
    assert found, "the probe script did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.parametrize("width", [1400, 800])
def test_in_chromium_no_label_overlaps_and_no_chart_is_wider_than_the_page(pages, width, tmp_path, chromium):
    got = _measure(pages["seven runs"], width, tmp_path / "profile", chromium)  # the one-run page: checked geometrically above
    assert got["width"] <= width and got["svgs"] >= 7
    assert got["problems"] == []
    # the official scores and output counts are laid out inside the same page, labelled and marked
    assert len(got["official"]) == 7 * 2 * 2
    assert ["mm-safetybench:typo [text only]", "attack_rate"] in got["official"]
    assert ["xstest:default", "win_rate"] in got["official"]
    assert got["summary_head"][-2:] == ["cut off", "degenerate"]


def test_official_section_and_output_counts_are_in_the_page(pages):
    """Without Chromium too: the page that the geometric checks measure has the official section."""
    for which, runs in (("seven runs", 7), ("one run", 1)):
        html = pages[which].read_text()
        official = html.split('<section id="official">', 1)[1].split("</section>", 1)[0]
        assert official.count("<tr><td>") == runs * 2 * 2
        assert 'mm-safetybench:typo <span class="mark">[text only]</span>' in official
        assert "not computed: needs an LLM judge" in official and '<div class="wide">' in official
        assert '<th title="responses cut off at the token limit">cut off</th>' in html
