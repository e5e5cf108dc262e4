"""Live capture: the mitmproxy addon and the session folder a proxy run writes.

The mitmproxy addon (:mod:`auditor.live.addon`) hands flows through the
session's spool to the analysis worker's :class:`~auditor.live.session.LiveSession`, which
runs the same :class:`~auditor.analysis.Analysis` as ``auditor analyze`` and
keeps the session folder up to date.
"""
