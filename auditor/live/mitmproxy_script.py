"""The script mitmproxy's ``-s`` loads: ``mitmdump -s "$(auditor addon-path)"``.

Only wiring: the addon itself is :class:`auditor.live.addon.ClassroomAuditor`.
"""

from auditor.live.addon import ClassroomAuditor

addons = [ClassroomAuditor()]
