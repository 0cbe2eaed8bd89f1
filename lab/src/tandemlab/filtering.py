"""Faults between lab hosts, made with nftables in the switch namespace (there is no netem here).

Rules live in a bridge-family table on the switch's forward hook, matched by ingress and egress port,
so they act per (sender, receiver) pair, multicast included: the bridge runs the hook once per port a
flooded frame leaves by.
"""

from __future__ import annotations

from tandemlab.shell import run

TABLE = "tandemlab"
PROTOCOL_MATCHES = {
    "vrrp": ["ip protocol 112", "ip6 nexthdr 112"],
    "icmp": ["ip protocol icmp", "ip6 nexthdr ipv6-icmp"],
    "arp": ["ether type arp"],
    "all": [""],
}


class BridgeFilter:
    def __init__(self, netns: str):
        self.netns = netns
        self._installed = False

    def _nft(self, script: str) -> None:
        run(["ip", "netns", "exec", self.netns, "nft", "-f", "-"], input=script)

    def _ensure_table(self) -> None:
        if not self._installed:
            self._nft(
                f"table bridge {TABLE} {{\n"
                "  chain forward { type filter hook forward priority 0; policy accept; }\n"
                "}\n"
            )
            self._installed = True

    def drop(self, in_port: str, out_port: str, proto: str, percent: int = 100) -> None:
        if proto not in PROTOCOL_MATCHES:
            raise ValueError(f"proto must be one of {sorted(PROTOCOL_MATCHES)}, not {proto!r}")
        if not 0 < percent <= 100:
            raise ValueError(f"percent must be 1..100, not {percent}")
        self._ensure_table()
        chance = f"numgen random mod 100 < {percent} " if percent < 100 else ""
        rules = "".join(
            f'add rule bridge {TABLE} forward iifname "{in_port}" oifname "{out_port}" '
            f"{match} {chance}counter drop\n"
            for match in PROTOCOL_MATCHES[proto]
        )
        self._nft(rules)

    def clear(self) -> None:
        if self._installed:
            self._nft(f"flush chain bridge {TABLE} forward\n")

    def dropped(self) -> int:
        """Packets dropped so far by all rules."""
        if not self._installed:
            return 0
        listing = run(["ip", "netns", "exec", self.netns, "nft", "list", "chain", "bridge", TABLE, "forward"])
        words = listing.stdout.split()
        return sum(int(words[i + 1]) for i, word in enumerate(words) if word == "packets")
