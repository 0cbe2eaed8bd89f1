"""Packet capture at the switch: one tcpdump per switch port, inbound only, so each frame is seen once
and we know which host sent it (``packet.sniffed_on`` is the sender's host name)."""

from __future__ import annotations

import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tandemlab.shell import LabError, netns_exec

STARTUP_TIMEOUT = 5.0


class Capture:
    def __init__(self, netns: str, ports: list[str], bpf_filter: str = ""):
        self._dir = Path(tempfile.mkdtemp(prefix="tandemlab-capture-"))
        self._tcpdumps: dict[str, subprocess.Popen] = {}
        self._packets: list | None = None
        try:
            for port in ports:
                self._tcpdumps[port] = self._start(netns, port, bpf_filter)
        except BaseException:
            self.stop()
            raise

    def _start(self, netns: str, port: str, bpf_filter: str) -> subprocess.Popen:
        argv = [
            "tcpdump",
            "-i",
            port,
            "-Q",
            "in",
            "-n",
            "--immediate-mode",
            "-U",
            "-w",
            str(self._dir / f"{port}.pcap"),
            "--time-stamp-precision=nano",
            *bpf_filter.split(),
        ]
        tcpdump = subprocess.Popen(netns_exec(netns, argv), stderr=subprocess.PIPE, text=True)
        # tcpdump says "listening on" once its socket is open: from then on nothing is missed.
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([tcpdump.stderr], [], [], 0.1)
            if ready:
                line = tcpdump.stderr.readline()
                if "listening on" in line:
                    return tcpdump
                if not line and tcpdump.poll() is not None:
                    break
        tcpdump.kill()
        raise LabError(f"tcpdump on {port} did not start: {tcpdump.stderr.read().strip()}")

    def stop(self) -> list:
        """Stop capturing; return [(timestamp, scapy packet)] of all ports, in time order."""
        if self._packets is not None:
            return self._packets
        for tcpdump in self._tcpdumps.values():
            tcpdump.send_signal(signal.SIGINT)
        for tcpdump in self._tcpdumps.values():
            try:
                tcpdump.wait(5)
            except subprocess.TimeoutExpired:
                tcpdump.kill()
                tcpdump.wait()
            tcpdump.stderr.close()
        self._packets = self._read()
        shutil.rmtree(self._dir, ignore_errors=True)
        return self._packets

    def _read(self) -> list:
        from scapy.all import rdpcap

        packets = []
        for port in self._tcpdumps:
            path = self._dir / f"{port}.pcap"
            if not path.exists() or path.stat().st_size == 0:
                continue
            for packet in rdpcap(str(path)):
                packet.sniffed_on = port
                packets.append((float(packet.time), packet))
        packets.sort(key=lambda item: item[0])
        return packets
