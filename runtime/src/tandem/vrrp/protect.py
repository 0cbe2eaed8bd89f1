"""VIP protection for instances not in accept mode (vrrp_strict, no_accept): nftables, in a table of Tandem's.

RFC 5798 §6.4.3: a Master that is not the address owner and not in Accept_Mode must not accept packets
addressed to its virtual addresses. keepalived enforces it with a firewall (keepalived/vrrp/
vrrp_nftables.c); so does this module, the same way but in one ``inet`` table, ``tandem_vrrp``, that
nothing else reads or writes::

    table inet tandem_vrrp {
        set vips4 { type ipv4_addr }                     # the VIPs of Masters not in accept mode
        set vips6 { type ipv6_addr }
        set vmacs { type ifname }                        # use_vmac interfaces
        chain in  { type filter hook input priority -1; policy accept;
                    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
                    ip daddr @vips4 drop
                    ip6 daddr @vips6 drop }
        chain out { type filter hook output priority -1; policy accept;
                    oifname @vmacs ip protocol igmp drop
                    oifname @vmacs icmpv6 type { mld-listener-report, mld2-listener-report,
                                                 nd-router-solicit } drop
                    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
                    ip saddr @vips4 drop
                    ip6 saddr @vips6 drop }
    }

Neighbour discovery stays allowed (as keepalived allows it) so IPv6 peers can still resolve the VIPs;
use_vmac instances use the table too (set ``vmacs``): IGMP and MLD reports and router solicitations
leaving a vmac are dropped, so the virtual MAC is never a backup's source address (keepalived does the
same with its firewall);
ARP is not IP and is never filtered. A Master's addresses enter the sets before they are added to
the interface, and leave them after they are removed (keepalived's order). The table is made afresh
at start (one transaction replaces any table left by a crashed run) and deleted at stop. Every change
is one libnftables JSON transaction through the binding of :mod:`tandem.lb.nftables`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tandem.config.model import IPAddress

TABLE = "tandem_vrrp"
FAMILY = "inet"
SETS = {4: "vips4", 6: "vips6"}
ND_TYPES = ["nd-neighbor-solicit", "nd-neighbor-advert"]
VMACS = "vmacs"  # names of the vmac interfaces (use_vmac)
VMAC_QUIET_ICMPV6 = ["mld-listener-report", "mld2-listener-report", "nd-router-solicit"]
PRIORITY = -1  # keepalived's default vrrp_nf_chain_priority: before the usual filter chains (0)


class ProtectionError(Exception):
    """nftables refused a change (the message says why)."""


def _where(**more: Any) -> dict[str, Any]:
    return {"family": FAMILY, "table": TABLE, **more}


def _match(protocol: str, field: str, right: Any) -> dict:
    left = {"payload": {"protocol": protocol, "field": field}}
    return {"match": {"op": "==", "left": left, "right": right}}


def _oif_vmac() -> dict:
    return {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": f"@{VMACS}"}}


def skeleton() -> list[dict]:
    """Commands that replace any old table by an empty protection table (empty sets)."""
    table = {"table": {"family": FAMILY, "name": TABLE}}
    commands: list[dict] = [{"add": table}, {"delete": table}, {"add": table}]
    for family, name in SETS.items():
        commands.append({"add": {"set": _where(name=name, type=f"ipv{family}_addr")}})
    commands.append({"add": {"set": _where(name=VMACS, type="ifname")}})
    for chain, hook, end in (("in", "input", "daddr"), ("out", "output", "saddr")):
        commands.append(
            {"add": {"chain": _where(name=chain, type="filter", hook=hook, prio=PRIORITY, policy="accept")}}
        )
        # a vmac must not announce group memberships (or solicit routers) from the virtual MAC: switches
        # would move that MAC to a backup's port (keepalived drops them too)
        quiet = [[_oif_vmac(), _match("ip", "protocol", "igmp"), {"drop": None}]]
        quiet.append([_oif_vmac(), _match("icmpv6", "type", {"set": VMAC_QUIET_ICMPV6}), {"drop": None}])
        rules = [
            *(quiet if chain == "out" else []),
            [_match("icmpv6", "type", {"set": ND_TYPES}), {"accept": None}],
            [_match("ip", end, f"@{SETS[4]}"), {"drop": None}],
            [_match("ip6", end, f"@{SETS[6]}"), {"drop": None}],
        ]
        commands += [{"add": {"rule": _where(chain=chain, expr=expr)}} for expr in rules]
    return commands


def element_commands(verb: str, addresses: Iterable[IPAddress]) -> list[dict]:
    """``verb`` ("add" or "delete") ``addresses`` to or from their family's set."""
    by_family: dict[int, list[str]] = {}
    for address in addresses:
        by_family.setdefault(address.version, []).append(str(address))
    return [{verb: {"element": _where(name=SETS[f], elem=elems)}} for f, elems in sorted(by_family.items())]


class VipProtection:
    """The protection table in the calling process's network namespace; made by :meth:`open`."""

    def __init__(self, nft=None) -> None:
        self._nft = nft
        self._blocked: set[IPAddress] = set()
        self.ready = False  # the table is there

    def open(self) -> None:
        if self._nft is None:
            from tandem.lb.nftables import Libnftables  # the one libnftables binding; loaded when needed
            from tandem.lb.plane import PlaneError

            try:
                self._nft = Libnftables()
            except PlaneError as error:
                raise ProtectionError(str(error)) from None
        self._run(skeleton())
        self._blocked.clear()
        self.ready = True

    def block(self, addresses: Iterable[IPAddress]) -> None:
        """Drop traffic to (and from) ``addresses`` from now on."""
        new = [a for a in dict.fromkeys(addresses) if a not in self._blocked]
        if new:
            self._run(element_commands("add", new))
            self._blocked.update(new)

    def unblock(self, addresses: Iterable[IPAddress]) -> None:
        gone = [a for a in dict.fromkeys(addresses) if a in self._blocked]
        if gone:
            self._blocked.difference_update(gone)
            self._run(element_commands("delete", gone))

    def quiet(self, vmac: str, on: bool = True) -> None:
        """Drop (or stop dropping) IGMP/MLD reports and router solicitations leaving vmac ``vmac``."""
        self._run([{"add" if on else "delete": {"element": _where(name=VMACS, elem=[vmac])}}])

    @property
    def blocked(self) -> frozenset[IPAddress]:
        return frozenset(self._blocked)

    def close(self) -> None:
        """Delete the table (nothing is blocked any more)."""
        if self._nft is None:
            return
        table = {"table": {"family": FAMILY, "name": TABLE}}
        try:
            self._run([{"add": table}, {"delete": table}])
        finally:
            self._blocked.clear()
            self.ready = False
            self._nft.close()
            self._nft = None

    def _run(self, commands: list[dict]) -> None:
        # imported with the binding (see open): a process none of whose instances needs the table, as
        # most VRRP processes, carries neither (lb.plane's dataclasses: ~0.1 MB)
        from tandem.lb.plane import PlaneError

        try:
            self._nft.run(commands)
        except PlaneError as error:
            raise ProtectionError(str(error)) from None
