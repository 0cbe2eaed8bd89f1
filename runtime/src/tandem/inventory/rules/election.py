"""Rules about who wins the election: one preferred master, no ties, track weights that can move it.

keepalived's track_script weight arithmetic (the setting most often misunderstood): a script with a
negative weight lowers the priority of the router whose check fails by |weight|; a positive weight raises
the priority of routers whose check passes. Either way the master hands over only when the best backup
ends up strictly above it, so |weight| must exceed the priority gap between master and best backup.
Priorities stay within 1..254. Weight 0 means "fault on failure", which always hands over.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding, error, warning
from ..model import Instance

LOWEST, HIGHEST = 1, 254


def preferred_master(instances: list[Instance]) -> Iterator[Finding]:
    for instance in instances:
        top, *backups = instance.members
        tied_top = [m.host for m in instance.members if m.priority == top.priority]
        if len(tied_top) == len(instance.members):
            yield error(
                instance.source,
                top.host,
                "members",
                f"no preferred master: all members have priority {top.priority}; the election then goes by "
                "primary IP address, not by design: give the intended master the highest priority",
            )
        elif len(tied_top) > 1:
            yield error(
                instance.source,
                tied_top[1],
                "members",
                f"several preferred masters: {', '.join(tied_top)} share the highest priority "
                f"{top.priority}; give exactly one member the highest priority",
            )
        elif instance.preferred_master and instance.preferred_master != top.host:
            chosen = next(m for m in instance.members if m.host == instance.preferred_master)
            yield error(
                instance.source,
                chosen.host,
                "master",
                f"preferred master {chosen.host} has priority {chosen.priority} but {top.host} has "
                f"{top.priority} and wins the election; give {chosen.host} the highest priority",
            )
        for lower, higher in zip(backups[1:], backups, strict=False):
            if lower.priority == higher.priority and len(tied_top) == 1:
                yield warning(
                    instance.source,
                    lower.host,
                    "members",
                    f"priority tie among backups: {higher.host} and {lower.host} both have priority "
                    f"{lower.priority}; which takes over depends on their IP addresses",
                )


def _hands_over(master: int, backup: int, weight: int) -> bool:
    if weight < 0:
        return max(LOWEST, master + weight) < backup
    return min(HIGHEST, backup + weight) > master


def _explain(instance: Instance, weight: int) -> str:
    (master, backup), gap = instance.members[:2], instance.members[0].priority - instance.members[1].priority
    if weight < 0:
        after = max(LOWEST, master.priority + weight)
        return (
            f"when it fails master {master.host} drops from {master.priority} to {after}, not below backup "
            f"{backup.host} at {backup.priority}; it needs weight < -{gap} (|weight| > the gap "
            f"{master.priority} - {backup.priority})"
        )
    after = min(HIGHEST, backup.priority + weight)
    return (
        f"when it fails on master {master.host} ({master.priority}), backup {backup.host} rises only to "
        f"{backup.priority} + {weight} = {after}, not above {master.priority}; it needs weight > {gap} "
        f"(the gap {master.priority} - {backup.priority})"
    )


def track_weights(instances: list[Instance]) -> Iterator[Finding]:
    for instance in instances:
        master, backup = instance.members[0].priority, instance.members[1].priority
        scripts = instance.track_scripts
        for index, script in enumerate(scripts):
            if script.weight == 0 or _hands_over(master, backup, script.weight):
                continue
            same_sign = sum(s.weight for s in scripts if (s.weight < 0) == (script.weight < 0) and s.weight)
            place = f"track_scripts[{index}].weight"
            text = f"track script {script.name} weight {script.weight:+d} "
            if _hands_over(master, backup, same_sign):
                yield warning(
                    instance.source,
                    instance.members[0].host,
                    place,
                    text
                    + f"moves the master only together with the other scripts (sum {same_sign:+d}): "
                    + _explain(instance, script.weight),
                )
            else:
                qualifier = (
                    f", not even with all of them failing (sum {same_sign:+d})"
                    if same_sign != script.weight
                    else ""
                )
                yield error(
                    instance.source,
                    instance.members[0].host,
                    place,
                    text + f"can never cause a failover{qualifier}: " + _explain(instance, script.weight),
                )


def _definitions(instance: Instance) -> Iterator[tuple[str, str, str, tuple]]:
    """(what, name, field, definition) of every tracker an instance defines."""
    for index, script in enumerate(instance.track_scripts):
        definition = (script.script, script.interval, script.timeout, script.fall, script.rise, script.user)
        yield "track script", script.name, f"track_scripts[{index}]", definition
    for field in ("track_files", "track_processes"):
        for index, track in enumerate(getattr(instance, field)):
            yield (
                field[:-1].replace("_", " "),
                track["name"],
                f"{field}[{index}]",
                tuple(sorted(track.items())),
            )


def script_definitions(instances: list[Instance]) -> Iterator[Finding]:
    """tandemd has one vrrp_script (track_file, vrrp_track_process) per name on a host: groups sharing a
    host must agree on its definition."""
    defined: dict[tuple[str, str, str], tuple] = {}
    for instance in instances:
        for what, name, field, definition in _definitions(instance):
            for member in instance.members:
                first = defined.setdefault((what, member.host, name), (definition, instance.source))
                if first[0] != definition:
                    yield error(
                        instance.source,
                        member.host,
                        field,
                        f"{what} {name} on {member.host} is defined differently by {first[1]}; "
                        f"a host runs one {what} per name: use the same definition or another name",
                    )
