"""Classroom Traffic Auditor: what an educational app sends, and to whom.

For notebooks::

    import auditor
    result = auditor.analyze(["captures/sample-classroom.mitm"], app_domains=["classroom.example"])
    result.destinations  # pandas DataFrame, one row per destination
    result.findings      # pandas DataFrame, one row per finding
    result.records       # pandas DataFrame, one row per record
    result.report        # the JSON report as a dict
"""

from auditor.api import AuditResult, analyze
from trackers_db.version import __version__

__all__ = ["AuditResult", "__version__", "analyze"]
