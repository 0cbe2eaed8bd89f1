"""Inventory cases: one YAML file per rule under cases/, each saying the one finding it must produce."""

from __future__ import annotations

from pathlib import Path

import yaml

CASES = Path(__file__).parent / "cases"

# Hosts every case may use unless it brings its own: four routers on one /24, interface eth0.
BASE_HOSTS = {
    f"lb{n}": {
        "tandem_interface": "eth0",
        "tandem_addresses": {"eth0": [f"198.51.100.1{n}/24", f"2001:db8::1{n}/64"]},
    }
    for n in range(1, 5)
}


def load_case(path: Path) -> dict:
    case = yaml.safe_load(path.read_text())
    hosts = dict(BASE_HOSTS)
    hosts.update(case.get("hosts", {}))
    return {
        "vrrp_groups": case.get("tandem_vrrp_groups"),
        "active_active": case.get("tandem_active_active"),
        "virtual_servers": case.get("tandem_virtual_servers"),
        "global_settings": case.get("tandem_global"),
        "inventory": hosts,
        "expect": case["expect"],
    }
