"""The cross-app report in real headless Chromium: no network request, no console error, no injected script.

Slow (one browser start): marked ``slow`` and ``browser``; skipped without Debian's chromium.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import SAMPLE_CAPTURE
from synthetic_session import HOSTILE_VALUE, classroom_session
from test_report_browser import png_facts

from auditor.cli import main
from auditor.export import har_document, write_har

chromium_cdp = pytest.importorskip("chromium_cdp")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(chromium_cdp.CHROMIUM is None, reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def cross_app_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A batch over two versions of one app and a second app whose name is an HTML injection attempt."""
    folder = tmp_path_factory.mktemp("captures")
    shutil.copy(SAMPLE_CAPTURE, folder / "classroom-1.mitm")
    shutil.copy(SAMPLE_CAPTURE, folder / "classroom-2.mitm")
    write_har(har_document(classroom_session(hostile=True)), folder / "hostile.har")
    hostile_name = HOSTILE_VALUE.replace('"', '""')
    (folder / "manifest.csv").write_text(
        "capture,app_name,app_version,app_domains,persona\n"
        "classroom-1.mitm,Sample classroom,1.0,classroom.example,student\n"
        "classroom-2.mitm,Sample classroom,2.0,classroom.example,student\n"
        f'hostile.har,"{hostile_name}",1.0,classroom.example,student\n'
    )
    out = tmp_path_factory.mktemp("results")
    result = CliRunner().invoke(main, ["batch", str(folder), "--manifest", str(folder / "manifest.csv"),
                                       "--out", str(out), "--workers", "1", "--formats", "json"])
    assert result.exit_code == 0, result.output
    return out / "cross-app.html"


def test_the_cross_app_report_renders_offline_without_errors(cross_app_page: Path, tmp_path: Path) -> None:
    with chromium_cdp.Browser(width=1280, height=900) as browser:
        log = browser.open(cross_app_page)
        others = [u for u in log.requests if u != cross_app_page.resolve().as_uri() and not u.startswith("data:")]
        assert others == [], f"the page fetched {others}"
        assert log.errors() == []
        assert browser.evaluate("typeof window.__pwned") == "undefined"
        assert browser.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
        text = browser.evaluate("document.body.innerText")
        assert HOSTILE_VALUE in text  # the hostile app name is shown as text
        assert "Companies no longer contacted" in text and "Sample classroom" in text
        # The ranking, the heat map and the companies chart all drew something.
        for plot in ("ranking-plot", "heatmap-plot", "companies-plot"):
            assert browser.evaluate(f"document.querySelectorAll('#{plot} .main-svg').length") >= 1, plot
        assert browser.evaluate("document.querySelectorAll('#heatmap-plot .hm, #heatmap-plot image').length") >= 1
        for plot in ("ranking-plot", "heatmap-plot"):
            shot = browser.screenshot_element(f"#{plot}", tmp_path / f"{plot}.png")
            width, height, ink = png_facts(shot)
            assert width >= 1000 and height >= 150 and ink > 0.002, plot
