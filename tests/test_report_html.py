"""``report.html``: self-contained, escaped, summary rows, charts, thumbnails, browser rows and cap."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import pytest
from PIL import Image
from test_report_fixture import INJECTED, build_run, build_runs, expected_flags

from safevlm.report import render_html, write_report


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return build_runs(tmp_path_factory.mktemp("runs"), gym_n=24)


@pytest.fixture(scope="module")
def page(runs, tmp_path_factory):
    return write_report(runs, out=tmp_path_factory.mktemp("cmp"))["html"].read_text()


def _sample_rows(page: str) -> list[str]:
    body = page.split('<table class="data samples" id="sample-table">', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr class=\"([^\"]*)\" data-run=\"(\d+)\"", body)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.seen: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag, attrs):
        self.seen.append((tag, [k for k, _ in attrs]) if tag != "a" else (tag, attrs))


def test_page_is_self_contained(page):
    assert page.startswith("<!doctype html>")
    urls = re.findall(r"https?://[^\s\"')]+", page)
    assert set(urls) == {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
    assert "@import" not in page
    tags = _Tags()
    tags.feed(page)
    assert not [t for t in tags.seen if t[0] in ("link", "img", "iframe", "object", "embed", "audio", "video")]
    assert not [t for t in tags.seen if {"src", "href"} & set(t[1]) and t[0] != "a"]
    assert all(dict(t[1])["href"].startswith("#") for t in tags.seen if t[0] == "a")
    assert all(u.startswith("data:image/") for u in re.findall(r"url\(([^)]*)\)", page))
    assert "default-src 'none'" in page  # the CSP forbids any fetch


def test_model_text_is_escaped(page):
    assert page.count("<script") == 1  # the page's own script only
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1);document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "onerror=&quot;" in page  # in the response cell and the judge's detail tooltip


def test_summary_table_rows(page, runs):
    table = page.split('id="summary-table"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*data-run=\"(\d)\"><td class=\"b\">(?:<span[^>]*>)?(.*?)(?: ⚠)?(?:</span>)?</td><td>"
                      r"<span class=\"sw\"[^>]*></span>(.*?)</td>", table)
    # grouped by benchmark: each benchmark's runs one under another, then each run's "all"
    assert [(int(r), b, lab) for r, b, lab in rows] == [
        (0, "gym:test", "base"), (1, "gym:test", "aligned"), (0, "xstest", "base"), (1, "xstest", "aligned"),
        (1, "mmvet", "aligned"), (0, "all", "base"), (1, "all", "aligned")]
    mmvet = table.split('<td class="b">mmvet</td>', 1)[1].split("</tr>", 1)[0]
    assert mmvet.count('class="num null">–<') == 2  # CRR and ASR have no samples
    assert re.search(r'>\d\.\d\d \[\d\.\d\d, \d\.\d\d\]<span class="n">n=\d+</span></td>', table)  # n shown
    # the two runs' "all" rows average different benchmarks (aligned has mmvet too): said
    assert "all ⚠" in table and "The \"all\" rows average different benchmarks" in page


def test_delta_table_against_the_first_run(page, runs):
    import json

    from safevlm.report.fmt import difference

    table = page.split('id="delta-table"', 1)[1].split("</table>", 1)[0]
    base, aligned = (json.loads((r / "results.json").read_text())["benchmarks"] for r in runs)
    d = difference(base["gym:test"]["metrics"]["crr"], aligned["gym:test"]["metrics"]["crr"])
    row = table.split('<td class="b">gym:test</td><td>aligned</td>', 1)[1].split("</tr>", 1)[0]
    assert f"{d['value']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]" in row
    assert '<td class="b">all</td>' not in table  # different benchmark sets: no "all" difference


def test_charts(page, runs, tmp_path):
    from safevlm.report.svg import overlaps

    assert 'id="scatter"' in page and "safety: CRR" in page
    scatter = page.split('id="scatter"', 1)[1].split("</section>", 1)[0]
    plots = re.findall(r'<svg class="chart".*?</svg>', scatter)
    assert len(plots) == 2  # one per benchmark with points: gym:test, xstest (mmvet has no CRR)
    assert scatter.count('class="pt"') == 2 * 2 + 2  # 2 runs x 2 plots + the legend's two swatches
    assert "1 run × benchmark pair(s) lack" in scatter  # mmvet: no CRR
    cats = page.split('id="categories"', 1)[1].split("</section>", 1)[0]
    svgs = re.findall(r'<svg class="chart".*?</svg>', cats)
    # a CRR and a CAR panel for gym:test and xstest; mmvet (comply items only) has CAR alone
    assert len(svgs) == 2 + 2 + 1 and ">violence</text>" in cats and ">self_harm</text>" in cats
    assert 'class="val"' in cats and 'class-=' not in page  # the classes the style sheet styles
    assert " n=" in cats  # each bar carries its n
    assert all(not overlaps(svg) for svg in plots + svgs)
    single = render_html([runs[0]])
    assert 'id="scatter"' in single  # one run: still the scatter, a point per benchmark
    one = single.split('id="scatter"', 1)[1].split("</section>", 1)[0]
    assert one.count('class="pt"') == 2 and ">gym:test</text>" in one


def test_thumbnails_are_small_and_shared_across_runs(page, runs):
    rules = re.findall(r"\.t(\d+)\{background-image:url\(data:image/(webp|png|jpeg);base64,([^)]*)\)", page)
    assert 12 <= len(rules) <= 24  # one per distinct gym image, shared by both runs
    for _, _, data in rules:
        raw = base64.b64decode(data)
        assert len(raw) < 4000
        assert max(Image.open(io.BytesIO(raw)).size) <= 96
    assert len(re.findall(r'class="th t\d+"', page)) == 2 * 24  # every gym record shows its image
    assert page.count('<span class="noimg">text only</span>') == 10 + 10 + 4


def test_browser_rows_and_filter_counts(page, runs):
    rows = _sample_rows(page)
    flags = [expected_flags(r) for r in runs]
    assert len(rows) == sum(f["n"] for f in flags)
    for key in ("over", "under", "disagree"):
        assert sum(key in cls.split() for cls, _ in rows) == sum(f[key] for f in flags), key
    assert sum("error" in cls.split() for cls, _ in rows) == 2 * 2  # a generation and a judge error per run
    for key in ("over", "under", "disagree"):
        n = sum(f[key] for f in flags)
        assert re.search(rf'data-show="{key}"[^>]*>[^<]*<span class="c">{n}</span>', page), key
    assert f'<span id="n-shown">{len(rows)}</span>' in page
    # "runs disagree": both rows of a sample whose runs' primary judges (refusal) decided differently
    import json

    decided: dict = {}
    for run in runs:
        for line in (run / "samples.jsonl").read_text().splitlines():
            rec = json.loads(line)
            v = rec["verdicts"].get("refusal") or {}
            if not rec["generation"]["error"] and not v.get("error") and v.get("refused") is not None:
                decided.setdefault((rec["bench"], rec["uid"]), []).append(v["refused"])
    differ = sum(len(v) for v in decided.values() if len(set(v)) > 1)
    assert differ > 0 and sum("runsdiff" in cls.split() for cls, _ in rows) == differ
    assert re.search(rf'data-show="runsdiff"[^>]*>runs disagree <span class="c">{differ}</span>', page)
    # the same sample's runs side by side
    assert [r for _, r in rows[:4]] == ["0", "1", "0", "1"]
    assert '<option value="mmvet">mmvet</option>' in page and '<option value="1">aligned</option>' in page


def test_row_cap_keeps_flagged_rows_first(runs, tmp_path):
    html = render_html(runs, max_rows=10)
    rows = _sample_rows(html)
    assert len(rows) == 10
    assert all(set(cls.split()) & {"over", "under", "disagree", "error", "runsdiff"} for cls, _ in rows)
    total = sum(expected_flags(r)["n"] for r in runs)
    assert f"Showing 10 of {total} records (cap 10)" in html


def test_single_run_injection_does_not_leak_into_attributes(tmp_path):
    run = build_run(tmp_path, 'x" onmouseover="alert(1)', aligned=True, gym_n=6, inject=True)
    html = render_html([run])
    assert 'onmouseover="alert(1)' not in html and INJECTED not in html
