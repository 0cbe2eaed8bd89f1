"""The IPVS data plane: virtual services and their real servers in the kernel's IP Virtual Server table.

IPVS is configured over generic netlink (family "IPVS"), as ipvsadm and keepalived do. Requests are
encoded with pyroute2's IPVS message classes and sent synchronously on a socket of the plane's own:
the kernel handles a request inside send() and has queued its acknowledgement when send() returns,
so an apply needs no event loop and none of pyroute2's request machinery. This module is imported
only when the configuration has virtual servers (``tandem.lb.planes``).

The plane remembers what it created and changes only what differs: a new weight, forwarding method
or threshold is an edit of the destination ("set"), a new scheduler or persistence an edit of the
service. A DR or TUN destination always gets the service's port (0 for fwmark services): the
packet reaches the real server unchanged, and keepalived and ipvsadm program it so. IPVS has no
transactions: when the kernel refuses a change, the changes made before it stay and are recorded,
PlaneError names the refused one, and the next apply retries what is still missing.

lvs_timeouts are the kernel's (one set per network namespace, IPVS_CMD_SET_CONFIG): the plane reads
the values it replaces before its first change and gives them back when the config drops them or
the plane closes, as keepalived's libipvs does.
"""

from __future__ import annotations

import errno
import socket
import struct
import subprocess
from dataclasses import replace
from ipaddress import IPv6Address, ip_address

import tandem.rtnetlink  # noqa: F401  (first: pyroute2 is then imported without its package __init__)

# isort: split
from pyroute2.netlink import CTRL_CMD_GETFAMILY, GENL_ID_CTRL, ctrlmsg
from pyroute2.netlink.generic.ipvs import (
    GENL_VERSION,
    IPVS_CMD_DEL_DEST,
    IPVS_CMD_DEL_SERVICE,
    IPVS_CMD_GET_CONFIG,
    IPVS_CMD_GET_DEST,
    IPVS_CMD_NEW_DEST,
    IPVS_CMD_NEW_SERVICE,
    IPVS_CMD_SET_CONFIG,
    IPVS_CMD_SET_DEST,
    IPVS_CMD_SET_SERVICE,
    ipvsmsg,
)

from tandem.config.model import IPAddress
from tandem.lb.netlink import HEADER, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkSocket
from tandem.lb.plane import Destination, DestinationCounters, PlaneError, Service, ServiceKey, Timeouts

SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh")
PROTOCOLS = {"TCP": socket.IPPROTO_TCP, "UDP": socket.IPPROTO_UDP, "SCTP": 132}
METHODS = {"NAT": 0, "TUN": 2, "DR": 3}  # IP_VS_CONN_F_MASQ, _TUNNEL, _DROUTE
TUNNEL_TYPES = {"ipip": 0, "gue": 1, "gre": 2}  # IP_VS_CONN_F_TUNNEL_TYPE_*
TUNNEL_FLAGS = {"nocsum": 0, "csum": 1, "remcsum": 2}  # IP_VS_TUNNEL_ENCAP_FLAG_*
F_PERSISTENT, F_ONEPACKET = 0x1, 0x4  # IP_VS_SVC_F_*
# IP_VS_SVC_F_SCHED1..3: sh and mh read the first two as "fallback" and "port" (ipvsadm's names)
SCHEDULER_FLAGS = {
    "flag-1": 0x8,
    "flag-2": 0x10,
    "flag-3": 0x20,
    "sh-fallback": 0x8,
    "sh-port": 0x10,
    "mh-fallback": 0x8,
    "mh-port": 0x10,
}
FLAGS_MASK = 0xFFFFFFFF  # every flag is the one given (ipvsadm's mask)
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
# the header flags of each change, as pyroute2's IPVS API sets them (the kernel reads only the command)
CHANGE_FLAGS = {
    IPVS_CMD_NEW_SERVICE: NLM_F_CREATE | NLM_F_EXCL,
    IPVS_CMD_NEW_DEST: NLM_F_CREATE | NLM_F_EXCL,
    IPVS_CMD_SET_SERVICE: NLM_F_REPLACE,
    IPVS_CMD_SET_DEST: NLM_F_REPLACE,
}
_GENL = struct.Struct("=BBH")  # genlmsghdr: command, version, reserved
_U32_ATTR = struct.Struct("=HHI")  # an nlattr carrying a u32: length, type, value
# IPVS_CMD_ATTR_TIMEOUT_TCP, _TCP_FIN, _UDP (pyroute2 types them as "hex": encoded here by hand)
TIMEOUT_ATTRS = {"tcp": 4, "tcpfin": 5, "udp": 6}


