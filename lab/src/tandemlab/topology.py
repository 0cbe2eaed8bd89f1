"""Lab hosts: one network namespace each, wired by veth pairs into a bridge in a "switch" namespace.

    h1 (eth0) ──veth── [h1]┐
    h2 (eth0) ──veth── [h2]┼─ br0   (namespace <prefix>-sw, multicast snooping off)
    ...                    ┘

Nothing is created in the root namespace: veth pairs are made directly between the namespaces.
:class:`Layout` builds this for any host names and addresses (``python -m tandemlab create`` builds
molecule's labs with it); :class:`Lab` numbers its hosts: host i gets 198.51.100.(10+i)/24 and
2001:db8::(10+i)/64 (h1: .11 and ::11). IPv6 addresses skip DAD so they work at once.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from functools import cached_property

from tandemlab import cleanup, naming
from tandemlab.capture import Capture
from tandemlab.filtering import BridgeFilter
from tandemlab.process import LabProcess
from tandemlab.shell import netns_exec, run

IPV4_NET = ipaddress.ip_network("198.51.100.0/24")
IPV6_NET = ipaddress.ip_network("2001:db8::/64")
HOST_OFFSET = 10
BRIDGE = "br0"
HOST_IFNAME = "eth0"
IFF_UP_LOWER_UP = 0x1 | 0x10000  # IFF_UP, IFF_LOWER_UP (carrier)


@dataclass(frozen=True)
class Layout:
    """The namespaces of one lab: ``<prefix>-sw`` with the bridge, and ``<prefix>-<host>`` per host, whose
    ``eth0`` is a veth into the bridge carrying ``hosts[host]`` (``address/prefixlen`` each)."""

    prefix: str
    hosts: dict[str, list[str]]

    @property
    def switch_netns(self) -> str:
        return f"{self.prefix}-sw"

    def netns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    @staticmethod
    def switch_port(host: str) -> str:
        """The switch-side end of a host's veth."""
        return host

    @property
    def namespaces(self) -> list[str]:
        return [self.switch_netns, *map(self.netns, self.hosts)]

    def create(self) -> None:
        """Create every namespace; if one step fails, remove what was made and raise."""
        try:
            self._create_switch()
            for host, addresses in self.hosts.items():
                self._create_host(host, addresses)
        except BaseException:
            cleanup.remove_namespaces(self.namespaces)
            raise

    def _create_switch(self) -> None:
        sw = ["ip", "-n", self.switch_netns]
        run(["ip", "netns", "add", self.switch_netns])
        run([*sw, "link", "set", "lo", "up"])
        run([*sw, "link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0"])
        run([*sw, "link", "set", BRIDGE, "up"])

    def _create_host(self, host: str, addresses: list[str]) -> None:
        netns = self.netns(host)
        ip = ["ip", "-n", netns]
        run(["ip", "netns", "add", netns])
        # DAD off before eth0 exists: otherwise its link-local address stays "tentative" for about a
        # second and IPv6 multicast sends from it fail with EINVAL.
        for scope in ("all", "default"):
            run(netns_exec(netns, ["sysctl", "-q", "-w", f"net.ipv6.conf.{scope}.accept_dad=0"]))
        run([*ip, "link", "set", "lo", "up"])
        port, sw = self.switch_port(host), self.switch_netns
        run([*ip, "link", "add", HOST_IFNAME, "type", "veth", "peer", "name", port, "netns", sw])
        run(["ip", "-n", sw, "link", "set", "dev", port, "master", BRIDGE, "up"])
        for address in addresses:
            nodad = ["nodad"] if ipaddress.ip_interface(address).version == 6 else []
            run([*ip, "addr", "add", address, "dev", HOST_IFNAME, *nodad])
        run([*ip, "link", "set", HOST_IFNAME, "up"])


