"""The HTML report in real headless Chromium: no network, no injected script, no console error; screenshots; PDF.

Slow (one browser start, one print): marked ``slow`` and ``browser``; skipped without Debian's chromium.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from synthetic_session import APP_DOMAIN, HOSTILE_HOST, classroom_session

from auditor.analysis import Analysis, AnalysisConfig
from auditor.cli import main
from auditor.findings import default_rules
from auditor.report import OutputFormat, build_report, write_report

chromium_cdp = pytest.importorskip("chromium_cdp")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(chromium_cdp.CHROMIUM is None, reason="Debian's chromium is not installed"),
]

MAIN_VIEWS = ("summary", "recipients", "flows", "map", "timeline", "findings", "coverage", "checklist")


def png_facts(path: Path) -> tuple[int, int, float]:
    """Width, height and the share of decompressed bytes that are neither 0 nor 255 (0 for a blank image)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", data[16:24])
    idat, offset = b"", 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            idat += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(idat)
    counts = Counter(raw[:: max(len(raw) // 200_000, 1)])
    total = sum(counts.values())
    return width, height, 1 - (counts[0] + counts[255]) / total


@pytest.fixture(scope="module")
def saved_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("report")
    analysis = Analysis(AnalysisConfig(app_domains=(APP_DOMAIN,), app_name="Sample classroom app", salt=b"t",
                                       rules=default_rules().with_thresholds(home_country="CA")))
    for record in classroom_session(hostile=True):
        analysis.add(record)
    report = build_report(analysis, generated_at="2026-01-01T12:00:00Z")
    return (write_report(report, OutputFormat.HTML, folder / "report.html"),
            write_report(report, OutputFormat.JSON, folder / "report.json"))


@pytest.fixture(scope="module")
def browser():
    with chromium_cdp.Browser(width=1280, height=900) as running:
        yield running


def test_report_makes_no_request_runs_no_capture_script_and_logs_no_error(saved_report, browser) -> None:
    html_path, _ = saved_report
    log = browser.open(html_path)
    others = [url for url in log.requests if url != html_path.resolve().as_uri() and not url.startswith("data:")]
    assert others == [], f"the report fetched {others}"
    assert log.errors() == []
    assert browser.evaluate("typeof window.__pwned") == "undefined"
    assert browser.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    # The hostile host name is shown as text, exactly as captured.
    assert HOSTILE_HOST in browser.evaluate("document.body.innerText")
    # All three charts drew something.
    assert browser.evaluate("document.querySelectorAll('.js-plotly-plot .main-svg').length") >= 3
    assert browser.evaluate("document.querySelectorAll('#sec-map .scatterlayer .trace').length") >= 2


def test_screenshots_of_the_main_views(saved_report, browser, tmp_path: Path) -> None:
    html_path, _ = saved_report
    browser.open(html_path)
    for view in MAIN_VIEWS:
        shot = browser.screenshot_element(f"#sec-{view}", tmp_path / f"{view}.png")
        width, height, ink = png_facts(shot)
        assert 1000 <= width <= 1400, (view, width)
        assert 80 <= height <= 1400, (view, height)
        assert ink > 0.002, f"{view} screenshot looks blank"


def test_pdf_and_png_export_from_a_saved_report(saved_report, tmp_path: Path) -> None:
    _, json_path = saved_report
    pdf, png = tmp_path / "decision.pdf", tmp_path / "decision.png"
    result = CliRunner().invoke(main, ["report", str(json_path), "--pdf", str(pdf), "--png", str(png)])
    assert result.exit_code == 0, result.output
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 2, "a full report prints on several pages"
    assert len(data) > 50_000
    width, height, ink = png_facts(png)
    assert (width, height) == (1280, 2400) and ink > 0.002
    assert json.loads(json_path.read_text())["schema"] == "classroom-auditor.report/1"
