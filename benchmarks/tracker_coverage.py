"""How much of the public lists' tracker domains the tracker database classifies.

Run: .venv/bin/python benchmarks/tracker_coverage.py

For each list in ../shared/trackers, its tracker domains are looked up in
(a) the curated database alone, as shipped, and (b) the curated database
merged with every list imported. A domain counts as *classified* when the
verdict names a company or a category; *company* and *category* columns
give each on its own. App-SDK lists (DuckDuckGo App Tracking Protection,
εxodus) are shown apart from web tracker lists.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lists import import_all, parse_all

from trackers_db.database import TrackerDatabase, load_database
from trackers_db.importers import ImportedList

APP_SDK_LISTS = ("duckduckgo-app", "exodus")
CURATED_TARGETS = {"exodus": 0.60, "duckduckgo-app": 0.75}
"""Issue 11: the shipped (curated-only) database classifies at least this share of each app-SDK list."""
SDK_TELEMETRY_HOSTS = (
    "firebaseinstallations.googleapis.com", "firebaselogging.googleapis.com", "firebaselogging-pa.googleapis.com",
    "app-measurement.com", "mobileanalytics.us-east-1.amazonaws.com", "pinpoint.us-east-1.amazonaws.com",
)
"""SDK telemetry hosts that must be classified as analytics or telemetry, not as hosting."""
WEB_LISTS = ("duckduckgo-web", "adguard", "ghostery", "disconnect", "hosts")


def tracker_domains(source: str, imported: ImportedList) -> list[str]:
    """The domains a list presents as trackers (not owner-only entity domains)."""
    if source == "duckduckgo-web":
        return [e.domain for e in imported.entries if e.rule.startswith("tracker:")]
    if source == "disconnect":
        return [e.domain for e in imported.entries if not e.rule.startswith("entity:")]
    return [e.domain for e in imported.entries]


def shares(database: TrackerDatabase, domains: list[str]) -> tuple[float, float, float]:
    """Shares of ``domains`` classified (company or category), with a company, with a category."""
    verdicts = [database.lookup(d) for d in domains]
    classified = sum(1 for v in verdicts if v and (v.company or v.category))
    company = sum(1 for v in verdicts if v and v.company)
    category = sum(1 for v in verdicts if v and v.category)
    total = max(len(domains), 1)
    return classified / total, company / total, category / total


def print_row(label: str, domains: list[str], curated: TrackerDatabase, merged: TrackerDatabase) -> None:
    """One line of the table."""
    alone, _, _ = shares(curated, domains)
    everything, company, category = shares(merged, domains)
    print(f"{label:<16} {len(domains):>8}  {alone:>12.1%}  {everything:>9.1%}  {company:>8.1%}  {category:>8.1%}")


def main() -> None:
    """Print the coverage table."""
    lists = parse_all()
    curated = load_database(include_imported=False)
    with tempfile.TemporaryDirectory() as folder:
        import_all(Path(folder), lists)
        merged = load_database(imported_folder=Path(folder))
    header = f"{'list':<16} {'domains':>8}  {'curated only':>12}  {'all lists':>9}  {'company':>8}  {'category':>8}"
    for title, group in (("App-SDK lists", APP_SDK_LISTS), ("Web tracker lists", WEB_LISTS)):
        print(f"\n{title}\n{header}")
        pooled: list[str] = []
        for source in group:
            domains = tracker_domains(source, lists[source])
            pooled += domains
            print_row(source, domains, curated, merged)
        print_row("(distinct, all)", sorted(set(pooled)), curated, merged)
    print(f"\ncurated database: {len(curated.entries)} domains; merged: {len(merged.entries)} domains")
    print("\nTargets (curated database alone)")
    for source, target in CURATED_TARGETS.items():
        share, _, _ = shares(curated, tracker_domains(source, lists[source]))
        print(f"{source:<16} {share:>8.1%}  target >= {target:.0%}  {'met' if share >= target else 'NOT MET'}")
    for host in SDK_TELEMETRY_HOSTS:
        verdict = curated.lookup(host)
        category = verdict.category if verdict else None
        ok = category in ("analytics", "crash_reporting")
        print(f"{host:<42} {category or 'unknown':<16} {'telemetry' if ok else 'NOT telemetry'}")


if __name__ == "__main__":
    main()
