"""Traffic for lab tests: send or count raw IP packets of one protocol (VRRP is 112), and UDP echo.

Run inside a lab host: ``python -m tandemlab.probe recv --proto 112 --group 224.0.0.18 --seconds 2``
prints how many packets arrived; ``send`` sends ``--count`` packets ``--interval`` apart;
``udp-recv`` prints the first datagram and its sender, ``udp-send`` sends one; ``ping-gaps --log FILE``
prints, as JSON, how long a client running ``ping -D`` went without a reply (see :func:`ping_gaps`).
"""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import json
import re
import socket
import struct
import time


def _raw_socket(proto: int, family: int, ifname: str) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_RAW, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    return sock


def send(dst: str, proto: int, count: int, interval: float, ifname: str) -> None:
    family = socket.AF_INET6 if ipaddress.ip_address(dst).version == 6 else socket.AF_INET
    with _raw_socket(proto, family, ifname) as sock:
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(ifname))
        start = time.monotonic()
        for seq in range(count):
            sock.sendto(struct.pack("!I", seq) + b"tandemlab-probe", (dst, 0))
            time.sleep(max(0.0, start + (seq + 1) * interval - time.monotonic()))


def receive(group: str, proto: int, seconds: float, ifname: str) -> int:
    family = socket.AF_INET6 if ipaddress.ip_address(group).version == 6 else socket.AF_INET
    with _raw_socket(proto, family, ifname) as sock:
        if family == socket.AF_INET:
            # struct ip_mreqn: group, local address, ifindex (hosts have no route to pick an interface)
            ifindex = struct.pack("@i", socket.if_nametoindex(ifname))
            membership = socket.inet_aton(group) + socket.inet_aton("0.0.0.0") + ifindex
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        else:
            membership = socket.inet_pton(socket.AF_INET6, group) + struct.pack(
                "@I", socket.if_nametoindex(ifname)
            )
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, membership)
        print("ready", flush=True)
        received = 0
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(2048)
            except TimeoutError:
                break
            received += b"tandemlab-probe" in data
        return received


def udp_receive(address: str, port: int) -> str:
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((address, port))
        print("ready", flush=True)
        data, sender = sock.recvfrom(2048)
        return f"{data.decode(errors='replace')} {sender[0]}"


def udp_send(address: str, port: int, message: str) -> None:
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), (address, port))


PING_REPLY = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from ")
PING_SENT = re.compile(r"^(\d+) packets transmitted", re.MULTILINE)


def ping_gaps(ping_output: str) -> dict:
    """Summary of ``ping -D`` output: replies (duplicates not counted), pings sent, and the longest time
    between two replies (``longest_gap``, seconds) with the time it began (``gap_started``)."""
    stamps = [
        float(match[1])
        for line in ping_output.splitlines()
        if (match := PING_REPLY.match(line)) and "DUP!" not in line
    ]
    gaps = [(later - earlier, earlier) for earlier, later in itertools.pairwise(stamps)]
    longest_gap, gap_started = max(gaps, default=(0.0, stamps[0] if stamps else 0.0))
    sent = PING_SENT.search(ping_output)
    return {
        "replies": len(stamps),
        "sent": int(sent[1]) if sent else None,
        "longest_gap": round(longest_gap, 3),
        "gap_started": gap_started,
        "span": round(stamps[-1] - stamps[0], 1) if stamps else 0.0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tandemlab.probe")
    parser.add_argument("mode", choices=["send", "recv", "udp-send", "udp-recv", "ping-gaps"])
    parser.add_argument("--proto", type=int, default=112)
    parser.add_argument("--dst", "--group", dest="address", default="224.0.0.18")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--ifname", default="eth0")
    parser.add_argument("--port", type=int, default=5353)
    parser.add_argument("--message", default="hello")
    parser.add_argument("--log", help="ping-gaps: the file holding ping -D's output")
    args = parser.parse_args(argv)
    if args.mode == "send":
        send(args.address, args.proto, args.count, args.interval, args.ifname)
    elif args.mode == "recv":
        print(receive(args.address, args.proto, args.seconds, args.ifname), flush=True)
    elif args.mode == "ping-gaps":
        with open(args.log) as log:
            print(json.dumps(ping_gaps(log.read())))
    elif args.mode == "udp-send":
        udp_send(args.address, args.port, args.message)
    else:
        print(udp_receive(args.address, args.port), flush=True)


if __name__ == "__main__":
    main()
