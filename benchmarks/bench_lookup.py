"""Tracker-database lookups per second, over many distinct real host names.

Run: .venv/bin/python benchmarks/bench_lookup.py

The database is the curated data plus every list in ../shared/trackers
(imported into a temporary folder). Host names are the lists' own domains,
each also with one and two extra labels in front (``cdn.<domain>``,
``api.v2.<domain>``) so lookups walk several suffixes, plus as many names
no list knows. Four passes are timed:

* cold, from cache: a freshly loaded database that read its merged verdicts
  from the cache file ``load_database`` keeps (the usual case: the cache is
  written once after each ``auditor db import``), every host seen for the
  first time;
* cold, fresh merge: the same without the cache (``use_cache=False``): the
  first lookup under each listed domain merges that domain's sources;
* distinct: per-domain decisions already made, but each host looked up once
  (the verdict cache does not help);
* cached: 48,480 of the names (every fifth: listed domains, subdomains and
  unlisted names alike) again and again, as a capture repeats its hosts.

Load times printed are the best of the five loads each cold pass makes, and
the one load that built the cache.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lists import import_all, parse_all

from trackers_db.database import TrackerDatabase, load_database

TARGET = 500_000


def hosts_for(database: TrackerDatabase) -> list[str]:
    """Distinct host names: known domains, their subdomains, and unknown names."""
    domains = sorted(database.entries)
    hosts = list(domains)
    hosts += [f"cdn.{d}" for d in domains]
    hosts += [f"api.v2.{d}" for d in domains]
    hosts += [f"host{i}.unlisted-{i % 997}.example.org" for i in range(len(domains))]
    return hosts


def timed(database: TrackerDatabase, hosts: list[str]) -> float:
    """Lookups per CPU second of one pass over ``hosts`` (CPU time: other processes do not count)."""
    lookup = database.lookup
    start = time.process_time()
    for host in hosts:
        lookup(host)
    return len(hosts) / (time.process_time() - start)


def best_of(repeats: int, make_pass: Callable[[], float]) -> float:
    """The best rate of several runs: other processes on the machine only ever slow a run down."""
    return max(make_pass() for _ in range(repeats))


def main(repeats: int = 5) -> None:
    """Print load times and lookups per second for the four passes."""
    with tempfile.TemporaryDirectory() as folder:
        import_all(Path(folder), parse_all())
        start = time.perf_counter()
        database = load_database(imported_folder=Path(folder))  # writes the cache
        building = time.perf_counter() - start
        database = load_database(imported_folder=Path(folder), use_cache=False)
        hosts = hosts_for(database)
        loads: dict[bool, list[float]] = {True: [], False: []}

        def cold_pass(use_cache: bool) -> float:
            start = time.perf_counter()
            fresh = load_database(imported_folder=Path(folder), use_cache=use_cache)
            loads[use_cache].append(time.perf_counter() - start)
            return timed(fresh, hosts)

        from_cache = best_of(repeats, lambda: cold_pass(True))
        fresh_merge = best_of(repeats, lambda: cold_pass(False))
    sources = len(database.sources)
    print(f"database: {len(database.entries)} domains from {sources} sources")
    print(
        f"load (best): {min(loads[True]):.3f} s from cache, {min(loads[False]):.3f} s without;"
        f" {building:.3f} s once to build the cache"
    )
    print(f"hosts: {len(hosts)} distinct names; best of {repeats} runs (load average {os.getloadavg()[0]:.1f})")
    timed(database, hosts)

    def distinct_pass() -> float:
        database._cache.clear()  # keep per-domain verdicts, forget per-host ones
        return timed(database, hosts)

    distinct = best_of(repeats, distinct_pass)
    repeated = hosts[::5]
    database._cache.clear()
    timed(database, repeated)  # a host's verdict is kept from its second lookup on
    timed(database, repeated)
    cached = best_of(repeats, lambda: timed(database, repeated))
    passes = (
        ("cold, from cache", from_cache),
        ("cold, fresh merge", fresh_merge),
        ("distinct hosts", distinct),
        ("cached hosts", cached),
    )
    for label, rate in passes:
        verdict = "ok" if rate >= TARGET else f"below the {TARGET:,}/s target"
        print(f"{label:<22} {rate:>12,.0f} lookups per CPU second  {verdict}")


if __name__ == "__main__":
    main()
