"""Rules about who wins the election: one preferred master, no ties, track weights that can move it.

keepalived's tracking weight arithmetic (the setting most often misunderstood), the same for track
scripts, tracked interfaces and tracked processes: a negative weight lowers the priority of the router
whose check fails (interface down, process gone) by |weight|; a positive weight raises the priority of
routers whose check passes. Either way the master hands over only when the best backup
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


def _trackers(instance: Instance) -> list[tuple[str, str, str, int]]:
    """(what, name, field of its weight, weight) of every up/down tracker of an instance: track scripts,
    tracked interfaces and processes. (A track_file moves the priority by the file's value times its
    weight, whatever the operator writes there: no weight of it is too small.)"""
    out = [
        ("track script", s.name, f"track_scripts[{i}].weight", s.weight)
        for i, s in enumerate(instance.track_scripts)
    ]
    for field, what, items in (
        ("track_interfaces", "tracked interface", instance.options.get("track_interfaces") or ()),
        ("track_processes", "track process", instance.track_processes),
    ):
        out += [
            (what, t["name"], f"{field}[{i}].weight", int(t.get("weight") or 0)) for i, t in enumerate(items)
        ]
    return out


def track_weights(instances: list[Instance]) -> Iterator[Finding]:
    for instance in instances:
        master, backup = instance.members[0].priority, instance.members[1].priority
        trackers = _trackers(instance)
        for what, name, place, weight in trackers:
            if weight == 0 or _hands_over(master, backup, weight):
                continue
            same_sign = sum(w for *_, w in trackers if (w < 0) == (weight < 0) and w)
            text = f"{what} {name} weight {weight:+d} "
            if _hands_over(master, backup, same_sign):
                yield warning(
                    instance.source,
                    instance.members[0].host,
                    place,
                    text
                    + f"moves the master only together with the other trackers (sum {same_sign:+d}): "
                    + _explain(instance, weight),
                )
            else:
                qualifier = (
                    f", not even with all of them failing (sum {same_sign:+d})" if same_sign != weight else ""
                )
                yield error(
                    instance.source,
                    instance.members[0].host,
                    place,
                    text + f"can never cause a failover{qualifier}: " + _explain(instance, weight),
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
