"""The tracker database: the project's curated data, importers for public lists, and one merged lookup."""

from trackers_db.database import DomainEntry, Match, SourceInfo, TrackerDatabase, Verdict, load_database

__all__ = ["DomainEntry", "Match", "SourceInfo", "TrackerDatabase", "Verdict", "load_database"]
