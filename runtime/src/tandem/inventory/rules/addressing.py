"""Rules about where instances live on the network: VRIDs per L2 segment, VIPs, unicast peers, names."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from itertools import combinations

from tandem.config.checks import vip_address_problem

from ..findings import Finding, error, warning
from ..model import Instance
from .repeats import repeats


def _segment_keys(instance: Instance) -> dict[tuple, str]:
    """What places an instance on an L2 segment, each with how to say it: a host's interface is certainly
    one segment; so is a network the members' addresses are in, and a segment the operator named."""
    keys = {("link", m.host, m.interface): f"both run on {m.host} {m.interface}" for m in instance.members}
    for m in instance.members:
        if m.address is not None:
            keys[("network", m.address.network)] = f"both on network {m.address.network}"
    if instance.segment:
        keys[("segment", instance.segment)] = f"both in segment {instance.segment}"
    return keys


def vrid_collisions(instances: list[Instance]) -> Iterator[Finding]:
    by_vrid = defaultdict(list)
    for instance in instances:
        by_vrid[(instance.family, instance.vrid)].append(instance)
    for same_vrid in by_vrid.values():
        keys = {id(instance): _segment_keys(instance) for instance in same_vrid}
        for first, second in combinations(same_vrid, 2):
            hosts_first = {m.host for m in first.members}
            if (
                first.settings.unicast
                and second.settings.unicast
                and not hosts_first & {m.host for m in second.members}
            ):
                continue  # unicast adverts only reach the listed peers
            shared = keys[id(first)].keys() & keys[id(second)].keys()
            if shared:
                why = keys[id(first)][min(shared, key=str)]
                yield error(
                    second.source,
                    None,
                    second.vrid_field,
                    f"VRID {second.vrid} (IPv{second.family}) of instance {second.name} is also used by "
                    f"instance {first.name} of {first.source} on the same L2 segment ({why}); routers on a "
                    "segment tell VRRP instances apart only by VRID: pick another VRID",
                )


def duplicate_vips(instances: list[Instance]) -> Iterator[Finding]:
    placed = ((i, vip, place) for i in instances for vip, place in zip(i.vips, i.vip_fields, strict=True))
    for (instance, vip, place), (first, _, _) in repeats(placed, key=lambda entry: entry[1].ip):
        yield error(
            instance.source,
            None,
            place,
            f"VIP {vip.ip} is also carried by instance {first.name} of {first.source}; "
            "a VIP belongs to exactly one VRRP instance",
        )


def vips_outside_subnet(instances: list[Instance]) -> Iterator[Finding]:
    for instance in instances:
        for member in instance.members:
            if member.address is None:
                continue
            for vip, place in zip(instance.vips, instance.vip_fields, strict=True):
                if vip.ip not in member.address.network:
                    yield error(
                        instance.source,
                        member.host,
                        place,
                        f"VIP {vip.ip} is outside {member.interface}'s subnet {member.address.network} on "
                        f"{member.host} (tandem_addresses); expected an address inside that subnet",
                    )


def vips_of_the_host(instances: list[Instance], addresses: dict[str, tuple]) -> Iterator[Finding]:
    """A VIP that is a member's own address or a network or broadcast address of its networks: the rule
    of ``tandemd -t`` (tandem.config.checks.vip_address_problem), given the hosts' tandem_addresses."""
    for instance in instances:
        for member in instance.members:
            for vip, place in zip(instance.vips, instance.vip_fields, strict=True):
                problem = vip_address_problem(vip, addresses.get(member.host, ()))
                if problem:
                    yield error(
                        instance.source, member.host, place, f"{problem} (tandem_addresses of {member.host})"
                    )


def unicast_peers(instances: list[Instance]) -> Iterator[Finding]:
    for instance in (i for i in instances if i.settings.unicast):
        members = instance.members
        missing_src = [m for m in members if m.unicast_src is None]
        for m in missing_src:
            yield error(
                instance.source,
                m.host,
                "unicast",
                f"unicast needs {m.host}'s own IPv{instance.family} address on {m.interface}: set "
                f"tandem_addresses.{m.interface} on the host or unicast_src on the member",
            )
        if missing_src:
            continue
        sources = {m.unicast_src for m in members}
        for a, b in combinations(members, 2):
            a_lists_b, b_lists_a = (
                b.unicast_src in instance.peers_of(a),
                a.unicast_src in instance.peers_of(b),
            )
            if not (a_lists_b or b_lists_a):
                yield error(
                    instance.source,
                    a.host,
                    "unicast_peers",
                    f"missing unicast peers: {a.host} ({a.unicast_src}) and {b.host} ({b.unicast_src}) do "
                    "not list each other, so neither hears the other's adverts and both become master",
                )
            elif a_lists_b != b_lists_a:
                talker, deaf = (a, b) if a_lists_b else (b, a)
                yield error(
                    instance.source,
                    deaf.host,
                    "unicast_peers",
                    f"asymmetric unicast peers: {talker.host} lists {deaf.host} ({deaf.unicast_src}) but "
                    f"{deaf.host} does not list {talker.host} ({talker.unicast_src})",
                )
        for m in members:
            for peer in instance.peers_of(m):
                if peer not in sources:
                    yield warning(
                        instance.source,
                        m.host,
                        "unicast_peers",
                        f"unicast peer {peer} of {m.host} is no member of the group "
                        "(a router outside the inventory?)",
                    )


def instance_names(instances: list[Instance]) -> Iterator[Finding]:
    for instance, first in repeats(instances, key=lambda i: i.name):
        yield error(
            instance.source,
            None,
            "name",
            f"instance name {instance.name} is also produced by {first.source}; names must be unique",
        )
