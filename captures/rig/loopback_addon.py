"""mitmproxy addon for the recording rig: every stand-in host goes to 127.0.0.1.

The recorded flows keep the real host names (URL, Host header, SNI); only
the socket mitmproxy opens upstream is redirected. A host that is not a
stand-in is refused, so the rig can never reach the network, and no name is
ever looked up in real DNS.
"""

from __future__ import annotations

import json

from mitmproxy import ctx
from mitmproxy.addonmanager import Loader
from mitmproxy.proxy import server_hooks

LOOPBACK = "127.0.0.1"


class LoopbackUpstreams:
    """Redirects upstream connections of known stand-in hosts to local ports."""

    def load(self, loader: Loader) -> None:
        loader.add_option("rig_https_port", int, 0, "Local port of the HTTPS stand-in server.")
        loader.add_option("rig_http_port", int, 0, "Local port of the plain-HTTP stand-in server.")
        loader.add_option("rig_https_hosts", str, "[]", "JSON list of host names served over HTTPS.")
        loader.add_option("rig_http_hosts", str, "[]", "JSON list of host names served over plain HTTP.")

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        """Point the upstream socket at the stand-in; refuse anything else."""
        if data.server.address is None:
            data.server.error = "rig: no upstream address"
            return
        host, port = data.server.address
        host = str(host).lower().rstrip(".")
        https_hosts = set(json.loads(ctx.options.rig_https_hosts))
        http_hosts = set(json.loads(ctx.options.rig_http_hosts))
        if port == 443 and host in https_hosts:
            data.server.address = (LOOPBACK, ctx.options.rig_https_port)
        elif port == 80 and host in http_hosts:
            data.server.address = (LOOPBACK, ctx.options.rig_http_port)
        else:
            data.server.error = f"rig: {host}:{port} is not a stand-in; refused"


addons = [LoopbackUpstreams()]
