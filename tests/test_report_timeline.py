"""The timeline suits a 3-second session and an 8-hour one: whole requests, whole units, readable axis."""

from __future__ import annotations

from auditor.analysis import Analysis, AnalysisConfig
from auditor.records import HostSource, Record, RecordKind, SourceKind
from auditor.report import build_report
from auditor.report.html import _timeline

START = 1767261600.0


def figure_for(times: list[float]):
    analysis = Analysis(AnalysisConfig(app_domains=("school.example",), salt=b"t"))
    for index, offset in enumerate(times):
        host = ("api.school.example", "www.google-analytics.com")[index % 2]
        analysis.add(Record(RecordKind.HTTP, START + offset, SourceKind.PROXY, host=host, host_source=HostSource.URL,
                            content_visible=True, method="GET", url=f"https://{host}/x"))
    figure = _timeline(build_report(analysis, generated_at="2026-01-01T00:00:00Z"))
    assert figure is not None
    return figure


def test_three_second_session_counts_whole_requests_in_whole_seconds() -> None:
    figure = figure_for([0.0, 0.4, 1.1, 2.9])
    heatmap = figure.data[0]
    assert heatmap.colorbar.dtick == 1 and heatmap.zmin == 0  # the scale reads 0, 1: never 0.5 requests
    assert figure.layout.xaxis.dtick == 1 and figure.layout.xaxis.tick0 == 0
    assert figure.layout.xaxis.title.text.startswith("seconds since")
    assert list(heatmap.x) == [0, 1, 2]


def test_long_session_is_drawn_in_hours() -> None:
    figure = figure_for([i * 97.0 for i in range(300)])
    assert figure.layout.xaxis.title.text.startswith("hours since")
    assert figure.layout.xaxis.dtick == 1
    assert max(figure.data[0].x) < 8.2
