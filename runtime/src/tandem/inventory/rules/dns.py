"""Rules about DNS record sets: one name carries exactly one group's VIPs, with a TTL that fits failover."""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, error, warning
from ..model import DnsRecordSet, Instance
from .repeats import repeats

# A TTL beyond this many failover times means DNS changes lag far behind what VRRP does.
TTL_FAILOVER_RATIO = 10


def shared_names(records: list[DnsRecordSet]) -> Iterator[Finding]:
    for record, first in repeats(records, key=lambda r: r.name):
        yield error(
            record.source,
            None,
            "dns.name",
            f"{record.name} is also published by {first.source}; its record set would not equal the VIPs of "
            "either: one name per VIP set (merge the sets or use another name)",
        )


def ttl_versus_failover(records: list[DnsRecordSet], instances: list[Instance]) -> Iterator[Finding]:
    failover: dict[str, float] = {}
    for instance in instances:
        failover[instance.source] = max(failover.get(instance.source, 0.0), instance.failover_seconds)
    for record in records:
        seconds = failover[record.source]
        if record.ttl > TTL_FAILOVER_RATIO * seconds:
            yield warning(
                record.source,
                None,
                "dns.ttl",
                f"TTL {record.ttl} s is long compared to the {seconds:.1f} s a VIP takes to fail over: "
                f"resolvers keep a changed record set for up to {record.ttl} s; at most "
                f"{int(TTL_FAILOVER_RATIO * seconds)} s keeps DNS on the failover timescale",
            )
