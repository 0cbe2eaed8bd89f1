"""The plan: what each host runs, and which DNS record sets to publish. Format: docs/inventory.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import load, rules
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
        "notify": dict(instance.notify),
    }


def _script(script: TrackScript) -> dict[str, Any]:
    return {
        "name": script.name,
        "script": script.script,
        "interval": _number(script.interval),
        "timeout": None if script.timeout is None else _number(script.timeout),
        "fall": script.fall,
        "rise": script.rise,
        "user": script.user,
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

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    def as_dict(self) -> dict[str, Any]:
        return {"hosts": self.hosts, "instances": self.instances, "dns_records": self.dns_records}


def _build(expansion: Expansion, findings: list[Finding]) -> InventoryPlan:
    hosts: dict[str, dict[str, list]] = {}
    for instance in expansion.instances:
        for member in instance.members:
            host = hosts.setdefault(member.host, {"instances": [], "scripts": []})
            host["instances"].append(_host_instance(instance, member))
            known = {s["name"] for s in host["scripts"]}
            host["scripts"] += [_script(s) for s in instance.track_scripts if s.name not in known]
    return InventoryPlan(
        findings=findings,
        hosts=hosts,
        instances=[_index_entry(i) for i in expansion.instances],
        dns_records=[_record_set(r) for r in expansion.dns],
    )


def plan_inventory(
    vrrp_groups: Any, active_active: Any, inventory: Mapping[str, Mapping[str, Any]]
) -> InventoryPlan:
    """Validate the whole design and plan it.

    ``vrrp_groups`` and ``active_active`` are the raw values of ``tandem_vrrp_groups`` and
    ``tandem_active_active``; ``inventory`` maps every inventory host to its vars (only the ``tandem_*``
    vars of member hosts are read). With any error the plan is empty.
    """
    if vrrp_groups is None and active_active is None:
        nothing = warning(
            None, None, "tandem_vrrp_groups", "no VRRP groups or active-active sets: nothing to plan"
        )
        return InventoryPlan([nothing], {}, [], [])
    groups, group_findings = load.vrrp_groups(vrrp_groups)
    sets, set_findings = load.active_active_sets(active_active)
    host_vars = load.HostVars(inventory)
    expansion = expand(groups, sets, host_vars)
    findings = [
        *group_findings,
        *set_findings,
        *host_vars.findings,
        *expansion.findings,
        *rules.check(expansion),
    ]
    if any(f.severity is Severity.ERROR for f in findings):
        return InventoryPlan(findings, {}, [], [])
    plan = _build(expansion, findings)
    findings += _config_findings(plan)
    if any(f.severity is Severity.ERROR for f in findings):
        return InventoryPlan(findings, {}, [], [])
    return plan


def _config_findings(plan: InventoryPlan) -> list[Finding]:
    """What the runtime's config checks (those of ``tandemd -t``) say about each host's rendered
    tandemd.conf; one finding per place and message, for the first host it concerns."""
    found: dict[tuple, Finding] = {}
    for host, part in plan.hosts.items():
        for finding in render_host(part, host).findings:
            found.setdefault((finding.severity, finding.group, finding.field, finding.message), finding)
    return list(found.values())
