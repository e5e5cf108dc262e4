"""Live capture: the session a proxy run writes, independent of mitmproxy.

The mitmproxy addon (``addons/classroom_auditor.py``) turns flows into
records and hands them to a :class:`~auditor.live.session.LiveSession`, which
runs the same :class:`~auditor.analysis.Analysis` as ``auditor analyze`` and
keeps the session folder up to date.
"""
