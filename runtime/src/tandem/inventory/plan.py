"""The plan: what each host runs, and which DNS record sets to publish. Format: docs/inventory.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from . import load, rules, services
from .expand import Expansion, expand
from .findings import Finding, Severity, warning
from .model import DnsRecordSet, Instance, Member, TrackScript
from .render import render_host


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _host_instance(instance: Instance, member: Member) -> dict[str, Any]:
    settings = instance.settings
    return {
        "name": instance.name,
        "source": instance.source,
        "interface": member.interface,
        "vrid": instance.vrid,
        "priority": member.priority,
        "state": "MASTER" if member is instance.members[0] else "BACKUP",
        "advert_int": _number(settings.advert_int),
        "version": settings.version,
        "vips": [str(vip) for vip in instance.vips],
        "unicast_src": str(member.unicast_src) if settings.unicast else None,
        "unicast_peers": [str(peer) for peer in instance.peers_of(member)] if settings.unicast else [],
        "auth": {"type": settings.auth.type, "password": settings.auth.password} if settings.auth else None,
        "track_scripts": [{"name": s.name, "weight": s.weight} for s in instance.track_scripts],
        # entries name the host's track_files / track_processes definitions (their weights apply)
        "track_files": [{"name": t["name"]} for t in instance.track_files],
        "track_processes": [{"name": t["name"]} for t in instance.track_processes],
        "notify": dict(instance.notify),
        "sync_group": instance.sync_group,
        "vip_options": [dict(o) for o in instance.options.get("vip_options", ())],
        **{k: v for k, v in instance.options.items() if k != "vip_options"},
    }


def _script(script: TrackScript, source: str) -> dict[str, Any]:
    return {
        "name": script.name,
        "source": source,
        "script": script.script,
        "interval": _number(script.interval),
        "timeout": None if script.timeout is None else _number(script.timeout),
        "fall": script.fall,
        "rise": script.rise,
        "user": script.user,
    }


def _empty_host() -> dict[str, Any]:
    keys = ("instances", "scripts", "track_files", "track_processes", "sync_groups", "files")
    return {**{key: [] for key in keys}, "sysctls": {}}


def _once(into: list[dict], items, key: str = "name") -> None:
    """Append the items whose ``key`` is not there yet (a host defines a tracker or ships a file once;
    rules.election.definitions finds two different ones under one name)."""
    known = {item[key] for item in into}
    for item in items:
        if item[key] not in known:
            into.append(dict(item))
            known.add(item[key])


def _tracker(track: dict, source: str) -> dict[str, Any]:
    """A track_file definition in keepalived keywords (name, file, weight [reverse], init_file)."""
    weight = [track["weight"], "reverse"] if track.get("reverse") else track["weight"]
    return {
        "name": track["name"],
        "source": source,
        "file": track["file"],
        "weight": weight,
        "init_file": track.get("init_file"),
    }


def _process(track: dict, source: str) -> dict[str, Any]:
    """A vrrp_track_process definition in keepalived keywords."""
    weight = [track["weight"], "reverse"] if track.get("reverse") else track["weight"]
    param_match = track.get("param_match")
    return {
        "name": track["name"],
        "source": source,
        "process": [track["process"], *track.get("args", ())],
        "param_match": None if param_match is None else (True if param_match == "exact" else param_match),
        "full_command": track.get("full_command"),
        "weight": weight,
        "quorum": track.get("quorum"),
        "quorum_max": track.get("quorum_max"),
        "fork_delay": track.get("fork_delay"),
        "terminate_delay": track.get("terminate_delay"),
    }


def _index_entry(instance: Instance) -> dict[str, Any]:
    return {
        "name": instance.name,
        "source": instance.source,
        "vrid": instance.vrid,
        "vips": [str(vip) for vip in instance.vips],
        "master": instance.members[0].host,
        "members": [
            {"host": m.host, "priority": m.priority, "interface": m.interface} for m in instance.members
        ],
    }


def _record_set(record: DnsRecordSet) -> dict[str, Any]:
    published = {
        "name": record.name,
        "zone": record.zone,
        "addresses": [str(a) for a in record.addresses],
        "ttl": record.ttl,
        "source": record.source,
    }
    return published | ({"server": record.server} if record.server else {})


@dataclass(frozen=True)
class InventoryPlan:
    findings: list[Finding]
    hosts: dict[str, dict[str, list]]
    instances: list[dict[str, Any]]
    dns_records: list[dict[str, Any]]
    # DR real servers that run no tandemd: the sysctls they need (arp_ignore/arp_announce)
    real_server_sysctls: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    def as_dict(self) -> dict[str, Any]:
        return {
            "hosts": self.hosts,
            "instances": self.instances,
            "dns_records": self.dns_records,
            "real_server_sysctls": self.real_server_sysctls,
        }


def _build(expansion: Expansion, findings: list[Finding]) -> InventoryPlan:
    hosts: dict[str, dict[str, Any]] = {}
    for instance in expansion.instances:
        for member in instance.members:
            host = hosts.setdefault(member.host, _empty_host())
            host["instances"].append(_host_instance(instance, member))
            _once(host["scripts"], (_script(s, instance.source) for s in instance.track_scripts))
            _once(host["track_files"], (_tracker(t, instance.source) for t in instance.track_files))
            _once(host["track_processes"], (_process(t, instance.source) for t in instance.track_processes))
            _once(host["files"], instance.files, key="dest")
            if instance.sync_group:
                sync = next((g for g in host["sync_groups"] if g["name"] == instance.sync_group), None)
                if sync is None:
                    host["sync_groups"].append(sync := {"name": instance.sync_group, "group": []})
                sync["group"].append(instance.name)
            if instance.nonlocal_bind:
                host["sysctls"][f"net.ipv{instance.family}.ip_nonlocal_bind"] = 1
    return InventoryPlan(
        findings=findings,
        hosts=hosts,
        instances=[_index_entry(i) for i in expansion.instances],
        dns_records=[_record_set(r) for r in expansion.dns],
    )


def plan_inventory(
    vrrp_groups: Any,
    active_active: Any,
    inventory: Mapping[str, Mapping[str, Any]],
    virtual_servers: Any = None,
    global_settings: Any = None,
) -> InventoryPlan:
    """Validate the whole design and plan it.

    ``vrrp_groups`` and ``active_active`` are the raw values of ``tandem_vrrp_groups`` and
    ``tandem_active_active``; ``inventory`` maps every inventory host to its vars (only the ``tandem_*``
    vars of member hosts are read); ``virtual_servers`` and ``global_settings`` those of
    ``tandem_virtual_servers`` and ``tandem_global``. With any error the plan is empty.
    """
    if vrrp_groups is None and active_active is None and virtual_servers is None:
        nothing = warning(
            None, None, "tandem_vrrp_groups", "no VRRP groups or active-active sets: nothing to plan"
        )
        return InventoryPlan([nothing], {}, [], [])
    groups, group_findings = load.vrrp_groups(vrrp_groups)
    sets, set_findings = load.active_active_sets(active_active)
    host_vars = load.HostVars(inventory)
    expansion = expand(groups, sets, host_vars)
    defs, smtp_password, global_files, global_findings = services.global_defs(global_settings)
    defined = frozenset(
        d.get("name")
        for design in (vrrp_groups, active_active)
        if isinstance(design, list)
        for d in design
        if isinstance(d, Mapping) and isinstance(d.get("name"), str)
    )
    served = services.virtual_servers(virtual_servers, expansion.instances, set(inventory), defined)
    findings = [
        *group_findings,
        *set_findings,
        *global_findings,
        *host_vars.findings,
        *expansion.findings,
        *served[-1],
        *rules.check(expansion),
    ]
    if any(f.severity is Severity.ERROR for f in findings):
        return InventoryPlan(findings, {}, [], [])
    plan = _build(expansion, findings)
    _add_services(plan, served, defs, smtp_password, global_files)
    plan = replace(plan, findings=[*findings, *_config_findings(plan)])
    if plan.errors:
        return InventoryPlan(plan.findings, {}, [], [])
    return plan


def _add_services(
    plan: InventoryPlan, served: tuple, defs: dict, smtp_password: str | None, global_files: list[dict]
) -> None:
    """Virtual servers, their shipped scripts and sysctls, and the design-wide global_defs (with the
    FIFO scripts it ships), per host."""
    servers, files, sysctls, _ = served
    for host in sorted(set(servers) - set(plan.hosts)):
        plan.hosts[host] = _empty_host()
    for host, part in plan.hosts.items():
        part["virtual_servers"] = servers.get(host, [])
        _once(part["files"], [*files.get(host, ()), *global_files], key="dest")
        part["sysctls"].update(sysctls.get(host, {}))
        part["global_defs"] = dict(defs)
        part["smtp_auth_password"] = smtp_password
    plan.real_server_sysctls.update({h: v for h, v in sysctls.items() if h not in plan.hosts})


def _config_findings(plan: InventoryPlan) -> list[Finding]:
    """What the runtime's config checks (those of ``tandemd -t``) say about each host's rendered
    tandemd.conf; one finding per place and message, for the first host it concerns."""
    found: dict[tuple, Finding] = {}
    for host, part in plan.hosts.items():
        for finding in render_host(part, host).findings:
            found.setdefault((finding.severity, finding.group, finding.field, finding.message), finding)
    return list(found.values())
