"""The lab demo (``scripts/demo.sh``): deploy with the collection onto local systemd hosts, then drill a
failover and a rolling upgrade while a client keeps pinging the VIP, and say how long the client went
unanswered.

The hosts, the design and the plays are molecule's ``demo`` scenario (molecule/demo): two podman
containers running systemd on our own network namespaces, one VRRP group per address family, and the
collection's own playbooks ``site.yml`` and ``failover_drill.yml``. This module runs its steps in order,
shows what matters of their output, and always tears the lab down.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tandemlab import naming
from tandemlab.probe import ping_gaps

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
HOSTS = ("tandem-a", "tandem-b")
VIP = "198.51.100.10"
PROBE_INTERVAL = 0.02
# Ansible's own lines worth showing; molecule's INFO chatter and blank lines are left out.
SHOWN = re.compile(r"^(PLAY|TASK|ok:|changed:|fatal:|failed:|skipping:|\S+\s+: ok=)|\"msg\"|^\s+- |^\s+\w+:")


class Demo:
    def __init__(self) -> None:
        self.prefix = naming.new_lab_prefix()
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "CONTAINERS_CONF": str(ROOT / "scripts" / "containers.conf"),
            "TANDEM_LAB_PREFIX": self.prefix,
            "ANSIBLE_FORCE_COLOR": "0",
            "NO_COLOR": "1",
        }

    def molecule(self, step: str) -> None:
        process = subprocess.Popen(
            [str(BIN / "molecule"), step, "-s", "demo"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines = []
        for line in process.stdout:
            lines.append(line)
            if SHOWN.search(line):
                print("   " + line.rstrip(), flush=True)
        if process.wait() != 0:
            print("".join(lines[-60:]), file=sys.stderr)
            raise SystemExit(f"demo: molecule {step} failed (exit {process.returncode})")

    def status(self) -> None:
        for host in HOSTS:
            shown = subprocess.run(
                ["podman", "exec", f"{self.prefix}-{host}", "tandemctl", "status"],
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
            )
            print(f"   {host}:")
            for line in (shown.stdout or shown.stderr).splitlines():
                print(f"     {line}")

    def start_probe(self) -> subprocess.Popen:
        argv = [
            "ip",
            "netns",
            "exec",
            f"{self.prefix}-client",
            "ping",
            "-D",
            "-n",
            "-i",
            str(PROBE_INTERVAL),
            VIP,
        ]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    @staticmethod
    def stop_probe(probe: subprocess.Popen) -> dict:
        """Stop the probe; return its :func:`~tandemlab.probe.ping_gaps` summary."""
        probe.send_signal(signal.SIGINT)
        out, _ = probe.communicate(timeout=10)
        return ping_gaps(out)


def banner(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main() -> int:
    demo = Demo()
    print(
        "Tandem lab demo: highly available virtual IPs, deployed and drilled with the tandem.ha collection."
    )
    try:
        banner("1/5 Building the lab: two systemd hosts (podman) and a client, on our own network namespaces")
        demo.molecule("create")
        banner(
            "2/5 Deploying with tandem.ha's playbooks/site.yml: validate the design, install tandemd "
            "offline, render and check its config, run it under systemd"
        )
        demo.molecule("converge")
        banner("3/5 What the daemons say (tandemctl status): tandem-a masters both VIPs")
        demo.status()
        banner(
            "4/5 Failover drill (playbooks/failover_drill.yml), then a rolling upgrade "
            f"(playbooks/rolling_upgrade.yml), while the client pings {VIP} "
            f"every {PROBE_INTERVAL * 1000:.0f} ms"
        )
        probe = demo.start_probe()
        demo.molecule("side-effect")
        summary = demo.stop_probe(probe)
        banner("5/5 Back to normal after preemption")
        demo.status()
        print(
            f"\nThe client got {summary['replies']} replies from {VIP}; the longest time without one was "
            f"{summary['longest_gap'] * 1000:.0f} ms while the VIP moved from tandem-a to tandem-b and back, "
            "twice."
        )
    finally:
        banner("Tearing the lab down")
        demo.molecule("destroy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
