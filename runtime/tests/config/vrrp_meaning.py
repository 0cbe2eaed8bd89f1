"""What a config means for VRRP, as one comparable structure from either side of the differential harness.

``from_keepalived`` reads keepalived 2.2.7's dump (keepalived_dumps.py); ``from_tandem`` reads what
tandemd runs: each instance's resolved parameters (tandem.vrrp.params.params_from_config, the values
the VRRP child is started with) and its tracking as the tracker resolves it. Both give, per instance
name, the same keys with the same units (seconds, addresses with their prefix, weights as integers).
A key keepalived did not print (e.g. "Preempt delay" when preempt is off) is left out of both.
"""

from __future__ import annotations

import re
from ipaddress import ip_interface

from tandem.config.checks import unrunnable_program
from tandem.config.model import Config, VirtualAddress
from tandem.vrrp.params import OWNER_PRIORITY, params_from_config

_AUTH = {"none": None, "SIMPLE_PASSWORD": "PASS", "IPSEC_AH": "AH"}
_TRACK_SECTIONS = {
    "Tracked interfaces :": "track_interfaces",
    "Tracked scripts :": "track_scripts",
    "Tracked files :": "track_files",
    "Tracked processes :": "track_processes",
}
# "Key = value" lines of an instance: the field and how its value is read
_FIELDS = {
    "VRRP Version": ("version", int),
    "Sync group": ("sync_group", str),
    "Wantstate": ("state", str),
    "Using src_ip": ("source", lambda v: None if v == "(none)" else v.split()[0]),
    "Virtual Router ID": ("vrid", int),
    "Priority": ("priority", int),
    "Advert interval": ("advert_int", lambda v: _seconds(v)),
    "Accept": ("accept", lambda v: v == "enabled"),
    "Preempt": ("preempt", lambda v: v == "enabled"),
    "Preempt delay": ("preempt_delay", lambda v: _seconds(v.replace("secs", "sec"))),
    "Authentication type": ("auth_type", lambda v: _AUTH.get(v, v)),
    "Password": ("auth_pass", str),
    "Gratuitous ARP delay": ("garp_delay", float),
    "Gratuitous ARP repeat": ("garp_repeat", int),
    "Gratuitous ARP refresh": ("garp_refresh", float),
    "Gratuitous ARP refresh repeat": ("garp_refresh_repeat", int),
    "Gratuitous ARP lower priority delay": ("garp_lower_prio_delay", float),
    "Gratuitous ARP lower priority repeat": ("garp_lower_prio_repeat", int),
    "Send advert after receive lower priority advert": ("lower_prio_no_advert", lambda v: v == "false"),
}
_LISTS = {"Virtual IP": "vips", "Virtual IP Excluded :": "excluded_vips", "Unicast Peer :": "unicast_peers"}


def _seconds(text: str) -> float:
    number, unit = text.split()
    return float(number) / (1000 if unit == "milli-sec" else 1)


def _vip(words: list[str]) -> str:
    address = str(ip_interface(words[0]))
    dev = words[words.index("dev") + 1].split("@")[0] if "dev" in words else "?"
    return f"{address} dev {dev}"


def _track(line: str, kind: str) -> tuple[str, int]:
    words = line.replace(",", "").split()
    weight = int(words[words.index("weight") + 1])
    return words[0], -weight if "reverse" in words else weight


def from_keepalived(dump: str) -> dict[str, dict]:
    """Each instance of the dump's "VRRP Topology" section."""
    instances: dict[str, dict] = {}
    current: dict | None = None
    section = None  # the sub-list being read ("vips", "track_scripts", ...)
    in_topology = False
    for line in dump.splitlines():
        if line.startswith("------<"):
            in_topology = "VRRP Topology" in line
            current = None
            continue
        if not in_topology:
            continue
        stripped = line.strip()
        if line.startswith(" VRRP Instance = "):
            current = instances.setdefault(stripped.split(" = ", 1)[1], _empty())
            section = None
            continue
        if current is None:
            continue
        indent = len(line) - len(line.lstrip())
        if indent >= 5 and section is not None:
            if section in ("vips", "excluded_vips"):
                current[section].append(_vip(stripped.split()))
            elif section == "unicast_peers":
                current[section].append(stripped.split()[0])
            else:
                current[section].append(_track(stripped, section))
            continue
        section = None
        key, _, value = stripped.partition(" = ")
        if stripped in _TRACK_SECTIONS:
            section = _TRACK_SECTIONS[stripped]
        elif stripped.startswith("Virtual IP ("):
            section = "vips"
        elif stripped in _LISTS:
            section = _LISTS[stripped]
        elif key in _FIELDS:
            field, convert = _FIELDS[key]
            current[field] = convert(value)
        elif key == "Interface":
            interface, _, vmac_on = value.partition(", vmac on ")
            current["interface"] = vmac_on.split(",")[0] if vmac_on else interface
            current["vmac"] = interface if vmac_on else None
            current["vmac_xmit_base"] = "xmit base" in vmac_on
        elif stripped.startswith("Multicast address "):
            current["mcast_group"] = stripped.split()[2].rstrip(",")
    for values in instances.values():
        # how it starts: keepalived goes Master at once only for state MASTER with priority 255
        # (try_up_instance); any other instance starts Backup and waits Master_Down_Interval
        want = values.pop("state", "BACKUP")
        values["starts_as"] = (
            "MASTER" if want == "MASTER" and values.get("priority") == OWNER_PRIORITY else "BACKUP"
        )
        for key in ("vips", "excluded_vips", "unicast_peers", *_TRACK_SECTIONS.values()):
            values[key] = sorted(set(values[key]))
        if values.get("auth_type") != "PASS":
            values.pop("auth_pass", None)
        if values.get("version") == 3:  # v3 has no authentication; keepalived prints none for IPv6 only
            values.pop("auth_type", None)
    return instances


