"""Which data plane carries the virtual servers: ``global_defs { tandem_lb_plane auto|ipvs|nftables }``.

Chosen at start (:func:`choose_plane`) and again at each reload that changes the key
(:func:`switch_plane`: the old plane removes what it made, the new one takes every service).
``auto`` takes IPVS where the kernel has it (after trying ``modprobe ip_vs``, as keepalived does)
and says in one line why it falls back to nftables otherwise. Each plane's module is imported only here,
when it is chosen: a tandemd without virtual servers loads neither.
"""

from __future__ import annotations

import logging

from tandem.lb.plane import DataPlane, PlaneError

PLANES = ("auto", "ipvs", "nftables")

log = logging.getLogger("tandem.lb")


def choose_plane(name: str = "auto") -> DataPlane:
    """Open the plane ``name``; raises PlaneError when that plane cannot run here."""
    if name not in PLANES:
        raise PlaneError(f"unknown data plane {name!r} (expected one of {', '.join(PLANES)})")
    if name in ("auto", "ipvs"):
        from tandem.lb.ipvs import IpvsPlane

        try:
            return IpvsPlane()
        except PlaneError as error:
            if name == "ipvs":
                raise
            log.warning("load balancing on nftables: %s", error)
    from tandem.lb.nftables import NftablesPlane

    return NftablesPlane()


def switch_plane(current: DataPlane, name: str) -> DataPlane | None:
    """The plane a reloaded ``tandem_lb_plane name`` asks for, opened; None where ``current`` is it
    already (``auto`` keeps IPVS, and nftables where IPVS still cannot run). Raises PlaneError
    when the plane asked for cannot run here."""
    if name not in PLANES:
        raise PlaneError(f"unknown data plane {name!r} (expected one of {', '.join(PLANES)})")
    if name == current.name or (name == "auto" and current.name == "ipvs"):
        return None
    if name == "auto":
        from tandem.lb.ipvs import IpvsPlane

        try:
            return IpvsPlane()
        except PlaneError as error:
            log.info("tandem_lb_plane auto: still nftables: %s", error)
            return None
    return choose_plane(name)
