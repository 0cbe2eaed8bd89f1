"""use_vmac: a macvlan interface carrying the VRRP virtual MAC, made and removed as keepalived does.

RFC 5798 §7.3: a Master sends from, and answers ARP/ND for its addresses with, the virtual router MAC
00-00-5E-00-01-{VRID} (IPv6: 00-00-5E-00-02-{VRID}). Linux gives it to an interface of its own: a
macvlan in *private* mode on the instance's interface (private: frames between macvlans of one link
are not passed, so two instances' vmacs never hear each other), named ``use_vmac NAME`` or vrrp.VRID.
The instance's VIPs go on it, its adverts are sent from it (or from the base interface with
``vmac_xmit_base``), so GARP/NA and adverts carry the virtual MAC, and peers' ARP caches need no
update on failover.

Kernel parameters, as keepalived sets them (keepalived/vrrp/vrrp_if_config.c):

* IPv4, on the vmac: ``arp_ignore=1`` (answer ARP only for its own addresses, the VIPs),
  ``accept_local=1`` (hear adverts sent from a local address), ``rp_filter=0`` (receive while it has
  no address), ``promote_secondaries=1``; IPv6 disabled on it (no link-local, no MLD from the vmac);
* IPv4, on the base interface: ``arp_ignore=1`` and ``arp_filter=1`` (the base must not answer ARP
  for the VIPs with its own MAC); the previous values are put back when its last vmac goes;
* IPv6: no automatic link-local address on the vmac (``addr_gen_mode`` 1, RFC 5798 §7.4: adverts
  come from the router's own link-local address, not one derived from the virtual MAC); the base
  interface's link-local address is added to it and adverts are sent from that.

A vmac left by a crashed run (a macvlan of that name) is deleted and made afresh; an interface of that
name that is not a macvlan is never touched (the instance cannot run). The vmac is removed when its
instance stops.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

SYSCTL = "/proc/sys/net"  # a str, not a pathlib.Path: pathlib costs the VRRP process ~0.6 MB of RSS
# on the vmac, and on the base interface (saved and restored), IPv4 instances only
VMAC_SYSCTLS = {"arp_ignore": 1, "accept_local": 1, "rp_filter": 0, "promote_secondaries": 1}
BASE_SYSCTLS = {"arp_ignore": 1, "arp_filter": 1}


def virtual_mac(family: int, vrid: int) -> bytes:
    """The VRRP virtual router MAC of ``vrid`` (RFC 5798 §7.3)."""
    return bytes((0x00, 0x00, 0x5E, 0x00, 0x01 if family == 4 else 0x02, vrid))


def read_sysctl(family: str, ifname: str, name: str) -> int:
    with open(os.path.join(SYSCTL, family, "conf", ifname, name), encoding="ascii") as file:
        return int(file.read().split()[0])


def write_sysctl(family: str, ifname: str, name: str, value: int) -> None:
    with open(os.path.join(SYSCTL, family, "conf", ifname, name), "w", encoding="ascii") as file:
        file.write(f"{value}\n")


class VmacError(Exception):
    """The vmac cannot be made (its name belongs to another kind of interface, or the kernel refused)."""


@dataclass
class Vmacs:
    """The vmacs this process made, by name, and the base interfaces whose ARP sysctls it changed.

    ``netlink`` is a :class:`tandem.vrrp.netlink.Netlink`.
    """

    netlink: object
    made: dict[str, tuple[int, str]] = field(default_factory=dict)  # name → (index, base)
    saved: dict[str, dict[str, int]] = field(default_factory=dict)  # base → its values before

    async def ensure(self, name: str, base: str, base_index: int, family: int, vrid: int) -> int:
        """Make ``name`` (up, with the virtual MAC of ``vrid``) on ``base``, replacing a stale macvlan of
        that name; its index."""
        netlink = self.netlink
        for index, kind in await netlink.links_named(name):
            if kind != "macvlan":
                raise VmacError(f"{name} exists and is not a macvlan: not touched")
            if self.made.get(name, (None,))[0] == index:
                return index  # ours, still there
            netlink.remove_link(index)  # left by a crashed run
        self.made.pop(name, None)  # gone with its base interface: made again
        try:
            index = await netlink.add_macvlan(name, base_index, virtual_mac(family, vrid))
        except OSError as error:
            raise VmacError(f"cannot make macvlan {name} on {base}: {error}") from None
        self.made[name] = (index, base)
        try:
            if family == 4:
                for key, value in VMAC_SYSCTLS.items():
                    write_sysctl("ipv4", name, key, value)
                _write_if_present("ipv6", name, "disable_ipv6", 1)
                self._set_base(base)
            else:
                write_sysctl("ipv6", name, "addr_gen_mode", 1)
            await netlink.set_up(index)
        except OSError as error:
            raise VmacError(f"cannot set up {name}: {error}") from None
        return index

    def _set_base(self, base: str) -> None:
        if base in self.saved:
            return
        self.saved[base] = {key: read_sysctl("ipv4", base, key) for key in BASE_SYSCTLS}
        for key, value in BASE_SYSCTLS.items():
            write_sysctl("ipv4", base, key, value)

    def remove(self, name: str) -> None:
        """Delete ``name`` if this process made it; restore its base's sysctls when it was the last.
        Raises OSError when the kernel refuses."""
        made = self.made.pop(name, None)
        if made is None:
            return
        index, base = made
        try:
            self.netlink.remove_link(index)
        finally:
            if base in self.saved and all(b != base for _, b in self.made.values()):
                for key, value in self.saved.pop(base).items():
                    _write_if_present("ipv4", base, key, value)  # the base may be gone meanwhile

    def close(self) -> list[str]:
        """Remove every vmac made; the errors, one line each."""
        errors = []
        for name in list(self.made):
            try:
                self.remove(name)
            except OSError as error:
                errors.append(f"{name}: {error}")
        return errors


def _write_if_present(family: str, ifname: str, name: str, value: int) -> None:
    with contextlib.suppress(FileNotFoundError):  # IPv6 disabled in this kernel or namespace
        write_sysctl(family, ifname, name, value)
