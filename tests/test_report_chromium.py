"""Open report.html in headless Chromium: it renders, its script runs, injected script does not.

Needs Debian's ``chromium`` (the ``chromium`` fixture): skipped where it is absent, a failure in CI
(.ci/run installs it and sets SAFEVLM_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from test_report_fixture import build_runs, expected_flags

from safevlm.report import write_report


def _dom(url: str, profile, browser: str) -> str:
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--dump-dom", url]
    try:
        res = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("chromium --dump-dom did not finish in 120 s")
    assert res.returncode == 0 and "<html" in res.stdout, res.stderr[-2000:]
    return res.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory, chromium):
    runs = build_runs(tmp_path_factory.mktemp("runs"), gym_n=16)
    html = write_report(runs, out=tmp_path_factory.mktemp("cmp"))["html"]
    profile = tmp_path_factory.mktemp("profile")
    return html, [expected_flags(r) for r in runs], lambda url: _dom(url, profile, chromium)


def _shown(dom: str) -> int:
    assert re.search(r'<body[^>]*data-ready="1"', dom), "the page's script did not run"
    return int(re.search(r'<span id="n-shown">(\d+)</span>', dom).group(1))


def test_report_renders_and_its_script_runs(report):
    html, flags, dom_of = report
    dom = dom_of(html.as_uri())
    assert "<title>safevlm report: 2 runs compared</title>" in dom  # injected script never set the title
    assert "pwned" not in re.search(r"<title>.*?</title>", dom).group(0)
    assert "&lt;script&gt;alert(1)" in dom  # shown as text
    assert len(re.findall(r'<tr[^>]*data-run="\d"><td class="b">[^<]*(?:<span[^>]*>[^<]*</span>)?</td><td><span class="sw"',
                          dom)) == 7  # summary rows
    assert _shown(dom) == sum(f["n"] for f in flags)


def test_filters_from_the_url_fragment(report):
    html, flags, dom_of = report
    assert sum(f["over"] for f in flags) > 0 and flags[0]["under"] > 0  # the filters have something to find
    dom = dom_of(html.as_uri() + "#show=over")
    assert _shown(dom) == sum(f["over"] for f in flags)
    assert re.search(r'data-show="over" aria-pressed="true"', dom)
    dom = dom_of(html.as_uri() + "#show=under&run=0")
    assert _shown(dom) == flags[0]["under"]
    dom = dom_of(html.as_uri() + "#bench=xstest&q=kill")
    assert _shown(dom) == 2 * 2  # "kill" in two xstest prompts, for each run


def test_ci_fails_instead_of_skipping_without_a_browser():
    """.ci/run requires the browser for every test after it (the ``chromium`` fixture then fails, never
    skips) and stops with the reason when it cannot install one."""
    from conftest import REQUIRE_BROWSER

    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    assert ci.index(f"export {REQUIRE_BROWSER}=1") < ci.index("\nmake test")
    install = ci[ci.index("apt-get install"):ci.index("\nmake test")]
    assert "exit 1" in install and "warning" not in install
