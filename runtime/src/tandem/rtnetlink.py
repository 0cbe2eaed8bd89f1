"""pyroute2's rtnetlink API, imported without running pyroute2's package ``__init__`` first.

That ``__init__`` imports every protocol pyroute2 speaks (NDB, IPDB, conntrack, nftables, WireGuard, …):
about 25 ms and 80 modules that tandemd, which needs rtnetlink only, would spend at start-up before its
VRRP instances can run. Here the package is registered as a module whose ``__init__`` runs on the first
use of a name only it defines, so ``from pyroute2 import NDB`` elsewhere in the process still works.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING

PACKAGE = "pyroute2"


class _DeferredPackage(types.ModuleType):
    def __getattr__(self, name: str) -> object:
        if name.startswith("__") and name not in ("__all__", "__version__"):  # probes, not the package's
            raise AttributeError(name)
        submodule = f"{PACKAGE}.{name}"
        if importlib.util.find_spec(submodule) is not None:  # from pyroute2 import config: no __init__ needed
            return importlib.import_module(submodule)
        self.__class__ = types.ModuleType  # an ordinary module from now on, filled by its __init__
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def _defer_package_init() -> None:
    if PACKAGE in sys.modules:
        return
    package = importlib.util.module_from_spec(importlib.util.find_spec(PACKAGE))
    package.__class__ = _DeferredPackage
    sys.modules[PACKAGE] = package


_defer_package_init()

from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402

if TYPE_CHECKING:
    from pyroute2.iproute.linux import AsyncIPRoute
from pyroute2.netlink.rtnl import (  # noqa: E402
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_LINK,
)
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg  # noqa: E402
from pyroute2.netlink.rtnl.rtmsg import rtmsg  # noqa: E402

__all__ = [
    "RTMGRP_IPV4_IFADDR",
    "RTMGRP_IPV6_IFADDR",
    "RTMGRP_LINK",
    "RTM_DELADDR",
    "RTM_DELLINK",
    "RTM_NEWADDR",
    "RTM_NEWLINK",
    "AsyncIPRoute",
    "NetlinkError",
    "ifaddrmsg",
    "rtmsg",
]


def __getattr__(name: str) -> object:
    """AsyncIPRoute on first use: its module pulls in ~180 more of pyroute2's (~10 MB of RSS), which the
    VRRP process, speaking rtnetlink itself, never needs."""
    if name == "AsyncIPRoute":
        from pyroute2.iproute.linux import AsyncIPRoute

        globals()[name] = AsyncIPRoute
        return AsyncIPRoute
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