class Host:
    """One lab host. ``ifname`` is its only link, on the lab's bridge."""

    ifname = HOST_IFNAME
    prefix4 = IPV4_NET.prefixlen
    prefix6 = IPV6_NET.prefixlen

    def __init__(self, lab: Lab, index: int):
        self.lab = lab
        self.index = index
        self.name = f"h{index}"
        self.ipv4 = str(IPV4_NET[HOST_OFFSET + index])
        # Written as decimal digits (2001:db8::11 for h1) so v4 and v6 addresses read alike.
        self.ipv6 = str(ipaddress.ip_address(f"2001:db8::{HOST_OFFSET + index}"))
        self.switch_port = Layout.switch_port(self.name)
        self.processes: list[LabProcess] = []

    @property
    def netns(self) -> str:
        return self.lab.layout.netns(self.name)

    def ip(self, *args: str) -> subprocess.CompletedProcess:
        return run(["ip", "-n", self.netns, *args])

    def run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
        """Run a command inside this host and wait for it."""
        return run(netns_exec(self.netns, argv), check=check)

    def spawn(self, argv: list[str], **popen_kwargs) -> LabProcess:
        """Start a long-running process inside this host; the lab stops it by pid on close."""
        popen = subprocess.Popen(netns_exec(self.netns, argv), **popen_kwargs)
        process = LabProcess(popen, self.name, argv)
        self.processes.append(process)
        return process

    def link_down(self) -> None:
        self.ip("link", "set", self.ifname, "down")

    def link_up(self) -> None:
        self.ip("link", "set", self.ifname, "up")

    def addresses(self) -> set[str]:
        """Every address of this host, as ``address/prefixlen``, read over netlink."""
        from pyroute2 import NetNS

        with NetNS(self.netns) as ns:
            return {f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}" for msg in ns.get_addr()}

    def has_address(self, address: str) -> bool:
        wanted = ipaddress.ip_address(address)
        return any(ipaddress.ip_interface(a).ip == wanted for a in self.addresses())

    def serves(self, address: str) -> bool:
        """Whether ``address`` is on an interface that is up with carrier (over netlink): FRR's vrrpd
        keeps a Backup's VIPs on a macvlan in protodown, present but not serving."""
        from pyroute2 import NetNS

        wanted = ipaddress.ip_address(address)
        with NetNS(self.netns) as ns:
            links = ns.get_links()
            running = {link["index"] for link in links if link["flags"] & IFF_UP_LOWER_UP == IFF_UP_LOWER_UP}
            return any(
                msg["index"] in running and ipaddress.ip_address(msg.get("IFA_ADDRESS")) == wanted
                for msg in ns.get_addr()
            )

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.ipv4} {self.ipv6} netns={self.netns}>"


class Lab:
    """N hosts on one bridge. Use as a context manager: closing it removes everything it made."""

    def __init__(self, hosts: int = 2):
        if not 1 <= hosts <= 200:
            raise ValueError(f"a lab has 1 to 200 hosts, not {hosts}")
        self.prefix = naming.new_lab_prefix()
        self.hosts = [Host(self, i) for i in range(1, hosts + 1)]
        self.layout = Layout(
            self.prefix, {h.name: [f"{h.ipv4}/{h.prefix4}", f"{h.ipv6}/{h.prefix6}"] for h in self.hosts}
        )
        self._captures: list[Capture] = []
        self._created = False

    @property
    def switch_netns(self) -> str:
        return self.layout.switch_netns

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def start(self) -> Lab:
        self.layout.create()
        self._created = True
        return self

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    @cached_property
    def filter(self) -> BridgeFilter:
        return BridgeFilter(self.switch_netns)

    def block(self, src: Host, dst: Host, proto: str = "vrrp") -> None:
        """Drop what ``src`` sends to ``dst`` (one direction)."""
        self.filter.drop(src.switch_port, dst.switch_port, proto)

    def loss(self, src: Host, dst: Host, percent: int, proto: str = "vrrp") -> None:
        """Drop about ``percent`` % of what ``src`` sends to ``dst``, at random."""
        self.filter.drop(src.switch_port, dst.switch_port, proto, percent=percent)

    def partition(self, side_a: list[Host], side_b: list[Host]) -> None:
        """Cut all traffic between two groups of hosts, both ways."""
        for a in side_a:
            for b in side_b:
                self.filter.drop(a.switch_port, b.switch_port, "all")
                self.filter.drop(b.switch_port, a.switch_port, "all")

    def heal(self) -> None:
        """Remove every block, loss and partition rule."""
        self.filter.clear()

    def capture(self, bpf_filter: str = "", hosts: list[Host] | None = None) -> Capture:
        """Start capturing what the given hosts (default all) send into the switch."""
        ports = [h.switch_port for h in hosts or self.hosts]
        capture = Capture(self.switch_netns, ports, bpf_filter)
        self._captures.append(capture)
        return capture

    def close(self) -> None:
        if not self._created:
            return
        self._created = False
        for capture in self._captures:
            capture.stop()
        for host in self.hosts:
            for process in host.processes:
                process.stop(timeout=2)
        cleanup.remove_namespaces(self.layout.namespaces)