def service_attrs(service: Service) -> list[tuple[str, object]]:
    """The IPVS_CMD_ATTR_SERVICE attributes of a whole service (key, scheduler, flags, persistence)."""
    key = service.key
    flags = F_PERSISTENT if service.persistence_timeout else 0
    flags |= F_ONEPACKET if service.ops else 0
    for flag in service.scheduler_flags:
        if flag not in SCHEDULER_FLAGS:
            raise PlaneError(f"IPVS: {key}: unknown scheduler flag {flag!r}")
        flags |= SCHEDULER_FLAGS[flag]
    return [
        *key_attrs(key),
        ("IPVS_SVC_ATTR_SCHED_NAME", service.scheduler),
        ("IPVS_SVC_ATTR_FLAGS", {"flags": flags, "mask": FLAGS_MASK}),
        ("IPVS_SVC_ATTR_TIMEOUT", service.persistence_timeout or 0),
        ("IPVS_SVC_ATTR_NETMASK", _netmask(key.family, service.persistence_granularity)),
    ]


def key_attrs(key: ServiceKey) -> list[tuple[str, object]]:
    """The attributes that name a service: family and fwmark, or family, protocol, address and port."""
    family = _family(key.family)
    if key.fwmark is not None:
        return [("IPVS_SVC_ATTR_AF", family), ("IPVS_SVC_ATTR_FWMARK", key.fwmark)]
    return [
        ("IPVS_SVC_ATTR_AF", family),
        ("IPVS_SVC_ATTR_PROTOCOL", PROTOCOLS[key.protocol]),
        ("IPVS_SVC_ATTR_ADDR", str(key.address)),
        ("IPVS_SVC_ATTR_PORT", key.port or 0),
    ]


def _family(version: int) -> int:
    return socket.AF_INET if version == 4 else socket.AF_INET6


def _netmask(family: int, granularity: IPAddress | None) -> str:
    """IPVS_SVC_ATTR_NETMASK: an IPv4 netmask, or for IPv6 a prefix length in the attribute's
    4 octets in host order (as ipvsadm sends it; pyroute2 types the attribute as an IPv4 address)."""
    if family == 4:
        return str(granularity or "255.255.255.255")
    prefix = 128 if granularity is None else bin(int(granularity)).count("1")
    return socket.inet_ntoa(struct.pack("=I", prefix))


def destination_attrs(key: ServiceKey, destination: Destination) -> list[tuple[str, object]]:
    """The IPVS_CMD_ATTR_DEST attributes of a whole destination."""
    if destination.method not in METHODS:
        raise PlaneError(f"IPVS: {key}: unknown forwarding method {destination.method!r}")
    tunnel_type = destination.tunnel_type or "ipip"
    if tunnel_type not in TUNNEL_TYPES or not set(destination.tunnel_flags) <= set(TUNNEL_FLAGS):
        raise PlaneError(
            f"IPVS: {key}: unknown tunnel type or flags {tunnel_type} {destination.tunnel_flags}"
        )
    tunnel_flags = 0
    for flag in destination.tunnel_flags:
        tunnel_flags |= TUNNEL_FLAGS[flag]
    return [
        ("IPVS_DEST_ATTR_ADDR", str(destination.address)),
        ("IPVS_DEST_ATTR_PORT", _port(key, destination)),
        ("IPVS_DEST_ATTR_FWD_METHOD", METHODS[destination.method]),
        ("IPVS_DEST_ATTR_WEIGHT", destination.weight),
        ("IPVS_DEST_ATTR_U_THRESH", destination.upper_threshold),
        ("IPVS_DEST_ATTR_L_THRESH", destination.lower_threshold),
        (
            "IPVS_DEST_ATTR_ADDR_FAMILY",
            socket.AF_INET if destination.address.version == 4 else socket.AF_INET6,
        ),
        ("IPVS_DEST_ATTR_TUN_TYPE", TUNNEL_TYPES[tunnel_type]),
        # the kernel reads the port in network order; pyroute2 types it as a host-order uint16
        ("IPVS_DEST_ATTR_TUN_PORT", socket.htons(destination.tunnel_port or 0)),
        ("IPVS_DEST_ATTR_TUN_FLAGS", tunnel_flags),
    ]


