"""What a reload changes: the difference between the running config and the new one, per instance.

Pure: two :class:`~tandem.config.model.Config` in, a :class:`ReloadPlan` out. Positions (file:line)
never count as a change, so moving or commenting lines keeps an instance ``unchanged``: it keeps its
state and VIPs, sends no priority-0 advert. ``changed`` instances are updated in place (the aspects
that differ are named); ``restarted`` ones changed what identifies them on the wire or the link
(interface, VRID, version, family, addressing, authentication), so they are released and started again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tandem.config.model import Config, VrrpInstance
from tandem.track.tracker import FILE, PROCESS, SCRIPT, instance_refs
from tandem.vrrp.params import InstanceParams, params_from_config

# InstanceParams fields by what a change of them means; a field in none of these is a "timers" change.
IDENTITY = (
    *("interface", "vrid", "version", "family", "source", "unicast_peers", "mcast_group", "auth_pass"),
    *("vmac", "vmac_xmit_base", "accept"),
)
ASPECTS = {
    "priority": ("priority",),
    "vips": ("vips", "excluded_vips", "routes", "rules"),
}


@dataclass(frozen=True, slots=True)
class InstanceChange:
    name: str
    aspects: tuple[str, ...]  # "priority", "vips", "timers", "tracking", "notify", "sync_group"


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    unchanged: tuple[str, ...] = ()
    changed: tuple[InstanceChange, ...] = ()
    restarted: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    old_names = [i.name for i in old.vrrp_instances]
    new_names = [i.name for i in new.vrrp_instances]
    unchanged, changed, restarted = [], [], []
    for name in (n for n in new_names if n in old_names):
        before, after = old.instance(name), new.instance(name)
        old_params, new_params = params_from_config(old, before), params_from_config(new, after)
        if _differs(old_params, new_params, IDENTITY):
            restarted.append(name)
            continue
        aspects = [aspect for aspect, fields in ASPECTS.items() if _differs(old_params, new_params, fields)]
        if _differs(old_params, new_params, _timer_fields()):
            aspects.append("timers")
        if _tracking(old, before) != _tracking(new, after):
            aspects.append("tracking")
        if plain((before.notify, before.smtp_alert)) != plain((after.notify, after.smtp_alert)):
            aspects.append("notify")
        if _sync_group(old, name) != _sync_group(new, name):
            aspects.append("sync_group")
        if aspects:
            changed.append(InstanceChange(name, tuple(aspects)))
        else:
            unchanged.append(name)
    return ReloadPlan(
        unchanged=tuple(unchanged),
        changed=tuple(changed),
        restarted=tuple(restarted),
        removed=tuple(n for n in old_names if n not in new_names),
        added=tuple(n for n in new_names if n not in old_names),
    )


def plain(value):
    """``value`` with every dataclass turned into a tuple of its fields, leaving out positions."""
    if dataclasses.is_dataclass(value):
        return tuple(
            (f.name, plain(getattr(value, f.name))) for f in dataclasses.fields(value) if f.name != "pos"
        )
    if isinstance(value, tuple):
        return tuple(plain(item) for item in value)
    return value


def _differs(old: InstanceParams, new: InstanceParams, fields: tuple[str, ...]) -> bool:
    return any(plain(getattr(old, f)) != plain(getattr(new, f)) for f in fields)


def _timer_fields() -> tuple[str, ...]:
    named = {*IDENTITY, "name", *(f for fields in ASPECTS.values() for f in fields)}
    return tuple(f.name for f in dataclasses.fields(InstanceParams) if f.name not in named)


def _tracking(config: Config, instance: VrrpInstance):
    """What the instance tracks with which weights, and the definitions of what it tracks."""
    refs = instance_refs(config, instance)
    tracked = {(r.kind, r.name) for r in refs}
    scripts = [s for s in config.vrrp_scripts if (SCRIPT, s.name) in tracked]
    files = [f for f in config.track_files if (FILE, f.name) in tracked]
    processes = [p for p in config.vrrp_track_processes if (PROCESS, p.name) in tracked]
    return refs, plain(tuple(scripts)), plain(tuple(files)), plain(tuple(processes))


def _sync_group(config: Config, name: str):
    return next((plain(g) for g in config.vrrp_sync_groups if name in g.group), None)
