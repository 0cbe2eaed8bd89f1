"""Helpers for config tests: write real files and load them through the public API."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tandem.config import LoadResult, load_config

SAMPLES = Path("/usr/share/doc/keepalived/samples")


class ConfigFiles:
    """Writes config files under a temporary directory and loads them with ``load_config``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def load(self, text: str, name: str = "keepalived.conf", config_id: str = "node1") -> LoadResult:
        return load_config(self.write(name, text), config_id=config_id)


def messages(result: LoadResult, severity: str | None = None) -> list[str]:
    """``LINE: severity: message`` strings, file names left out for readable assertions."""
    return [
        f"{f.line}: {f.severity}: {f.message}"
        for f in result.findings
        if severity is None or f.severity == severity
    ]


MINIMAL_INSTANCE = """
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        198.51.100.10/24
    }
}
"""
