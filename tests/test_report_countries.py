"""Requests per server country: counted from every located destination, never a bare 0 for "not known"."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.analysis import Analysis
from auditor.report import build_report
from auditor.report.html import _country_rows, render_html

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "captures"


def report_of(name: str) -> dict:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} not available (the shared capture corpus sits next to the project)")
    analysis = Analysis()
    analysis.add_input(path)
    return build_report(analysis, generated_at="2026-01-01T00:00:00Z")


def test_nat64_servers_are_located_and_counted() -> None:
    """reddit.pcap was taken on an IPv6-only network: its servers are 64:ff9b::<IPv4> NAT64 addresses."""
    report = report_of("ndpi_reddit.pcap")
    nat64 = [d for d in report["destinations"] if d["ips"] and all(ip.startswith("64:ff9b::") for ip in d["ips"])]
    assert nat64 and all(d["countries"] for d in nat64)
    rows = _country_rows(report)
    located = sum(d["requests"] for d in report["destinations"] if d["countries"])
    assert sum(r["server_requests"] for r in rows.values()) >= located > 0
    assert all(d["countries"] for d in report["destinations"] if d["ips"] and d["party"] != "local")


def test_country_without_a_located_server_is_not_shown_as_zero_requests() -> None:
    """A HAR without server addresses: countries only appear as company headquarters, said in words."""
    page = render_html(report_of("pagexray_expressen.har"))
    table = page[page.index("<th>Requests to servers there</th>"):]
    table = table[: table.index("</table>")]
    assert "no server located here" in table
    assert "class='num'>0<" not in table
    assert "607 request(s) went to servers whose country is not known" in page
