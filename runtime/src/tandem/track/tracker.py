"""keepalived's tracking semantics, sans-IO: observations in, priority/FAULT decisions out.

Theory of operation
-------------------
Runners (``ScriptRunner``, ``FileWatcher``, ``LinkMonitor``, ``ProcessWatcher``) observe the world and
call :class:`Tracking` with what they saw: a script's exit status, a link's up/down, a file's value, a
track process's quorum.
``Tracking`` keeps every observed object's status, knows which instances track what with which weight,
and returns :class:`Decision` objects only for instances whose verdict changed. The daemon applies them
to the VRRP :class:`~tandem.vrrp.instance.Instance`: ``SetPriority`` → ``set_priority``,
``Fault`` → ``fault``, ``Recover`` → ``recover`` (after the ``SetPriority`` that precedes it).

Rules (keepalived.conf(5), "VRRP script(s)", "Track files", track_interface in vrrp_instance):
  * A script becomes OK after ``rise`` consecutive successes and failed after ``fall`` consecutive
    failures. Before its first run it is *unknown* (no weight applied, no FAULT) — one result decides;
    with ``init_fail`` it starts failed and needs ``rise`` successes.
  * Binary objects (script OK, link up, process quorum): weight 0 → FAULT while down (``reverse``: while up).
    Positive weight is added while up, negative weight while down; ``reverse`` negates the amount.
  * Track files: weight 0 → FAULT while the value is non-zero (``reverse``: while it is zero).
    Otherwise value × weight (negated by ``reverse``), capped at 253; below -253 → FAULT.
  * Effective priority = configured priority + the sum, kept within 1..254. The address owner (255)
    is never moved by tracking, and — like members of a sync group without
    ``sync_group_tracking_weight`` — has every tracking weight forced to 0 (failure → FAULT).
  * A sync group member is in FAULT when any member is; members go Master together once every one
    is ready, and leave Master together (see :class:`SyncGroups`).
  * Maintenance (control interface) lowers the effective priority by N or pins it at 1 for a drill.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tandem.config.model import (
    Config,
    TrackedFile,
    TrackedInterface,
    TrackedProcess,
    TrackedScript,
    VrrpInstance,
)

OWNER_PRIORITY = 255
MIN_PRIORITY, MAX_PRIORITY = 1, 254
FILE_RESULT_MAX = 253  # a track file's value × weight is capped here; below -FILE_RESULT_MAX means FAULT


# --- observed objects -------------------------------------------------------------------------------


@dataclass
class RiseFall:
    """A vrrp_script's verdict from consecutive results (keepalived's ``result`` counter)."""

    rise: int = 1
    fall: int = 1
    ok: bool | None = None  # None: no verdict yet
    _streak: int = 0  # consecutive results disagreeing with the current verdict

    @classmethod
    def initial(cls, rise: int, fall: int, init_fail: bool) -> RiseFall:
        return cls(rise=rise, fall=fall, ok=False if init_fail else None)

    def record(self, success: bool) -> bool:
        """Count one result; True when the verdict changed."""
        if self.ok is None:
            self.ok = success
            return True
        if success == self.ok:
            self._streak = 0
            return False
        self._streak += 1
        if self._streak < (self.rise if success else self.fall):
            return False
        self.ok, self._streak = success, 0
        return True


# --- what an instance tracks ------------------------------------------------------------------------

SCRIPT, INTERFACE, FILE, PROCESS = "script", "interface", "file", "process"


@dataclass(frozen=True, slots=True)
class Ref:
    """One tracked object of one instance, with the weight that applies (already resolved)."""

    kind: str  # SCRIPT, INTERFACE, FILE or PROCESS
    name: str
    weight: int
    reverse: bool = False

    def describe(self) -> str:
        return f"{self.kind} {self.name}"


FAULT = None  # an effect: the tracked object puts the instance in FAULT


def binary_effect(ref: Ref, up: bool | None) -> int | None:
    """Priority delta (or FAULT) of a script/interface that is up, down or not known yet."""
    if up is None:
        return 0
    if ref.weight == 0:
        return FAULT if up == ref.reverse else 0
    if up != (ref.weight > 0):
        return 0
    return -ref.weight if ref.reverse else ref.weight


def file_effect(ref: Ref, value: int) -> int | None:
    """Priority delta (or FAULT) of a track file holding ``value``."""
    if ref.weight == 0:
        return FAULT if (value != 0) != ref.reverse else 0
    result = value * ref.weight * (-1 if ref.reverse else 1)
    if result < -FILE_RESULT_MAX:
        return FAULT
    return min(result, FILE_RESULT_MAX)


def instance_refs(config: Config, instance: VrrpInstance) -> tuple[Ref, ...]:
    """Everything ``instance`` tracks (its own lists, its sync group's, its interface) with final weights."""
    group = next((g for g in config.vrrp_sync_groups if instance.name in g.group), None)
    weighted = instance.priority != OWNER_PRIORITY and (group is None or group.sync_group_tracking_weight)
    entries: list[TrackedInterface | TrackedScript | TrackedFile | TrackedProcess] = [
        *instance.track_interfaces,
        *instance.track_scripts,
        *instance.track_files,
        *instance.track_processes,
    ]
    if group is not None:
        entries += [*group.track_interfaces, *group.track_scripts, *group.track_files, *group.track_processes]
    refs = [] if instance.dont_track_primary else [Ref(INTERFACE, instance.interface, 0)]
    for entry in entries:
        ref = _resolve(config, entry)
        if ref is None:
            continue  # an unknown name is reported by the config checks; nothing to track
        refs.append(ref if weighted else Ref(ref.kind, ref.name, 0, ref.reverse))
    return tuple(dict.fromkeys(refs))


def _resolve(
    config: Config, entry: TrackedInterface | TrackedScript | TrackedFile | TrackedProcess
) -> Ref | None:
    if isinstance(entry, TrackedInterface):
        return Ref(INTERFACE, entry.name, entry.weight, entry.weight_reverse)
    kind, definitions = {
        TrackedScript: (SCRIPT, config.vrrp_scripts),
        TrackedFile: (FILE, config.track_files),
        TrackedProcess: (PROCESS, config.vrrp_track_processes),
    }[type(entry)]
    definition = next((d for d in definitions if d.name == entry.name), None)
    if definition is None:
        return None
    if entry.weight is None:  # the entry inherits the definition's weight
        return Ref(kind, entry.name, definition.weight, definition.weight_reverse)
    return Ref(kind, entry.name, entry.weight, entry.weight_reverse)


# --- decisions ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetPriority:
    instance: str
    priority: int


@dataclass(frozen=True, slots=True)
class Fault:
    instance: str
    reason: str  # e.g. "script chk_nginx", "interface eth1", "sync group VG_1"


@dataclass(frozen=True, slots=True)
class Recover:
    instance: str


Decision = SetPriority | Fault | Recover


@dataclass(frozen=True, slots=True)
class Maintenance:
    """An operator's drill: lower priority by ``lower_by``, or pin it at 1 (``force_backup``)."""

    lower_by: int = 0
    force_backup: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    priority: int
    faults: tuple[str, ...]  # what keeps the instance in FAULT (own objects only)


@dataclass
class _Tracked:
    base_priority: int
    refs: tuple[Ref, ...]
    maintenance: Maintenance = field(default_factory=Maintenance)


class SyncGroups:
    """vrrp_sync_group membership: a FAULT of one member puts every member in FAULT."""

    def __init__(self, groups: Iterable[tuple[str, Iterable[str]]]) -> None:
        self.group_of: dict[str, str] = {}
        self.members: dict[str, tuple[str, ...]] = {}
        for name, members in groups:
            self.members[name] = tuple(members)
            for member in self.members[name]:
                self.group_of[member] = name

    @classmethod
    def from_config(cls, config: Config) -> SyncGroups:
        return cls((g.name, g.group) for g in config.vrrp_sync_groups)

    def peers(self, instance: str) -> tuple[str, ...]:
        """The members of ``instance``'s group (just ``instance`` when it is in none)."""
        group = self.group_of.get(instance)
        return self.members[group] if group else (instance,)

    def fault_reason(self, instance: str, own_faults: dict[str, tuple[str, ...]]) -> str | None:
        """Why ``instance`` is in FAULT: its own first failed object, else a faulty group member's."""
        if own_faults.get(instance):
            return own_faults[instance][0]
        for peer in self.peers(instance):
            if own_faults.get(peer):
                return f"sync group {self.group_of[instance]} ({peer}: {own_faults[peer][0]})"
        return None

    def moving_master(self, instance: str, members: Mapping[str, tuple[str, bool]]) -> tuple[str, ...]:
        """``instance``'s Master_Down_Timer ran out: the members to make Master together now, or ()
        while another member still hears a master (or is not running). ``members``: (state, ready)."""
        peers = self.peers(instance)
        if all(members.get(m, ("INIT", False))[0] == "MASTER" or members[m][1] for m in peers):
            return tuple(m for m in peers if members[m][0] != "MASTER")
        return ()

    def following(self, instance: str) -> tuple[str, ...]:
        """The members that leave Master when ``instance`` does."""
        return tuple(m for m in self.peers(instance) if m != instance)

    @staticmethod
    def group_state(member_states: Iterable[str]) -> str | None:
        """The group's state for group notifies: FAULT if any member is, MASTER/BACKUP when all agree."""
        states = set(member_states)
        if "FAULT" in states:
            return "FAULT"
        if len(states) == 1 and states <= {"MASTER", "BACKUP"}:
            return states.pop()
        return None


class Tracking:
    """Observed status of every tracked object and the per-instance verdicts derived from it."""

    def __init__(self, config: Config) -> None:
        self.scripts = {s.name: RiseFall.initial(s.rise, s.fall, s.init_fail) for s in config.vrrp_scripts}
        self.links: dict[str, bool | None] = {}
        self.files: dict[str, int] = {}
        self.processes: dict[str, bool] = {}  # track process → has its quorum
        self.groups = SyncGroups.from_config(config)
        self._tracked = {
            i.name: _Tracked(i.priority, instance_refs(config, i)) for i in config.vrrp_instances
        }
        self._priority: dict[str, int] = {}
        self._fault: dict[str, str | None] = {}
        self._disabled: set[str] = set()  # scripts that cannot run here (script_disabled)

    # --- what runners need -------------------------------------------------------------------

    def watched(self, kind: str) -> set[str]:
        """Names of ``kind`` objects some instance tracks (only those are run/watched)."""
        return {r.name for t in self._tracked.values() for r in t.refs if r.kind == kind}

    def fault_of(self, instance: str) -> str | None:
        """Why tracking keeps ``instance`` in FAULT (as of the last decisions), or None."""
        return self._fault.get(instance)

    def maintenance_of(self, instance: str) -> Maintenance:
        return self._tracked[instance].maintenance

    def carry_over(self, old: Tracking) -> None:
        """A reload: keep what ``old`` observed and the maintenance of instances that remain.

        Script verdicts carry over by name (the next results decide, by rise/fall as always).
        """
        for name, verdict in old.scripts.items():
            if name in self.scripts:
                self.scripts[name] = dataclasses.replace(
                    verdict, rise=self.scripts[name].rise, fall=self.scripts[name].fall
                )
        self.links.update(old.links)
        self.files.update(old.files)
        self.processes.update(old.processes)
        for name, tracked in self._tracked.items():
            if name in old._tracked:
                tracked.maintenance = old._tracked[name].maintenance

    # --- observations (each returns the decisions they cause) --------------------------------

    def start(self) -> list[Decision]:
        """The verdicts before anything was observed (init_fail scripts, unknown links count as nothing)."""
        self._priority.clear()
        self._fault.clear()
        return self._decide()

    def script_result(self, name: str, success: bool) -> list[Decision]:
        if name not in self.scripts or name in self._disabled or not self.scripts[name].record(success):
            return []
        return self._decide()

    def script_disabled(self, name: str) -> list[Decision]:
        """A script that cannot run here (keepalived: "Disabling track script ... since not
        found/accessible"): its tracking instances ignore it, ``init_fail`` included."""
        if name not in self.scripts:
            return []
        was = self.scripts[name].ok
        self.scripts[name] = RiseFall(ok=None)  # no verdict, and none to come
        self._disabled.add(name)
        return self._decide() if was is not None else []

    def link_state(self, ifname: str, up: bool) -> list[Decision]:
        if self.links.get(ifname) == up:
            return []
        self.links[ifname] = up
        return self._decide()

    def file_value(self, name: str, value: int) -> list[Decision]:
        if self.files.get(name) == value:
            return []
        self.files[name] = value
        return self._decide()

    def process_quorum(self, name: str, up: bool) -> list[Decision]:
        if self.processes.get(name) == up:
            return []
        self.processes[name] = up
        return self._decide()

    def set_maintenance(self, instance: str, maintenance: Maintenance) -> list[Decision]:
        self._tracked[instance].maintenance = maintenance
        return self._decide()

    # --- verdicts ----------------------------------------------------------------------------------

    def verdict(self, instance: str) -> Verdict:
        tracked = self._tracked[instance]
        total, faults = 0, []
        for ref in tracked.refs:
            effect = self._effect(ref)
            if effect is FAULT:
                faults.append(ref.describe())
            else:
                total += effect
        return Verdict(self._priority_of(tracked, total), tuple(faults))

    def _effect(self, ref: Ref) -> int | None:
        if ref.kind == SCRIPT:
            return binary_effect(ref, self.scripts[ref.name].ok)
        if ref.kind == INTERFACE:
            return binary_effect(ref, self.links.get(ref.name))
        if ref.kind == PROCESS:
            return binary_effect(ref, self.processes.get(ref.name))
        return file_effect(ref, self.files[ref.name]) if ref.name in self.files else 0

    @staticmethod
    def _priority_of(tracked: _Tracked, total: int) -> int:
        if tracked.base_priority == OWNER_PRIORITY:
            return OWNER_PRIORITY
        if tracked.maintenance.force_backup:
            return MIN_PRIORITY
        priority = tracked.base_priority + total - tracked.maintenance.lower_by
        return max(MIN_PRIORITY, min(MAX_PRIORITY, priority))

    def _decide(self) -> list[Decision]:
        verdicts = {name: self.verdict(name) for name in self._tracked}
        own_faults = {name: v.faults for name, v in verdicts.items()}
        decisions: list[Decision] = []
        for name, verdict in verdicts.items():
            reason = self.groups.fault_reason(name, own_faults)
            was_faulty = self._fault.get(name)
            if self._priority.get(name) != verdict.priority:
                self._priority[name] = verdict.priority
                decisions.append(SetPriority(name, verdict.priority))
            if reason is not None and (name not in self._fault or was_faulty is None):
                decisions.append(Fault(name, reason))
            elif reason is None and was_faulty is not None:
                decisions.append(Recover(name))
            self._fault[name] = reason
        return decisions
