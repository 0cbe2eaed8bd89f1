"""Free ports for servers the tests start (BIND9, SMTP) or for a port known to be closed."""

from __future__ import annotations

import ipaddress
import socket


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at ``address`` right now."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]
