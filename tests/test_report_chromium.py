"""Open report.html in headless Chromium: it renders, its script runs, injected script does not.

Needs Debian's ``chromium`` (CI installs it; see .ci/run); skipped where it is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from test_report_fixture import build_runs, expected_flags

from safevlm.report import write_report

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="headless Chromium not installed (apt-get install chromium)")


def _dom(url: str, profile) -> str:
    args = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--dump-dom", url]
    try:
        res = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("chromium --dump-dom did not finish in 120 s")
    assert res.returncode == 0 and "<html" in res.stdout, res.stderr[-2000:]
    return res.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    runs = build_runs(tmp_path_factory.mktemp("runs"), gym_n=16)
    html = write_report(runs, out=tmp_path_factory.mktemp("cmp"))["html"]
    return html, [expected_flags(r) for r in runs], tmp_path_factory.mktemp("profile")


def _shown(dom: str) -> int:
    assert re.search(r'<body[^>]*data-ready="1"', dom), "the page's script did not run"
    return int(re.search(r'<span id="n-shown">(\d+)</span>', dom).group(1))


def test_report_renders_and_its_script_runs(report):
    html, flags, profile = report
    dom = _dom(html.as_uri(), profile)
    assert "<title>safevlm report: 2 runs compared</title>" in dom  # injected script never set the title
    assert "pwned" not in re.search(r"<title>.*?</title>", dom).group(0)
    assert "&lt;script&gt;alert(1)" in dom  # shown as text
    assert len(re.findall(r'<tr[^>]*data-run="\d"><td class="b">[^<]*(?:<span[^>]*>[^<]*</span>)?</td><td><span class="sw"',
                          dom)) == 7  # summary rows
    assert _shown(dom) == sum(f["n"] for f in flags)


def test_filters_from_the_url_fragment(report):
    html, flags, profile = report
    assert sum(f["over"] for f in flags) > 0 and flags[0]["under"] > 0  # the filters have something to find
    dom = _dom(html.as_uri() + "#show=over", profile)
    assert _shown(dom) == sum(f["over"] for f in flags)
    assert re.search(r'data-show="over" aria-pressed="true"', dom)
    dom = _dom(html.as_uri() + "#show=under&run=0", profile)
    assert _shown(dom) == flags[0]["under"]
    dom = _dom(html.as_uri() + "#bench=xstest&q=kill", profile)
    assert _shown(dom) == 2 * 2  # "kill" in two xstest prompts, for each run