def _empty() -> dict:
    return {key: [] for key in ("vips", "excluded_vips", "unicast_peers", *_TRACK_SECTIONS.values())}


def from_tandem(config: Config) -> dict[str, dict]:
    """The same structure for what tandemd runs."""
    # a script whose program is missing here is disabled (tandem.daemon.runners), as keepalived does
    scripts = {s.name: s for s in config.vrrp_scripts if not unrunnable_program(s)}
    files = {f.name: f for f in config.track_files}
    processes = {p.name: p for p in config.vrrp_track_processes}
    groups = {member: g.name for g in config.vrrp_sync_groups for member in g.group}
    out: dict[str, dict] = {}
    for instance in config.vrrp_instances:
        params = params_from_config(config, instance)

        def tracked(entries, defined):
            result = []
            for entry in entries:
                if defined is not None and entry.name not in defined:
                    continue  # not tracked (tandem.track.tracker._resolve)
                weight = entry.weight
                reverse = entry.weight_reverse
                if weight is None:
                    weight, reverse = defined[entry.name].weight, defined[entry.name].weight_reverse
                weight = weight or 0
                result.append((entry.name, -weight if reverse else weight))
            return sorted(set(result))

        def vip(v: VirtualAddress, interface: str = params.vip_interface) -> str:
            return f"{v.address} dev {v.dev or interface}"

        values = {
            "version": params.version,
            "starts_as": "MASTER" if instance.priority == OWNER_PRIORITY else "BACKUP",  # Instance._startup
            "interface": params.interface,
            "vmac": params.vmac,
            "vmac_xmit_base": params.vmac_xmit_base,
            "source": str(params.source) if params.source is not None else None,
            "mcast_group": None if params.unicast else str(params.group),
            "vrid": params.vrid,
            "priority": params.priority,
            "advert_int": params.advert_int,
            "accept": params.accept,
            "preempt": params.preempt,
            "preempt_delay": params.preempt_delay,
            "auth_type": instance.auth_type,
            "auth_pass": instance.auth_pass,
            "garp_delay": params.garp_delay,
            "garp_repeat": params.garp_repeat,
            "garp_refresh": params.garp_refresh,
            "garp_refresh_repeat": params.garp_refresh_repeat,
            "garp_lower_prio_delay": params.garp_lower_prio_delay,
            "garp_lower_prio_repeat": params.garp_lower_prio_repeat,
            "lower_prio_no_advert": params.lower_prio_no_advert,
            "vips": sorted({vip(v) for v in params.vips}),
            "excluded_vips": sorted({vip(v) for v in params.excluded_vips}),
            "unicast_peers": sorted({str(p) for p in params.unicast_peers}),
            "track_interfaces": tracked(instance.track_interfaces, None),
            "track_scripts": tracked(instance.track_scripts, scripts),
            "track_files": tracked(instance.track_files, files),
            "track_processes": tracked(instance.track_processes, processes),
        }
        if instance.name in groups:
            values["sync_group"] = groups[instance.name]
        if values["auth_type"] != "PASS":
            values.pop("auth_pass")
        if values["version"] == 3:
            values.pop("auth_type")
        out[instance.name] = values
    return out


def differences(keepalived: dict[str, dict], tandem: dict[str, dict]) -> list[str]:
    """What differs, one line each: instances only on one side, and each key whose values differ (a
    key keepalived did not print is not compared)."""
    lines = [f"instance {name}: only keepalived has it" for name in sorted(set(keepalived) - set(tandem))]
    lines += [f"instance {name}: only tandemd has it" for name in sorted(set(tandem) - set(keepalived))]
    for name in sorted(set(keepalived) & set(tandem)):
        ka, td = keepalived[name], tandem[name]
        for key in sorted(ka):
            if _normal(ka[key]) != _normal(td.get(key, "<unset>")):
                lines.append(f"{name}.{key}: keepalived {ka[key]!r}, tandemd {td.get(key, '<unset>')!r}")
    return lines


def _normal(value):
    if isinstance(value, str) and re.fullmatch(r"[\d.:a-fA-F]+", value):
        return value.lower()
    return value
