"""Reports: one data model (:mod:`auditor.report.model`) rendered in several formats."""

from auditor.report.formats import OutputFormat, ReportFormat, write_report
from auditor.report.model import SCHEMA_ID, build_report

__all__ = ["SCHEMA_ID", "OutputFormat", "ReportFormat", "build_report", "write_report"]
