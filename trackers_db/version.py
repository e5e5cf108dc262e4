"""The project's release version.

It lives here so that both packages read it without an import cycle: ``auditor``
depends on ``trackers_db``, never the other way round.
"""

__version__ = "0.1.0"
