"""Rules about what groups share on their hosts: sync groups and the scripts shipped to the hosts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from ..findings import Finding, error
from ..model import Instance


def _hosts(instance: Instance) -> str:
    return ", ".join(sorted(m.host for m in instance.members))


def sync_groups(instances: list[Instance]) -> Iterator[Finding]:
    """A sync group's instances change state together, so they must run on the same hosts with the same
    planned master (else the group drags one instance away from its master), and it needs two of them."""
    by_name: dict[str, list[Instance]] = defaultdict(list)
    for instance in instances:
        if instance.sync_group:
            by_name[instance.sync_group].append(instance)
    for name, members in by_name.items():
        first = members[0]
        if len(members) == 1:
            yield error(
                first.source,
                None,
                "sync_group",
                f"sync group {name} has only {first.name}; a sync group ties two or more groups together",
            )
            continue
        hosts = {m.host for m in first.members}
        for other in members[1:]:
            if {m.host for m in other.members} != hosts:
                yield error(
                    other.source,
                    None,
                    "sync_group",
                    f"sync group {name}: {other.name} runs on {_hosts(other)} but {first.name} on "
                    f"{_hosts(first)}; its groups need the same members",
                )
            elif other.members[0].host != first.members[0].host:
                yield error(
                    other.source,
                    other.members[0].host,
                    "sync_group",
                    f"sync group {name}: {other.name} is planned to be mastered by {other.members[0].host} "
                    f"but {first.name} by {first.members[0].host}; give the groups one master",
                )


def shipped_files(instances: list[Instance]) -> Iterator[Finding]:
    """Two scripts shipped from the controller under one file name would overwrite each other."""
    placed: dict[tuple[str, str], tuple[str, str]] = {}
    for instance in instances:
        for file in instance.files:
            for member in instance.members:
                src, source = placed.setdefault((member.host, file["dest"]), (file["src"], instance.source))
                if src != file["src"]:
                    yield error(
                        instance.source,
                        member.host,
                        "src",
                        f"{file['src']} and {src} (of {source}) would both be shipped to {file['dest']} on "
                        f"{member.host}; rename one of them",
                    )
