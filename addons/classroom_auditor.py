"""Load the Classroom Traffic Auditor addon from a source checkout.

    mitmdump -s addons/classroom_auditor.py --set auditor_app_domains=classroom.example

The addon lives in the package (:mod:`auditor.live.addon`), so an installed
auditor needs no checkout: ``mitmdump -s "$(auditor addon-path)"``.
"""

import sys
from pathlib import Path

try:
    import auditor  # noqa: F401 - installed (pip install -e . or a wheel)
except ImportError:  # mitmproxy from another environment: use the checkout next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auditor.live.addon import MARKER, ClassroomAuditor

__all__ = ["MARKER", "ClassroomAuditor", "addons"]

addons = [ClassroomAuditor()]
