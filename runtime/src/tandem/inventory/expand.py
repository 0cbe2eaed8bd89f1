"""Turn validated definitions into Instances.

Each member is resolved against its host vars (interface, own address, settings defaults); priorities
follow the member order when none are given; an active-active set of N hosts and M VIPs becomes M
instances where VIP i is mastered by host i mod N and the others follow in rotated order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .findings import Finding, error
from .load import HostVars
from .model import ActiveActiveSet, Auth, DnsRecordSet, Instance, Member, Settings, TrackScript
from .schema import SETTINGS
from .scripts import notify_script, shipped

DEFAULTS_VAR = "tandem_vrrp_defaults"
OVERRIDES_VAR = "tandem_vrrp_overrides"
# Instance fields every member writes as they are (the runtime's checks judge them).
PASSED_THROUGH = (
    "preempt",
    "preempt_delay",
    "accept",
    "garp",
    "track_interfaces",
    "virtual_routes",
    "virtual_rules",
    "smtp_alert",
    "use_vmac",
    "vmac_xmit_base",
    "unicast_ttl",
)


@dataclass
class Expansion:
    instances: list[Instance] = field(default_factory=list)
    active_active: list[ActiveActiveSet] = field(default_factory=list)
    dns: list[DnsRecordSet] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    host_addresses: dict[str, tuple] = field(default_factory=dict)  # every address of each member host


def _builtin(key: str, family: int) -> Any:
    return {"advert_int": 1.0, "version": 3 if family == 6 else 2, "auth": None, "unicast": False}[key]


def _describe(key: str, value: Any) -> str:
    if key == "auth":
        return "no auth" if value is None else f"{value.type} (password not shown)"
    return str(value)


def _as_setting(key: str, value: Any) -> Any:
    return Auth(**value) if key == "auth" and value is not None else value


class _Expander:
    def __init__(self, hosts: HostVars, out: Expansion):
        self.hosts = hosts
        self.out = out

    def members(self, definition: dict, entries: list[tuple[str, dict]], family: int) -> list[Member] | None:
        """Resolve (field, member) entries; None when one of them cannot be resolved."""
        source, members = definition["name"], []
        for place, entry in entries:
            host = entry["host"]
            host_vars = self.hosts.get(host)
            if host_vars is None:
                self.out.findings.append(error(source, host, place, f"host {host} is not in the inventory"))
                continue
            override = host_vars.get(OVERRIDES_VAR, {}).get(source, {})
            interface = override.get("interface") or definition.get("interface")
            interface = interface or host_vars.get("tandem_interface")
            if interface is None:
                self.out.findings.append(
                    error(
                        source,
                        host,
                        "interface",
                        "no VRRP interface: set interface on the group or tandem_interface on the host",
                    )
                )
                continue
            own = [a for a in host_vars.get("tandem_addresses", {}).get(interface, []) if a.version == family]
            address = own[0] if own else None
            peers = entry.get("unicast_peers")
            members.append(
                Member(
                    host=host,
                    priority=entry.get("priority", 0),
                    interface=interface,
                    address=address,
                    unicast_src=override.get("unicast_src")
                    or entry.get("unicast_src")
                    or (address.ip if address else None),
                    unicast_peers=tuple(peers) if peers is not None else None,
                )
            )
        return members if len(members) == len(entries) else None

    def priorities(self, group: dict) -> list[int] | None:
        """Each member's priority: given on the member, else in its host's tandem_vrrp_overrides (all
        members or none), else by the order. A priority in both places is an error."""
        name, members = group["name"], group["members"]
        own = {}
        for member in members:
            host_vars = self.hosts.get(member["host"]) or {}
            value = host_vars.get(OVERRIDES_VAR, {}).get(name, {}).get("priority")
            if value is not None:
                own[member["host"]] = value
        given = [m for m in members if "priority" in m]
        if own and given:
            host = next(iter(own))
            self.out.findings.append(
                error(
                    name,
                    host,
                    f"{OVERRIDES_VAR}.{name}.priority",
                    "the group's members already give priorities; set each priority in one place",
                )
            )
            return None
        if own and len(own) != len(members):
            missing = next(m["host"] for m in members if m["host"] not in own)
            self.out.findings.append(
                error(
                    name,
                    missing,
                    f"{OVERRIDES_VAR}.{name}.priority",
                    f"{', '.join(sorted(own))} set their priority in {OVERRIDES_VAR} but {missing} does not: "
                    "give every member a priority there, or none (priorities then follow the order)",
                )
            )
            return None
        if own:
            return [own[m["host"]] for m in members]
        return [
            m.get("priority", group["priority_top"] - index * group["priority_step"])
            for index, m in enumerate(members)
        ]

    def settings(self, definition: dict, hosts: list[str], family: int) -> Settings | None:
        """Group values win; otherwise the members' defaults (tandem_vrrp_defaults or built-in) must agree."""
        values = {}
        for key in SETTINGS:
            if key in definition:
                values[key] = _as_setting(key, definition[key])
                continue
            per_host = {}
            for host in hosts:
                defaults = self.hosts.get(host).get(DEFAULTS_VAR, {})
                per_host[host] = _as_setting(key, defaults.get(key, _builtin(key, family)))
            distinct = set(per_host.values())
            if len(distinct) > 1:
                first = per_host[hosts[0]]
                odd = next(h for h in hosts if per_host[h] != first)
                listing = ", ".join(f"{h}={_describe(key, v)}" for h, v in per_host.items())
                self.out.findings.append(
                    error(
                        definition["name"],
                        odd,
                        key,
                        f"members disagree on {key} ({listing}, from {DEFAULTS_VAR} or the built-in "
                        f"default); set {key} on the group or align the hosts",
                    )
                )
                return None
            values[key] = distinct.pop()
        return Settings(**values)

    def instance(
        self, definition: dict, members: list[Member], settings: Settings, **fields: Any
    ) -> Instance:
        files: list[dict] = []
        scripts = []
        for script in definition["track_scripts"]:
            values = {"timeout": None, "user": None, **script}
            if "src" in values:
                values["script"], file = shipped(values["src"], values.pop("args", None), values["user"])
                files.append(file)
            scripts.append(TrackScript(**values))
        notify = []
        for event, value in sorted(definition["notify"].items()):
            notify.append((event, notify_script(value, files)))
        options = {key: definition.get(key) for key in PASSED_THROUGH}
        options["vip_options"] = definition["vip_options"]
        excluded = zip(definition["excluded_vips"], definition["excluded_vip_options"], strict=True)
        options["excluded_vips"] = [{"address": str(a), **o} if o else str(a) for a, o in excluded]
        return Instance(
            members=tuple(sorted(members, key=lambda m: -m.priority)),
            settings=settings,
            track_scripts=tuple(scripts),
            notify=tuple(notify),
            segment=definition.get("segment"),
            sync_group=definition.get("sync_group"),
            nonlocal_bind=definition.get("nonlocal_bind", False),
            options=options,
            track_files=tuple(definition.get("track_files", ())),
            track_processes=tuple(definition.get("track_processes", ())),
            files=tuple(files),
            **fields,
        )

    def dns(self, definition: dict) -> None:
        if "dns" in definition:
            dns = definition["dns"]
            self.out.dns.append(
                DnsRecordSet(
                    source=definition["name"],
                    name=dns["name"],
                    zone=dns["zone"],
                    ttl=dns["ttl"],
                    server=dns.get("server"),
                    addresses=tuple(vip.ip for vip in definition["vips"]),
                )
            )

    def group(self, group: dict) -> None:
        family = group["vips"][0].version
        priorities = self.priorities(group)
        if priorities is None:
            return
        entries = [
            (f"members[{index}].host", {**member, "priority": priority})
            for index, (member, priority) in enumerate(zip(group["members"], priorities, strict=True))
        ]
        members = self.members(group, entries, family)
        settings = members and self.settings(group, [m.host for m in members], family)
        if settings:
            name = group["name"]
            self.out.instances.append(
                self.instance(
                    group,
                    members,
                    settings,
                    name=name,
                    source=name,
                    vrid_field="vrid",
                    vrid=group["vrid"],
                    vip_fields=tuple(f"vips[{j}]" for j in range(len(group["vips"]))),
                    vips=tuple(group["vips"]),
                    preferred_master=group.get("master"),
                )
            )
            self.dns(group)

    def active_active(self, aa_set: dict) -> None:
        hosts, vips = aa_set["hosts"], aa_set["vips"]
        family = vips[0].version
        entries = [(f"hosts[{index}]", {"host": host}) for index, host in enumerate(hosts)]
        members = self.members(aa_set, entries, family)
        settings = members and self.settings(aa_set, hosts, family)
        if not settings:
            return
        instances = []
        for i, vip in enumerate(vips):
            rotated = members[i % len(hosts) :] + members[: i % len(hosts)]
            ranked = [
                replace(m, priority=aa_set["priority_top"] - k * aa_set["priority_step"])
                for k, m in enumerate(rotated)
            ]
            instances.append(
                self.instance(
                    aa_set,
                    ranked,
                    settings,
                    name=f"{aa_set['name']}_{i}",
                    source=aa_set["name"],
                    vrid_field="vrid_base",
                    vip_fields=(f"vips[{i}]",),
                    vrid=aa_set["vrid_base"] + i,
                    vips=(vip,),
                    preferred_master=None,
                )
            )
        self.out.instances += instances
        self.out.active_active.append(ActiveActiveSet(aa_set["name"], tuple(hosts), tuple(instances)))
        self.dns(aa_set)

    def overrides(self, groups: list[dict], aa_sets: list[dict]) -> None:
        """Each member's tandem_vrrp_overrides name a group or set it is a member of, and set only
        what that definition lets a host set."""
        kinds = {g["name"]: ("group", g) for g in groups} | {a["name"]: ("set", a) for a in aa_sets}
        for host in self.hosts.loaded():
            for name, values in self.hosts.get(host).get(OVERRIDES_VAR, {}).items():
                place = f"{OVERRIDES_VAR}.{name}"
                kind, definition = kinds.get(name, (None, None))
                members = (
                    ([m["host"] for m in definition["members"]] if kind == "group" else definition["hosts"])
                    if definition
                    else []
                )
                if host not in members:
                    what = f"{kind} {name}" if definition else f"no VRRP group or active-active set {name}"
                    problem = f"{host} is not a member of {what}" if definition else f"there is {what}"
                    self.out.findings.append(error(None, host, place, f"{problem}: nothing to override"))
                elif kind == "set" and "priority" in values:
                    self.out.findings.append(
                        error(
                            name,
                            host,
                            f"{place}.priority",
                            "active-active sets rank hosts by rotation: a host cannot set its priority",
                        )
                    )
                elif "unicast_src" in values and definition.get("unicast") is not True:
                    self.out.findings.append(
                        error(
                            name, host, f"{place}.unicast_src", f"unicast_src needs unicast: true on {name}"
                        )
                    )


def expand(groups: list[dict], aa_sets: list[dict], hosts: HostVars) -> Expansion:
    out = Expansion()
    expander = _Expander(hosts, out)
    for group in groups:
        expander.group(group)
    for aa_set in aa_sets:
        expander.active_active(aa_set)
    expander.overrides(groups, aa_sets)
    for host in hosts.loaded():
        own = hosts.get(host).get("tandem_addresses", {})
        out.host_addresses[host] = tuple(a for addresses in own.values() for a in addresses)
    return out