def _port(key: ServiceKey, destination: Destination) -> int:
    """The destination's port in the kernel. DR and TUN pass the packet on unchanged, so there it is
    the service's port (0 for a fwmark or all-ports service) whatever the destination says, as
    keepalived programs it (check_data.c clears or resets such a port with a warning) and ipvsadm
    too; NAT rewrites to the destination's own port, else the service's."""
    if destination.method != "NAT" or destination.port is None:
        return key.port or 0
    return destination.port


def request(family_id: int, command: int, attrs: list[tuple[str, object]], flags: int) -> bytes:
    """One IPVS generic netlink request (sequence number 0: the socket sets its own)."""
    msg = ipvsmsg()
    msg["cmd"] = command
    msg["version"] = GENL_VERSION
    msg["attrs"] = attrs
    msg["header"]["type"] = family_id
    msg["header"]["flags"] = flags
    msg.encode()
    return bytes(msg.data)


def service_request(family_id: int, command: int, service: Service) -> bytes:
    flags = NLM_F_REQUEST | NLM_F_ACK | CHANGE_FLAGS.get(command, 0)
    attrs = [("IPVS_CMD_ATTR_SERVICE", {"attrs": service_attrs(service)})]
    return request(family_id, command, attrs, flags)


def destination_request(family_id: int, command: int, key: ServiceKey, destination: Destination) -> bytes:
    flags = NLM_F_REQUEST | NLM_F_ACK | CHANGE_FLAGS.get(command, 0)
    attrs = [
        ("IPVS_CMD_ATTR_SERVICE", {"attrs": key_attrs(key)}),
        ("IPVS_CMD_ATTR_DEST", {"attrs": destination_attrs(key, destination)}),
    ]
    return request(family_id, command, attrs, flags)


def config_request(family_id: int, command: int, timeouts: Timeouts | None = None) -> bytes:
    """IPVS_CMD_GET_CONFIG, or IPVS_CMD_SET_CONFIG of ``timeouts`` (a 0 there: left as it is)."""
    values = {} if timeouts is None else {name: getattr(timeouts, name) for name in TIMEOUT_ATTRS}
    attrs = b"".join(_U32_ATTR.pack(8, TIMEOUT_ATTRS[name], value) for name, value in values.items())
    length = HEADER.size + _GENL.size + len(attrs)
    header = HEADER.pack(length, family_id, NLM_F_REQUEST | NLM_F_ACK, 0, 0)
    return header + _GENL.pack(command, GENL_VERSION, 0) + attrs


def parse_timeouts(reply: bytes) -> Timeouts:
    """The timeouts of an IPVS_CMD_GET_CONFIG reply."""
    names = {kind: name for name, kind in TIMEOUT_ATTRS.items()}
    values, offset = {}, HEADER.size + _GENL.size
    while offset + _U32_ATTR.size <= len(reply):
        length, kind, value = _U32_ATTR.unpack_from(reply, offset)
        if kind in names and length == _U32_ATTR.size:
            values[names[kind]] = value
        offset += max(length + (-length % 4), 4)
    return Timeouts(**values)


