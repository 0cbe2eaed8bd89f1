"""Rule about active-active sets: every host masters its share of VIPs, counted over all sets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from ..findings import Finding, error, warning
from ..model import ActiveActiveSet


def balanced_masters(sets: list[ActiveActiveSet]) -> Iterator[Finding]:
    masters = Counter(instance.members[0].host for s in sets for instance in s.instances)
    for aa_set in sets:
        if len(aa_set.instances) < len(aa_set.hosts):
            idle = [h for h in aa_set.hosts if not any(i.members[0].host == h for i in aa_set.instances)]
            yield error(
                aa_set.name,
                idle[0],
                "vips",
                f"{len(aa_set.hosts)} hosts but {len(aa_set.instances)} VIPs: {', '.join(idle)} would "
                f"master no VIP and idle as pure backups; give the set at least {len(aa_set.hosts)} VIPs",
            )
            continue
        load = {host: masters[host] for host in aa_set.hosts}
        busiest, idlest = max(load, key=load.get), min(load, key=load.get)
        spread = load[busiest] - load[idlest]
        counts = ", ".join(f"{host} {n}" for host, n in load.items())
        others = sorted({s.name for s in sets if set(s.hosts) & set(aa_set.hosts)} - {aa_set.name})
        across = f" (counted over sets {aa_set.name}, {', '.join(others)})" if others else ""
        if spread > 1:
            yield error(
                aa_set.name,
                busiest,
                "hosts",
                f"unbalanced active-active masters{across}: VIPs mastered per host: {counts}; reorder "
                "the hosts of one set so its rotation starts on the least loaded host",
            )
        elif spread == 1:
            yield warning(
                aa_set.name,
                busiest,
                "vips",
                f"VIPs cannot be spread evenly{across}: VIPs mastered per host: {counts}",
            )
