"""Rules that need the whole inventory. Each takes the expanded model and yields findings."""

from __future__ import annotations

from ..expand import Expansion
from ..findings import Finding
from . import active_active, addressing, dns, election, sync


def check(expansion: Expansion) -> list[Finding]:
    instances = expansion.instances
    found = [
        *addressing.instance_names(instances),
        *addressing.vrid_collisions(instances),
        *addressing.duplicate_vips(instances),
        *addressing.vips_outside_subnet(instances),
        *addressing.vips_of_the_host(instances, expansion.host_addresses),
        *addressing.unicast_peers(instances),
        *election.preferred_master(instances),
        *election.track_weights(instances),
        *election.script_definitions(instances),
        *sync.sync_groups(instances),
        *sync.shipped_files(instances),
        *active_active.balanced_masters(expansion.active_active),
        *dns.shared_names(expansion.dns),
        *dns.ttl_versus_failover(expansion.dns, instances),
    ]
    # The VIPs of an active-active set share one definition: say each problem once per place.
    unique: dict[tuple, Finding] = {}
    for finding in found:
        unique.setdefault((finding.severity, finding.group, finding.host, finding.field), finding)
    return list(unique.values())