class GenericNetlink(NetlinkSocket):
    """A synchronous generic netlink socket: requests answered by an acknowledgement, and dumps."""

    def __init__(self) -> None:
        super().__init__(16)  # NETLINK_GENERIC

    def family(self, name: str) -> int | None:
        """The id of generic netlink family ``name``; None when the kernel has no such family."""
        msg = ctrlmsg()
        msg["cmd"] = CTRL_CMD_GETFAMILY
        msg["version"] = 1
        msg["attrs"] = [("CTRL_ATTR_FAMILY_NAME", name)]
        msg["header"]["type"] = GENL_ID_CTRL
        msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK
        msg.encode()
        try:
            replies = self.exchange(bytes(msg.data))
        except OSError as error:
            if error.errno == errno.ENOENT:
                return None
            raise
        for reply in replies:
            answer = ctrlmsg(reply)
            answer.decode()
            return answer.get_attr("CTRL_ATTR_FAMILY_ID")
        return None


def _load_module() -> str | None:
    """``modprobe ip_vs``, as keepalived does when IPVS is not there yet; the failure's text, if any."""
    try:
        done = subprocess.run(["modprobe", "ip_vs"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if done.returncode == 0:
        return None
    return done.stderr.strip() or f"exit status {done.returncode}"


class IpvsPlane:
    """The IPVS plane. Raises PlaneError when the kernel has no IP_VS (after trying modprobe ip_vs)."""

    name = "ipvs"

    def __init__(self) -> None:
        self._netlink = GenericNetlink()
        self._family = self._netlink.family("IPVS")
        if self._family is None:
            failure = _load_module()
            self._family = self._netlink.family("IPVS")
            if self._family is None:
                self._netlink.close()
                raise PlaneError(f"the kernel has no IP_VS (modprobe ip_vs: {failure or 'loaded, no IPVS'})")
        # what this plane created (or adopted): each service as last set, its destinations by (address, port)
        self._services: dict[ServiceKey, Service] = {}
        self._destinations: dict[ServiceKey, dict[tuple[IPAddress, int], Destination]] = {}
        self._timeouts = Timeouts()  # as set by this plane (Timeouts(): the kernel's own)
        self._original: Timeouts | None = None  # the kernel's, read before this plane changed them

    def set_timeouts(self, timeouts: Timeouts) -> None:
        if timeouts == self._timeouts:
            return
        if self._original is None:
            try:
                (reply,) = self._netlink.exchange(config_request(self._family, IPVS_CMD_GET_CONFIG))
            except OSError as error:
                raise PlaneError(f"IPVS: read the timeouts: {error.strerror}") from None
            self._original = parse_timeouts(reply)
        original = self._original
        wanted = Timeouts(
            timeouts.tcp or original.tcp, timeouts.tcpfin or original.tcpfin, timeouts.udp or original.udp
        )
        try:
            self._send(config_request(self._family, IPVS_CMD_SET_CONFIG, wanted))
        except OSError as error:
            raise PlaneError(f"IPVS: set the timeouts {wanted}: {error.strerror}") from None
        self._timeouts = timeouts

    def apply(self, services: tuple[Service, ...]) -> None:
        desired = {service.key: service for service in services}
        if len(desired) != len(services):
            raise PlaneError("IPVS: a service is given twice")
        for key in [k for k in self._services if k not in desired]:
            self._change(IPVS_CMD_DEL_SERVICE, f"delete service {key}", self._services[key], errno.ESRCH)
            del self._services[key], self._destinations[key]
        for key, service in desired.items():
            wanted = _by_address(service)
            settings = replace(service, destinations=())
            current = self._services.get(key)
            if current is None:
                self._add_service(settings)
            elif current != settings:
                self._change(IPVS_CMD_SET_SERVICE, f"edit service {key}", settings)
                self._services[key] = settings
            have = self._destinations[key]
            for where in [w for w in have if w not in wanted]:
                self._change_destination(IPVS_CMD_DEL_DEST, "delete", key, have[where], errno.ENOENT)
                del have[where]
            for where, destination in wanted.items():
                if where not in have:
                    self._add_destination(key, destination)
                elif have[where] != destination:
                    self._change_destination(IPVS_CMD_SET_DEST, "edit", key, destination)
                have[where] = destination

    def counters(self) -> dict[tuple[ServiceKey, IPAddress, int | None], DestinationCounters]:
        """Each destination's counters, keyed by its port as given (None: the service's)."""
        counters = {}
        for key in self._services:
            data = request(
                self._family,
                IPVS_CMD_GET_DEST,
                [("IPVS_CMD_ATTR_SERVICE", {"attrs": key_attrs(key)})],
                NLM_F_REQUEST | NLM_F_DUMP,
            )
            try:
                replies = self._netlink.exchange(data)
            except OSError as error:
                raise PlaneError(f"IPVS: read the counters of {key}: {error.strerror}") from None
            for reply in replies:
                msg = ipvsmsg(reply)
                msg.decode()
                dest = msg.get_attr("IPVS_CMD_ATTR_DEST")
                stats = dict(dest.get_attr("IPVS_DEST_ATTR_STATS64")["attrs"])
                address = ip_address(dest.get_attr("IPVS_DEST_ATTR_ADDR"))
                port = dest.get_attr("IPVS_DEST_ATTR_PORT")
                mine = self._destinations[key].get((address, port))
                if mine is None:  # added by someone else
                    continue
                counters[(key, address, mine.port)] = DestinationCounters(
                    packets=stats["IPVS_STATS_ATTR_INPKTS"] + stats["IPVS_STATS_ATTR_OUTPKTS"],
                    bytes=stats["IPVS_STATS_ATTR_INBYTES"] + stats["IPVS_STATS_ATTR_OUTBYTES"],
                    connections=stats["IPVS_STATS_ATTR_CONNS"],
                )
        return counters

    def close(self) -> None:
        """Delete every service this plane made (their destinations go with them); give back the
        kernel's timeouts if this plane changed them."""
        try:
            for key, service in list(self._services.items()):
                self._change(IPVS_CMD_DEL_SERVICE, f"delete service {key}", service, errno.ESRCH)
                del self._services[key], self._destinations[key]
            self.set_timeouts(Timeouts())
        finally:
            self._netlink.close()

    def _add_service(self, service: Service) -> None:
        try:
            self._send(service_request(self._family, IPVS_CMD_NEW_SERVICE, service))
        except OSError as error:
            if error.errno != errno.EEXIST:
                raise PlaneError(f"IPVS: add service {service.key}: {error.strerror}") from None
            # there from an earlier run (keepalived takes such a service over too): ours from now on
            self._change(IPVS_CMD_SET_SERVICE, f"edit service {service.key}", service)
        self._services[service.key] = service
        self._destinations[service.key] = {}

    def _add_destination(self, key: ServiceKey, destination: Destination) -> None:
        try:
            self._send(destination_request(self._family, IPVS_CMD_NEW_DEST, key, destination))
        except OSError as error:
            if error.errno != errno.EEXIST:
                raise PlaneError(f"IPVS: add {_name(key, destination)} to {key}: {error.strerror}") from None
            self._change_destination(IPVS_CMD_SET_DEST, "edit", key, destination)

    def _change(self, command: int, what: str, service: Service, tolerated: int = 0) -> None:
        try:
            self._send(service_request(self._family, command, service))
        except OSError as error:
            if error.errno != tolerated:
                raise PlaneError(f"IPVS: {what}: {error.strerror}") from None

    def _change_destination(
        self, command: int, verb: str, key: ServiceKey, destination: Destination, tolerated: int = 0
    ) -> None:
        try:
            self._send(destination_request(self._family, command, key, destination))
        except OSError as error:
            if error.errno != tolerated:
                raise PlaneError(
                    f"IPVS: {verb} {_name(key, destination)} of {key}: {error.strerror}"
                ) from None

    def _send(self, data: bytes) -> None:
        self._netlink.exchange(data)


def _by_address(service: Service) -> dict[tuple[IPAddress, int], Destination]:
    wanted: dict[tuple[IPAddress, int], Destination] = {}
    for destination in service.destinations:
        where = (destination.address, _port(service.key, destination))
        if where in wanted:
            raise PlaneError(
                f"IPVS: {service.key}: destination {_name(service.key, destination)} is given twice"
            )
        wanted[where] = destination
    return wanted


def _name(key: ServiceKey, destination: Destination) -> str:
    address = destination.address
    shown = f"[{address}]" if isinstance(address, IPv6Address) else str(address)
    return f"{shown}:{_port(key, destination)}"
