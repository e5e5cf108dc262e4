"""The HTML report reads as English in real headless Chromium, at phone and desktop widths.

No slug (``advertising_id``, ``crash_reporting``, rule and guidance ids) is visible text; inferred
findings sit below the observed ones; the timeline counts whole requests; no plotly toolbar covers a
label. Slow (one browser): marked ``slow`` and ``browser``; skipped without Debian's chromium.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from auditor.analysis import Analysis, AnalysisConfig
from auditor.detect import DATA_TYPES
from auditor.findings import default_rules
from auditor.report import OutputFormat, build_report, write_report
from trackers_db.vocabulary import CATEGORIES

chromium_cdp = pytest.importorskip("chromium_cdp")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(chromium_cdp.CHROMIUM is None, reason="Debian's chromium is not installed"),
]

SAMPLE = Path(__file__).resolve().parents[1] / "captures" / "sample-classroom.mitm"
WIDTHS = {"desktop": 1280, "phone": 390}

# Boxes of plotly toolbars and of every text label in the same chart that they overlap.
OVERLAPS = """(() => {
  const hits = [];
  for (const bar of document.querySelectorAll('.modebar')) {
    const plot = bar.closest('.js-plotly-plot');
    const b = bar.getBoundingClientRect();
    if (!b.width) continue;
    for (const t of plot.querySelectorAll('svg text')) {
      const r = t.getBoundingClientRect();
      if (r.width && r.left < b.right && r.right > b.left && r.top < b.bottom && r.bottom > b.top)
        hits.push(plot.parentElement.id + ': ' + t.textContent);
    }
  }
  return hits;
})()"""


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    analysis = Analysis(AnalysisConfig(app_domains=("classroom.example",), app_name="Sample classroom app",
                                       salt=b"t", rules=default_rules().with_thresholds(home_country="CA")))
    analysis.add_input(SAMPLE)  # the bundled sample: uploads seen, and a proctoring service known by name only
    report = build_report(analysis, generated_at="2026-01-01T12:00:00Z")
    folder = tmp_path_factory.mktemp("words")
    return write_report(report, OutputFormat.HTML, folder / "report.html"), report


def slugs_of(report: dict) -> set[str]:
    """Every multi-word slug a reader must not meet: data types, categories, rule and guidance ids."""
    found = {s for s in (*DATA_TYPES, *CATEGORIES) if "_" in s}
    found |= {r["id"] for r in report["rules"]["rules"]} | {c["id"] for c in report["checklist"]}
    found |= {f["rule"] for f in report["findings"]}
    return found


@pytest.mark.parametrize("view", sorted(WIDTHS))
def test_report_speaks_in_words_at_phone_and_desktop_width(report_page, view: str, tmp_path: Path) -> None:
    page, report = report_page
    assert any(f["data_type"] and f["encoding"] == "service" for f in report["findings"]), "needs an inferred finding"
    with chromium_cdp.Browser(width=WIDTHS[view], height=900) as browser:
        browser.open(page)
        # Open every collapsed detail, so its text counts as visible too.
        browser.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        text = browser.evaluate("document.body.innerText")
        # A request's own field names are evidence and are quoted as captured (“student_id”); the rest is words.
        words = re.sub(r"“[^”]*”", "", text)
        visible_slugs = sorted(s for s in slugs_of(report) if s in words)
        assert visible_slugs == [], f"slugs shown as text at {view} width"
        assert "Advertising ID" in text and "Precise location" in text
        assert "first and last 2 characters shown" in text  # the mask is explained
        # Observed uploads first; what is only inferred from a host name comes after, labelled so.
        order = browser.evaluate(
            "[...document.querySelectorAll('#sec-findings h3')].map(h => h.textContent)")
        assert order == ["Seen in the traffic", "Inferred, not seen"]
        inferred_rows = browser.evaluate("document.querySelector('#findings-inferred ~ table').innerText")
        assert "api.proctorio.com" in inferred_rows and "inferred" in inferred_rows
        # Whole requests on the timeline's colour scale, never "0.5".
        ticks = browser.evaluate(
            "[...document.querySelectorAll('#timeline-plot .colorbar text')].map(t => t.textContent)")
        assert ticks and all("." not in t for t in ticks), ticks
        # Hover every chart so plotly shows its toolbars, then check none covers a label.
        browser.evaluate("document.querySelectorAll('.js-plotly-plot').forEach(p => p.dispatchEvent("
                         "new MouseEvent('mousemove', {bubbles: true})))")
        assert browser.evaluate("document.querySelectorAll('#sankey .modebar').length") == 0
        assert browser.evaluate(OVERLAPS) == []
        shot = browser.screenshot_element("#sec-findings", tmp_path / f"findings-{view}.png")
        assert shot.stat().st_size > 5000
    assert json.loads(json.dumps(report))["schema"] == "classroom-auditor.report/1"
