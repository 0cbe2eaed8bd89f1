"""vrrp_instance promote_secondaries: net.ipv4.conf.IF.promote_secondaries=1 on the instance's interface
while an instance that asks for it runs, so removing a VIP that is the primary address of its subnet
promotes the other addresses of that subnet instead of deleting them; the value found is restored when
the last such instance goes (keepalived's set_promote_secondaries / reset_promote_secondaries)."""

from __future__ import annotations

import logging

from tandem.vrrp.vmac import read_sysctl, write_sysctl

log = logging.getLogger("tandem")


class PromoteSecondaries:
    def __init__(self) -> None:
        self._users: dict[str, set[str]] = {}  # interface -> instances asking
        self._saved: dict[str, int] = {}  # interface -> the value before we set it

    def acquire(self, ifname: str, instance: str) -> None:
        users = self._users.setdefault(ifname, set())
        if not users:
            try:
                self._saved[ifname] = read_sysctl("ipv4", ifname, "promote_secondaries")
                write_sysctl("ipv4", ifname, "promote_secondaries", 1)
            except OSError as error:
                log.error("(%s) promote_secondaries on %s not set: %s", instance, ifname, error)
                return
        users.add(instance)

    def release(self, instance: str) -> None:
        for ifname, users in list(self._users.items()):
            if instance in users:
                users.discard(instance)
                if not users:
                    self._restore(ifname)

    def close(self) -> None:
        for ifname in list(self._users):
            self._restore(ifname)

    def _restore(self, ifname: str) -> None:
        self._users.pop(ifname, None)
        saved = self._saved.pop(ifname, None)
        if saved is not None and saved != 1:
            try:
                write_sysctl("ipv4", ifname, "promote_secondaries", saved)
            except OSError as error:  # the interface went away
                log.debug("promote_secondaries on %s not restored: %s", ifname, error)
