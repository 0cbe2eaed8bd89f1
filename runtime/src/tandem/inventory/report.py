"""What a person reads about a plan: a short summary per instance, the plan with its secrets masked, and
findings grouped so that one root cause does not bury the rest.

The plan itself keeps its secrets (the tandemd role writes them into tandemd.conf); everything meant for
eyes goes through ``redacted``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .findings import Finding

MASK = "********"
# Keys whose values are secrets wherever they appear in a plan (VRRP PASS, SMTP AUTH, TSIG).
SECRET_KEYS = frozenset({"password", "auth_pass", "smtp_auth_password", "key_secret", "secret"})
# Findings shown per (group, field) before the rest is counted.
SHOWN_PER_PLACE = 3


def redacted(value: Any) -> Any:
    """A copy of ``value`` (plan, instance, any nesting of dicts and lists) with every secret masked."""
    if isinstance(value, dict):
        return {k: MASK if k in SECRET_KEYS and v is not None else redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


def secrets(value: Any) -> set[str]:
    """Every secret string inside ``value``, for masking text that may contain them."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SECRET_KEYS and isinstance(item, str) and item:
                found.add(item)
            else:
                found |= secrets(item)
    elif isinstance(value, list):
        for item in value:
            found |= secrets(item)
    return found


def summary(plan: dict[str, Any], warnings: list[Finding]) -> str:
    """Per instance: VIPs -> master -> backups with priorities, with what changes who is master
    (no preemption, a sync group); the virtual servers and their hosts; DNS names; then the warnings."""
    instances, records = plan["instances"], plan["dns_records"]
    names: dict[str, list[str]] = defaultdict(list)
    for record in records:
        names[record["source"]].append(record["name"])
    lines = [
        f"VRRP plan: {len(instances)} instance(s) on {len(plan['hosts'])} host(s), "
        f"{len(records)} DNS record set(s)"
    ]
    for instance in instances:
        master, *backups = (f"{m['host']} ({m['priority']})" for m in instance["members"])
        origin = "" if instance["source"] == instance["name"] else f" of {instance['source']}"
        notes = _notes(plan, instance)
        lines.append(
            f"  {instance['name']}{origin} (VRID {instance['vrid']}): {', '.join(instance['vips'])}"
            f" -> master {master} -> backups {', '.join(backups)}{f' [{notes}]' if notes else ''}"
        )
    for name, (where, hosts, real_servers) in _virtual_servers(plan).items():
        lines.append(f"  virtual server {name} {where} on {', '.join(hosts)}: {real_servers} real server(s)")
    for source, dns_names in names.items():
        lines.append(f"  DNS {', '.join(dns_names)}: VIPs of {source}")
    lines += [f"  warning: {w}" for w in warnings]
    return "\n".join(lines)


def _notes(plan: dict[str, Any], instance: dict[str, Any]) -> str:
    """What the master's own copy of the instance says about mastership: nopreempt, a sync group."""
    mine = plan["hosts"].get(instance["master"], {}).get("instances", [])
    planned = next((i for i in mine if i.get("name") == instance["name"]), {})
    notes = []
    if planned.get("preempt") is False:
        notes.append("nopreempt: the first master stays")
    if planned.get("sync_group"):
        notes.append(f"sync group {planned['sync_group']}")
    return ", ".join(notes)


def _virtual_servers(plan: dict[str, Any]) -> dict[str, tuple[str, list[str], int]]:
    """Each virtual server once: its address (or fwmark), the hosts that run it, its real servers."""
    found: dict[str, tuple[str, list[str], int]] = {}
    for host, part in plan["hosts"].items():
        for server in part.get("virtual_servers", []):
            if server["name"] not in found:
                if "fwmark" in server:
                    where = f"fwmark {server['fwmark']}"
                else:
                    address = str(server.get("address"))
                    address = f"[{address}]" if ":" in address else address
                    where = f"{address}:{server.get('port', '*')}"
                found[server["name"]] = (where, [], len(server.get("real_servers", [])))
            found[server["name"]][1].append(host)
    return found


def grouped(findings: list[Finding]) -> list[str]:
    """One line per finding, except that past ``SHOWN_PER_PLACE`` findings about one group and field
    (one wrong prefix can fail every VIP on every host) the rest is counted on one line."""
    by_place: dict[tuple, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_place[(finding.group, finding.field)].append(finding)
    lines = []
    for (group, field), same in by_place.items():
        lines += [str(f) for f in same[:SHOWN_PER_PLACE]]
        if len(same) > SHOWN_PER_PLACE:
            hosts = sorted({f.host for f in same[SHOWN_PER_PLACE:] if f.host})
            on = f" (hosts {', '.join(hosts[:5])}{', ...' if len(hosts) > 5 else ''})" if hosts else ""
            where = f"group '{group}', field '{field}'" if group else f"field '{field}'"
            lines.append(f"... and {len(same) - SHOWN_PER_PLACE} more like these for {where}{on}")
    return lines
