"""Every IPVS check that needs a real kernel, run inside the VM lane by ONE Python process (Python is
15-20x slower under qemu's emulation, so one boot and one interpreter run them all).

Prints one line ``RESULTS {json}``: for each check its verdict ("pass", "fail" or "skip"), a detail,
and numbers. runtime/tests/vm/test_ipvs_vm.py boots the VM once and turns each entry into a test.

Checks:
- table/<case>: for keepalived-syntax virtual servers (every scheduler and flag, NAT/DR/TUN with its
  tunnel types, persistence, fwmark, IPv4/IPv6, thresholds, groups), the IPVS table the plane programs
  equals the one keepalived 2.2.7 programs for the same config (ipvsadm's output, counters left out);
- tandemd/<case>: the same cases as keepalived-syntax config through tandemd's own path (config
  loader, lb_params, LbService, the plane chosen by auto): the same table as keepalived's (a case
  tandem refuses fails, naming the errors);
- ownership: close removes what the plane made; a service made by hand with ipvsadm survives;
- minimal_changes: a weight, method or scheduler change is one edit ("set"), an unchanged apply sends nothing;
- keepalived_verdicts: a client, two real servers and a sorry server (busybox httpd) as namespaces;
  keepalived checks the real servers of two virtual services (one with quorum 2, a sorry server and
  inhibit_on_failure) while rs2 is killed and restarted: its table in each phase is the reference;
- lb_service_verdicts: tandem's LbService (tandem.check's TCP_CHECK, the Balancer, the IPVS plane
  chosen by ``auto``) through the same phases: the same table as keepalived's in each;
- lb_service_traffic: in each phase the client's HTTP requests to each virtual service reach exactly
  the destinations the table gives weight (NAT), the plane counts connections for every real server,
  and stopping the service leaves the table empty;
- tun_traffic, ipv6_traffic: LbService on TUN services of each tunnel type (ipip, gue, gre; the real
  servers unwrap them on tunl0/gre0, fou for gue) and an IPv6 NAT service: the client's requests to
  each reach both real servers, each real server counted every tunnel type's packets, and the plane
  counted connections for every destination;
- checker_cpu (only with ``--bench`` or ``--bench-only``: a measurement, not a test): CPU per
  TCP_CHECK, tandem's LbService vs keepalived's checker, same real server, same boot.

A check that raises is recorded under its step's name (e.g. ``tables``) with the traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import traceback
from ipaddress import ip_address
from pathlib import Path

from tandem.lb.plane import Destination, Service, ServiceKey

LOADED = time.monotonic()
SCRATCH = Path("/tmp/ipvs-vm")
RESULTS: dict[str, dict] = {}
STEP_SECONDS: dict[str, float] = {}


def ip(text: str):
    return ip_address(text)


def rs(address: str, port: int | None = None, **values) -> Destination:
    return Destination(ip(address), port, **values)


def key(address: str, port: int | None, protocol: str = "TCP") -> ServiceKey:
    return ServiceKey(ip(address).version, protocol, ip(address), port)


# (case, keepalived virtual_server text, the Services tandem's plane is given for it)
CASES: list[tuple[str, str, tuple[Service, ...]]] = []
for index, scheduler in enumerate(
    ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"), start=1
):
    vip = f"198.51.100.{index}"
    CASES.append(
        (
            f"sched-{scheduler}",
            f"""virtual_server {vip} 80 {{
    protocol TCP
    lvs_sched {scheduler}
    real_server 203.0.113.1 8080 {{
        weight 3
    }}
    real_server 203.0.113.2 8081 {{
        weight 1
    }}
}}""",
            (
                Service(
                    key(vip, 80),
                    scheduler,
                    destinations=(rs("203.0.113.1", 8080, weight=3), rs("203.0.113.2", 8081, weight=1)),
                ),
            ),
        )
    )
CASES += [
    (
        "default-scheduler",
        "virtual_server 198.51.100.20 80 {\n    protocol TCP\n    real_server 203.0.113.1 80 {\n    }\n}",
        (Service(key("198.51.100.20", 80), "wlc", destinations=(rs("203.0.113.1", 80),)),),
    ),
    (
        "sh-flags",
        """virtual_server 198.51.100.21 80 {
    protocol TCP
    lb_algo sh
    sh-port
    sh-fallback
    real_server 203.0.113.1 80 {
        weight 2
    }
}""",
        (
            Service(
                key("198.51.100.21", 80),
                "sh",
                ("sh-port", "sh-fallback"),
                destinations=(rs("203.0.113.1", 80, weight=2),),
            ),
        ),
    ),
    (
        "mh-flags",
        """virtual_server 198.51.100.22 80 {
    protocol TCP
    lb_algo mh
    mh-port
    mh-fallback
    real_server 203.0.113.1 80 {
    }
}""",
        (
            Service(
                key("198.51.100.22", 80),
                "mh",
                ("mh-port", "mh-fallback"),
                destinations=(rs("203.0.113.1", 80),),
            ),
        ),
    ),
    (
        "methods",
        """virtual_server 198.51.100.23 80 {
    protocol TCP
    lb_algo rr
    lb_kind DR
    real_server 203.0.113.1 80 {
        weight 4
    }
    real_server 203.0.113.2 80 {
        lvs_method NAT
    }
    real_server 203.0.113.3 80 {
        lvs_method TUN
    }
    real_server 203.0.113.4 80 {
        lvs_method TUN type gue port 6080 csum
    }
    real_server 203.0.113.5 80 {
        lvs_method TUN type gre nocsum
    }
    real_server 203.0.113.6 80 {
        lvs_method TUN type gue port 6081 remcsum
    }
}""",
        (
            Service(
                key("198.51.100.23", 80),
                "rr",
                destinations=(
                    rs("203.0.113.1", 80, weight=4, method="DR"),
                    rs("203.0.113.2", 80, method="NAT"),
                    rs("203.0.113.3", 80, method="TUN"),
                    rs(
                        "203.0.113.4",
                        80,
                        method="TUN",
                        tunnel_type="gue",
                        tunnel_port=6080,
                        tunnel_flags=("csum",),
                    ),
                    rs("203.0.113.5", 80, method="TUN", tunnel_type="gre", tunnel_flags=("nocsum",)),
                    rs(
                        "203.0.113.6",
                        80,
                        method="TUN",
                        tunnel_type="gue",
                        tunnel_port=6081,
                        tunnel_flags=("remcsum",),
                    ),
                ),
            ),
        ),
    ),
    (
        "persistence",
        """virtual_server 198.51.100.24 443 {
    protocol TCP
    lb_algo wrr
    persistence_timeout 300
    persistence_granularity 255.255.255.0
    real_server 203.0.113.1 443 {
        weight 5
    }
}
virtual_server 198.51.100.24 444 {
    protocol TCP
    lb_algo rr
    persistence_timeout 50
    real_server 203.0.113.1 444 {
    }
}""",
        (
            Service(
                key("198.51.100.24", 443),
                "wrr",
                persistence_timeout=300,
                persistence_granularity=ip("255.255.255.0"),
                destinations=(rs("203.0.113.1", 443, weight=5),),
            ),
            Service(
                key("198.51.100.24", 444),
                "rr",
                persistence_timeout=50,
                destinations=(rs("203.0.113.1", 444),),
            ),
        ),
    ),
    (
        "all-ports",
        """virtual_server 198.51.100.25 {
    protocol TCP
    lb_algo rr
    persistence_timeout 120
    real_server 203.0.113.1 {
    }
}""",
        (
            Service(
                key("198.51.100.25", None),
                "rr",
                persistence_timeout=120,
                destinations=(rs("203.0.113.1", None),),
            ),
        ),
    ),
    (
        "fwmark",
        """virtual_server fwmark 10 {
    lb_algo wlc
    lb_kind DR
    real_server 203.0.113.1 {
        weight 2
    }
    real_server 203.0.113.2 80 {
    }
    real_server 203.0.113.3 8080 {
        lvs_method NAT
    }
}""",
        (
            Service(
                ServiceKey(4, fwmark=10),
                "wlc",
                destinations=(
                    rs("203.0.113.1", None, weight=2, method="DR"),
                    # a port given to a DR/TUN real server of a fwmark service: keepalived clears it
                    rs("203.0.113.2", 80, method="DR"),
                    rs("203.0.113.3", 8080, method="NAT"),
                ),
            ),
        ),
    ),
    (
        "ipv6",
        """virtual_server 2001:db8::10 80 {
    protocol TCP
    lb_algo rr
    real_server 2001:db8:1::1 8080 {
        weight 2
    }
    real_server 2001:db8:1::2 8080 {
    }
}
virtual_server 2001:db8::10 53 {
    lb_algo sh
    protocol UDP
    ops
    persistence_timeout 60
    real_server 2001:db8:1::1 53 {
    }
}""",
        (
            Service(
                key("2001:db8::10", 80),
                "rr",
                destinations=(rs("2001:db8:1::1", 8080, weight=2), rs("2001:db8:1::2", 8080)),
            ),
            Service(
                key("2001:db8::10", 53, "UDP"),
                "sh",
                persistence_timeout=60,
                ops=True,
                destinations=(rs("2001:db8:1::1", 53),),
            ),
        ),
    ),
    (
        "fwmark-ipv6",
        """virtual_server fwmark 11 {
    ip_family inet6
    lb_algo rr
    lb_kind DR
    real_server 2001:db8:1::1 {
    }
}""",
        (Service(ServiceKey(6, fwmark=11), "rr", destinations=(rs("2001:db8:1::1", None, method="DR"),)),),
    ),
    (
        # an IPv6 fwmark service over an IPv4 TUN real server (the kernel allows mixed families for TUN)
        "fwmark-ip-family",
        """virtual_server fwmark 13 {
    ip_family inet6
    lb_algo rr
    lb_kind TUN
    real_server 203.0.113.1 {
    }
}""",
        (Service(ServiceKey(6, fwmark=13), "rr", destinations=(rs("203.0.113.1", None, method="TUN"),)),),
    ),
    (
        "udp-sctp",
        """virtual_server 198.51.100.26 53 {
    protocol UDP
    lb_algo rr
    ops
    real_server 203.0.113.1 53 {
    }
}
virtual_server 198.51.100.26 3868 {
    protocol SCTP
    lb_algo rr
    real_server 203.0.113.1 3868 {
    }
}""",
        (
            Service(key("198.51.100.26", 53, "UDP"), "rr", ops=True, destinations=(rs("203.0.113.1", 53),)),
            Service(key("198.51.100.26", 3868, "SCTP"), "rr", destinations=(rs("203.0.113.1", 3868),)),
        ),
    ),
    (
        "thresholds",
        """virtual_server 198.51.100.27 80 {
    protocol TCP
    lb_algo wlc
    real_server 203.0.113.1 80 {
        weight 10
        uthreshold 100
        lthreshold 10
    }
}""",
        (
            Service(
                key("198.51.100.27", 80),
                "wlc",
                destinations=(rs("203.0.113.1", 80, weight=10, upper_threshold=100, lower_threshold=10),),
            ),
        ),
    ),
    (
        # real servers that start down (alpha) and stay down (no route to them yet: the lab comes
        # later): quorum is lost from the start, the sorry server is the only destination
        "sorry-method",
        """virtual_server 198.51.100.28 80 {
    protocol TCP
    lb_algo rr
    lb_kind DR
    alpha
    sorry_server 203.0.113.9 8080
    sorry_server_lvs_method NAT
    real_server 203.0.113.250 80 {
        TCP_CHECK {
        }
    }
}
virtual_server 198.51.100.28 81 {
    protocol TCP
    lb_algo rr
    alpha
    sorry_server 203.0.113.9 8081
    sorry_server_lvs_method TUN type gre csum
    real_server 203.0.113.250 81 {
        TCP_CHECK {
        }
    }
}""",
        (
            Service(key("198.51.100.28", 80), "rr", destinations=(rs("203.0.113.9", 8080),)),
            Service(
                key("198.51.100.28", 81),
                "rr",
                destinations=(
                    rs("203.0.113.9", None, method="TUN", tunnel_type="gre", tunnel_flags=("csum",)),
                ),
            ),
        ),
    ),
    (
        "group",
        """virtual_server_group web {
    198.51.100.30-32 80
    fwmark 12
}
virtual_server group web {
    protocol TCP
    lb_algo rr
    lb_kind DR
    real_server 203.0.113.1 80 {
        weight 2
    }
}""",
        tuple(
            Service(k, "rr", destinations=(rs("203.0.113.1", 80, weight=2, method="DR"),))
            for k in (
                key("198.51.100.30", 80),
                key("198.51.100.31", 80),
                key("198.51.100.32", 80),
                ServiceKey(4, fwmark=12),
            )
        ),
    ),
]


# every check the lane records (runtime/tests/vm/test_ipvs_vm.py makes one test of each)
NAMES = (
    *(f"table/{case}" for case, _, _ in CASES),
    "table/closed",
    *(f"tandemd/{case}" for case, _, _ in CASES),
    "tandemd/stopped",
    "ownership",
    "minimal_changes",
    "keepalived_verdicts",
    "lb_service_verdicts",
    "lb_service_traffic",
    "lb_service_reload",
    "tun_traffic",
    "ipv6_traffic",
)


def sh(*argv: str, check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


SERVICE_FLAGS = {"TCP": "-t", "UDP": "-u", "SCTP": "--sctp-service", "FWM": "-f"}


def table() -> dict[str, list[str]]:
    """The kernel's IPVS table: for each service (ipvsadm's id for it), its rule as ``ipvsadm -Sn``
    saves it, its destinations' rules and their thresholds (``-Ln --thresholds`` less the counters)."""
    services: dict[str, list[str]] = {}
    for line in sh("ipvsadm", "-Sn").splitlines():
        words = line.split()
        ident = " ".join(words[1:3])
        if words[0] == "-A":
            services.setdefault(ident, []).insert(0, " ".join(words[3:]))
        else:
            services.setdefault(ident, []).append(" ".join(words[3:]))
    current = None
    for line in sh("ipvsadm", "-Ln", "--thresholds").splitlines()[3:]:
        words = line.split()
        if words[0] != "->":
            current = f"{SERVICE_FLAGS[words[0]]} {words[1]}"
        else:
            services.setdefault(current, ["?"]).append("thresholds " + " ".join(words[1:-2]))
    return {ident: [rules[0], *sorted(rules[1:])] for ident, rules in services.items()}


def ident(service_key: ServiceKey) -> str:
    if service_key.fwmark is not None:
        return f"-f {service_key.fwmark}"
    address = f"[{service_key.address}]" if service_key.family == 6 else str(service_key.address)
    return f"{SERVICE_FLAGS[service_key.protocol]} {address}:{service_key.port or 0}"


def record(name: str, ok: bool | None, detail: str = "", **numbers) -> None:
    RESULTS[name] = {"verdict": {True: "pass", False: "fail", None: "skip"}[ok], "detail": detail, **numbers}


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Keepalived:
    """keepalived 2.2.7's checker process (-C) on a config, in the VM's own network namespace."""

    def __init__(self, name: str, text: str):
        self.conf = SCRATCH / f"{name}.conf"
        self.conf.write_text("global_defs {\n    router_id vm\n}\n" + text + "\n")
        self.log = SCRATCH / f"{name}.log"
        self.pidfiles = [SCRATCH / f"{name}.pid", SCRATCH / f"{name}-checker.pid"]
        argv = ["keepalived", "-f", str(self.conf), "-C", "-n", "-l", "-D"]
        argv += ["-p", str(self.pidfiles[0]), "-c", str(self.pidfiles[1])]
        self.process = subprocess.Popen(argv, stdout=self.log.open("w"), stderr=subprocess.STDOUT)

    def checker_pid(self) -> int:
        return int(
            wait_for(lambda: self.pidfiles[1].exists() and self.pidfiles[1].read_text().strip(), 30, "pid")
        )

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def settled(services: int, timeout: float) -> dict[str, list[str]]:
    """The table once it has ``services`` services and has not changed for a second."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        now = table()
        if len(now) >= services and now == previous:
            return now
        previous = now
        time.sleep(1.0)
    raise TimeoutError(f"keepalived's table did not settle with {services} services in {timeout:.0f} s")


def check_tables() -> None:
    """keepalived's table for every case at once, then the plane's for the same cases."""
    from tandem.lb.ipvs import IpvsPlane

    services = tuple(s for _, _, case_services in CASES for s in case_services)
    keepalived = Keepalived("tables", "\n".join(text for _, text, _ in CASES))
    try:
        reference = settled(len(services), 90)
    except TimeoutError as error:
        detail = f"{error}; table now {table()}; keepalived log: {keepalived.log.read_text()[:3000]}"
        keepalived.stop()
        for case, _, _ in CASES:
            record(f"table/{case}", False, detail)
        return
    keepalived.stop()
    TABLE_REFERENCE.update(reference)
    left = table()
    if left:  # keepalived removes its services when it stops; make sure the plane starts clean
        sh("ipvsadm", "-C")
    plane = IpvsPlane()
    try:
        plane.apply(services)
        programmed = table()
    finally:
        plane.close()
    after_close = table()
    for case, _, case_services in CASES:
        ids = [ident(s.key) for s in case_services]
        want = {i: reference.get(i) for i in ids}
        got = {i: programmed.get(i) for i in ids}
        detail = "" if want == got else f"keepalived: {json.dumps(want)}\ntandem:     {json.dumps(got)}"
        record(f"table/{case}", want == got, detail)
    record(
        "table/closed",
        not after_close and not left,
        f"left by keepalived: {left}; left by the plane's close: {after_close}",
    )


TABLE_REFERENCE: dict[str, list[str]] = {}  # keepalived's table of every case, from check_tables
GLOBAL_DEFS = "global_defs {\n    router_id vm\n}\n"


def check_tandemd_tables() -> None:
    """tandemd's own path for the same cases: the keepalived-syntax config through tandem's config
    loader, lb_params and LbService (real servers without checkers are up), the plane chosen by
    auto. Every case must load and give keepalived's table: a case tandem refuses, or programs
    differently (with the loader's 'not supported yet' warnings named, if any), fails."""
    from tandem.config import load_config_text

    accepted, refused, ignored = [], {}, {}
    for case, text, _ in CASES:
        loaded = load_config_text(GLOBAL_DEFS + text, f"{case}.conf")
        if loaded.config is None:
            refused[case] = f"tandem refuses this keepalived config: {[str(f) for f in loaded.errors]}"
            continue
        accepted.append((case, text))
        ignored[case] = [str(f) for f in loaded.findings if "not supported yet" in f.message]
    if table():
        sh("ipvsadm", "-C")
    running = RunningService("tandemd-tables", GLOBAL_DEFS + "\n".join(text for _, text in accepted))
    try:
        programmed = table()
    finally:
        running.stop()
    after_stop = table()
    for case, _, case_services in CASES:
        if case in refused:
            record(f"tandemd/{case}", False, refused[case])
            continue
        ids = [ident(s.key) for s in case_services]
        want = {i: TABLE_REFERENCE.get(i) for i in ids}
        got = {i: programmed.get(i) for i in ids}
        detail = "" if want == got else f"keepalived: {json.dumps(want)}\ntandemd:    {json.dumps(got)}"
        if want != got and ignored[case]:
            detail += f"\ntandem warned that it ignores {ignored[case]}"
        record(f"tandemd/{case}", bool(TABLE_REFERENCE) and want == got, detail)
    record("tandemd/stopped", not after_stop, f"left by the service's stop: {after_stop}")


def check_ownership() -> None:
    from tandem.lb.ipvs import IpvsPlane

    sh("ipvsadm", "-A", "-t", "203.0.113.200:80", "-s", "rr")
    sh("ipvsadm", "-a", "-t", "203.0.113.200:80", "-r", "203.0.113.201:80", "-m")
    hand_made = table()
    plane = IpvsPlane()
    mine = Service(key("198.51.100.40", 80), "rr", destinations=(rs("203.0.113.1", 80),))
    plane.apply((mine,))
    during = table()
    plane.apply(())
    plane.apply((mine,))
    plane.close()
    after = table()
    sh("ipvsadm", "-D", "-t", "203.0.113.200:80")
    ok = after == hand_made and ident(mine.key) in during and len(during) == 2
    record("ownership", ok, f"hand-made: {hand_made}\nwith the plane's: {during}\nafter close: {after}")


def check_minimal_changes() -> None:
    import tandem.lb.ipvs as ipvs

    plane = ipvs.IpvsPlane()
    sent: list[int] = []
    exchange = plane._netlink.exchange

    def counted(data: bytes) -> list[bytes]:
        sent.append(data[16])  # the generic netlink command, after the 16-octet nlmsghdr
        return exchange(data)

    plane._netlink.exchange = counted
    k = key("198.51.100.41", 80)
    a, b = rs("203.0.113.1", 80), rs("203.0.113.2", 80)
    steps = [
        (
            "add",
            Service(k, "rr", destinations=(a, b)),
            [ipvs.IPVS_CMD_NEW_SERVICE] + [ipvs.IPVS_CMD_NEW_DEST] * 2,
        ),
        ("same again", Service(k, "rr", destinations=(a, b)), []),
        (
            "weight 5",
            Service(k, "rr", destinations=(a, rs("203.0.113.2", 80, weight=5))),
            [ipvs.IPVS_CMD_SET_DEST],
        ),
        (
            "method DR",
            Service(k, "rr", destinations=(a, rs("203.0.113.2", 80, weight=5, method="DR"))),
            [ipvs.IPVS_CMD_SET_DEST],
        ),
        (
            "scheduler wrr",
            Service(k, "wrr", destinations=(a, rs("203.0.113.2", 80, weight=5, method="DR"))),
            [ipvs.IPVS_CMD_SET_SERVICE],
        ),
        ("drop one", Service(k, "wrr", destinations=(a,)), [ipvs.IPVS_CMD_DEL_DEST]),
    ]
    problems = []
    try:
        for step, service, commands in steps:
            sent.clear()
            plane.apply((service,))
            rules = table().get(ident(k), [])
            if sent != commands:
                problems.append(f"{step}: sent commands {sent}, expected {commands}")
            if step == "weight 5" and not any("203.0.113.2:80 -m -w 5" in r for r in rules):
                problems.append(f"{step}: the kernel has {rules}")
            if step == "method DR" and not any("203.0.113.2:80 -g -w 5" in r for r in rules):
                problems.append(f"{step}: the kernel has {rules}")
            if step == "scheduler wrr" and not rules[0].startswith("-s wrr"):
                problems.append(f"{step}: the kernel has {rules}")
    finally:
        plane.close()
    record("minimal_changes", not problems, "\n".join(problems))


def netns(name: str, *argv: str) -> str:
    return sh("ip", "netns", "exec", name, *argv)


# the lab's hosts (namespaces): the director's address on the link, the host's, what its httpd says
HOSTS = {
    "client": ("198.51.100.1/24", "198.51.100.2/24"),
    "rs1": ("203.0.113.1/30", "203.0.113.2/30"),
    "rs2": ("203.0.113.5/30", "203.0.113.6/30"),
    "sorry": ("203.0.113.9/30", "203.0.113.10/30"),
}
# the same links in IPv6 (client, rs1, rs2): the director's address, the host's
HOSTS6 = {
    "client": ("2001:db8:c::1/64", "2001:db8:c::2/64"),
    "rs1": ("2001:db8:1::1/64", "2001:db8:1::2/64"),
    "rs2": ("2001:db8:2::1/64", "2001:db8:2::2/64"),
}
SERVER_NAMES = {host.split("/")[0]: name for name, (_, host) in HOSTS.items() if name != "client"}
VIPS = ("198.51.100.100", "198.51.100.101", "198.51.100.103")
DR_VIP = VIPS[2]  # direct routing: the real servers hold it too (on lo, answering no ARP for it)
# tunnelled (TUN) virtual services by tunnel type, held by the real servers on lo like DR_VIP: the
# director wraps each packet (ipip, gue to UDP port GUE_PORT, gre), the real server unwraps it on its
# tunl0 (ipip, and gue after fou) or gre0 and answers the client directly
# DR and TUN: the real servers answer no ARP for the VIPs; the unwrapped packets come from any source
REAL_SERVER_SYSCTLS = (
    "net.ipv4.conf.all.arp_ignore=1",
    "net.ipv4.conf.all.arp_announce=2",
    "net.ipv4.conf.tunl0.rp_filter=0",
    "net.ipv4.conf.gre0.rp_filter=0",
)
TUN_VIPS = {"ipip": "198.51.100.104", "gue": "198.51.100.105", "gre": "198.51.100.106"}
GUE_PORT = 6080
VIP6 = "2001:db8::100"  # an IPv6 NAT virtual service


def build_traffic_lab() -> dict[str, subprocess.Popen]:
    """client -- VM root (the director: VIPS on lo, forwarding) -- rs1, rs2 and sorry, each with httpd.
    One shell runs the set-up (each process start costs ~50 ms of emulation from Python)."""
    # expire_nodest_conn: a new connection whose client port matches an old one's entry to a removed
    # real server is rescheduled (after one SYN retry) instead of sent to the removed one
    script = [
        # before the namespaces: each gets its fallback tunl0 and gre0 when they are created
        "modprobe -a ipip fou ip_gre",
        "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv6.conf.all.forwarding=1",
        "sysctl -qw net.ipv4.vs.expire_nodest_conn=1",
    ]
    script += [f"ip addr add {vip}/32 dev lo" for vip in (*VIPS, *TUN_VIPS.values())]
    script.append(f"ip addr add {VIP6}/128 dev lo")
    for name, (director, host) in HOSTS.items():
        script += [
            f"ip netns add {name}",
            f"ip link add to-{name} type veth peer name eth0 netns {name}",
            f"ip addr add {director} dev to-{name}",
            f"ip link set to-{name} up",
            f"ip -n {name} link set lo up",
            f"ip -n {name} addr add {host} dev eth0",
            f"ip -n {name} link set eth0 up",
            f"ip -n {name} route add default via {director.split('/')[0]}",
        ]
        if name in HOSTS6:
            director6, host6 = HOSTS6[name]
            script += [
                f"ip addr add {director6} dev to-{name} nodad",
                f"ip -n {name} addr add {host6} dev eth0 nodad",
                f"ip -n {name} route add default via {director6.split('/')[0]}",
            ]
        if name.startswith("rs"):
            script += [f"ip -n {name} addr add {vip}/32 dev lo" for vip in (DR_VIP, *TUN_VIPS.values())]
            script += [
                f"ip -n {name} link set tunl0 up",
                f"ip -n {name} link set gre0 up",
                f"ip -n {name} fou add port {GUE_PORT} gue",
                f"ip netns exec {name} nft -f {SCRATCH / 'tunnels.nft'}",
                f"ip netns exec {name} sysctl -qw {' '.join(REAL_SERVER_SYSCTLS)}",
                # a DR reply comes back from the VIP, which is local here too: not a martian
                f"sysctl -qw net.ipv4.conf.to-{name}.accept_local=1 net.ipv4.conf.to-{name}.rp_filter=0",
            ]
    (SCRATCH / "tunnels.nft").write_text(TUNNEL_COUNTERS)
    sh("sh", "-ec", "\n".join(script))
    servers = {name: start_httpd(name, wait=False) for name in HOSTS if name != "client"}
    urls = {name: f"http://{HOSTS[name][1].split('/')[0]}/" for name in servers}
    wait_for(lambda: fetch_many(*urls.values()) == list(urls), 30, "the real servers' httpd")
    return servers


def revive(servers: dict[str, subprocess.Popen]) -> None:
    """Restart the real servers' httpd that a step before left stopped (it failed midway), so its
    failure is not repeated by the steps after it."""
    for name, server in servers.items():
        if server.poll() is not None:
            servers[name] = start_httpd(name)


def start_httpd(name: str, wait: bool = True) -> subprocess.Popen:
    root = SCRATCH / name
    root.mkdir(exist_ok=True)
    (root / "index.html").write_text(name + "\n")
    argv = ["ip", "netns", "exec", name, "busybox", "httpd", "-f", "-p", "80", "-h", str(root)]
    server = subprocess.Popen(argv)
    if wait:
        url = f"http://{HOSTS[name][1].split('/')[0]}/"
        wait_for(lambda: fetch_many(url) == [name], 30, f"{name}'s httpd")
    return server


# in each real server: the tunnelled packets that arrive, by tunnel type (their outer headers)
TUNNEL_COUNTERS = f"""table inet tandem_tunnels {{
    chain input {{
        type filter hook input priority 0;
        meta l4proto 4 counter comment "ipip"
        udp dport {GUE_PORT} counter comment "gue"
        meta l4proto 47 counter comment "gre"
    }}
}}
"""


def tunnelled(name: str) -> dict[str, int]:
    """The tunnelled packets real server ``name`` has received, by tunnel type."""
    listed = netns(name, "nft", "list", "chain", "inet", "tandem_tunnels", "input")
    return {
        kind: int(count) for count, kind in re.findall(r"counter packets (\d+) .*comment \"(\w+)\"", listed)
    }


def fetch_many(*urls: str) -> list[str]:
    """What the client gets for each of ``urls`` (one connection each, one curl process)."""
    # -m 10: under emulation on a loaded machine a request (busybox httpd forks for each) took over 3 s
    argv = ["ip", "netns", "exec", "client", "curl", "-gs", "-m", "10", "-H", "Connection: close"]
    done = subprocess.run([*argv, "-w", "|%{http_code}\\n", *urls], capture_output=True, text=True)
    return [
        body.strip() if code == "200" else f"<failed: HTTP code {code}>"
        for body, code in re.findall(r"(.*?)\|(\d+)\n", done.stdout, re.S)
    ]


def tcp_checked(vip: str, extra: str = "", rs2_extra: str = "") -> str:
    """A virtual server of VERDICTS: rr over rs1 and rs2, each TCP_CHECKed every second."""
    check = "        TCP_CHECK {\n            connect_timeout 1\n            retry 0\n        }\n"
    return (
        f"virtual_server {vip} 80 {{\n    protocol TCP\n    lb_algo rr\n{extra}    delay_loop 1\n"
        f"    real_server 203.0.113.2 80 {{\n{check}    }}\n"
        f"    real_server 203.0.113.6 80 {{\n{rs2_extra}{check}    }}\n}}"
    )


# keepalived and tandem run this config in turn, through the same events: .100 has quorum 2, a
# sorry server and an inhibit_on_failure rs2; .101 takes out a real server that fails; .103 forwards
# by direct routing (the packets reach the real servers unchanged)
VERDICTS = "\n".join(
    (
        tcp_checked(
            VIPS[0], "    quorum 2\n    sorry_server 203.0.113.10 80\n", "        inhibit_on_failure\n"
        ),
        tcp_checked(VIPS[1]),
        tcp_checked(DR_VIP, "    lb_kind DR\n"),
    )
)
PHASES = ("up", "rs2 down", "rs2 back")


def verdict_phases(servers: dict[str, subprocess.Popen], problems: list[str] | None) -> dict[str, dict]:
    """The table once settled in each phase: both real servers up, rs2's httpd killed, rs2 back.
    With ``problems``, what the client gets from each virtual service is checked against the table."""

    revive(servers)

    def both_up(t: dict) -> bool:
        return all(sum(r.startswith("-r ") for r in t.get(f"-t {vip}:80", [])) == 2 for vip in VIPS)

    snapshots = {"up": stable(lambda: (t := table()) and both_up(t) and t, 60, "both real servers up")}
    served(snapshots["up"], "up", problems)
    servers["rs2"].send_signal(signal.SIGTERM)
    servers["rs2"].wait(10)

    def rs2_down(t: dict) -> bool:  # both services reacted (their checks of rs2 run apart)
        return "-r 203.0.113.6:80 -m -w 0" in t.get(f"-t {VIPS[0]}:80", []) and not any(
            "203.0.113.6" in rule for vip in VIPS[1:] for rule in t.get(f"-t {vip}:80", [])
        )

    snapshots["rs2 down"] = stable(lambda: (t := table()) and rs2_down(t) and t, 30, "rs2 down")
    served(snapshots["rs2 down"], "rs2 down", problems)
    servers["rs2"] = start_httpd("rs2")
    snapshots["rs2 back"] = stable(lambda: (t := table()) == snapshots["up"] and t, 30, "rs2 back")
    served(snapshots["rs2 back"], "rs2 back", problems)
    return snapshots


def stable(predicate, timeout: float, what: str) -> dict:
    """The first value of ``predicate`` that is still the same a second later."""
    deadline = time.monotonic() + timeout
    previous = None
    while True:
        value = wait_for(predicate, max(deadline - time.monotonic(), 0.1), what)
        if value == previous:
            return value
        previous = value
        time.sleep(1.0)


def served(snapshot: dict, phase: str, problems: list[str] | None) -> None:
    """The client's requests to each virtual service reach exactly its destinations of weight > 0."""
    if problems is None:
        return
    for vip in VIPS:
        rules = snapshot.get(f"-t {vip}:80", [])
        serving = {
            SERVER_NAMES[rule.split()[1].split(":")[0]]
            for rule in rules
            if rule.startswith("-r ") and not rule.endswith(" -w 0")
        }
        seen = fetch_many(*[f"http://{vip}/"] * (3 * max(len(serving), 1)))
        if set(seen) != serving:
            problems.append(f"{phase}: {vip} serves {sorted(serving)} by its table, the client got {seen}")


KEEPALIVED_SNAPSHOTS: dict[str, dict] = {}


def check_keepalived_verdicts(servers: dict[str, subprocess.Popen]) -> None:
    """keepalived's table through the phases: the reference for tandem's LbService."""
    keepalived = Keepalived("verdicts", VERDICTS)
    try:
        KEEPALIVED_SNAPSHOTS.update(verdict_phases(servers, None))
    except TimeoutError as error:
        record("keepalived_verdicts", False, f"{error}: {keepalived.log.read_text()[-2000:]}")
        return
    finally:
        keepalived.stop()
    record("keepalived_verdicts", True, json.dumps(KEEPALIVED_SNAPSHOTS, indent=1))


class RunningService:
    """tandem's LbService on a config, its event loop in a thread of this process (so the checks
    above, written for keepalived, drive it the same way); the plane is the config's (auto: IPVS)."""

    def __init__(self, name: str, text: str):
        import threading

        from tandem.config import ConfigSource, load_config
        from tandem.lb.service import LbService

        self.path = path = SCRATCH / f"{name}.conf"
        path.write_text(text + "\n")
        loaded = load_config(path)
        if loaded.config is None:
            raise RuntimeError(f"tandem refuses {path}: {[str(f) for f in loaded.findings]}")
        self.log = LogLines("tandem.lb")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.service = LbService(ConfigSource(str(path)), loaded.config, watch_addresses=False)
        self.call(self.service.start())

    def call(self, coroutine, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stats(self):
        async def read():
            return self.service.stats()

        return self.call(read())

    def stop(self) -> None:
        try:
            self.call(self.service.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.log.close()


class LogLines:
    """The records of one logger, as lines."""

    def __init__(self, name: str):
        import logging

        self.lines: list[str] = []
        self.logger = logging.getLogger(name)
        self.handler = logging.Handler()
        self.handler.emit = lambda r: self.lines.append(f"{r.levelname} {r.getMessage()}")
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.INFO)

    def close(self) -> None:
        self.logger.removeHandler(self.handler)


def check_lb_service(servers: dict[str, subprocess.Popen]) -> None:
    """tandem's LbService through keepalived's phases: the same table in each (verdicts), and the
    client's requests reach what the table says (traffic), counted by the plane."""
    left = table()
    if left:
        sh("ipvsadm", "-C")
    running = RunningService("tandem-verdicts", VERDICTS)
    problems: list[str] = []
    try:
        snapshots = verdict_phases(servers, problems)
        stats = running.stats()
        reload_one_weight(running)
    except TimeoutError as error:
        detail = f"{error}; table now {json.dumps(table())}\nlog: " + "\n".join(running.log.lines[-40:])
        record("lb_service_verdicts", False, detail)
        record("lb_service_traffic", False, detail)
        return
    finally:
        running.stop()
    log = "\n".join(running.log.lines)
    if "INFO load balancing on the ipvs plane" not in running.log.lines:
        problems.append(f"the service did not say it runs on IPVS: {log}")
    differ = [p for p in PHASES if snapshots.get(p) != KEEPALIVED_SNAPSHOTS.get(p)]
    detail = "\n".join(
        f"{p}:\n keepalived {json.dumps(KEEPALIVED_SNAPSHOTS.get(p))}\n tandem {json.dumps(snapshots.get(p))}"
        for p in differ
    )
    record("lb_service_verdicts", not differ and bool(KEEPALIVED_SNAPSHOTS), detail or log)
    connections = {(row.virtual_server, row.real_server): row.connections for row in stats.real_servers}
    if not all(connections.values()):
        problems.append(f"the plane counted no connection for some real server: {connections}")
    left_after = table()
    if left_after:
        problems.append(f"left in the table after the service stopped: {left_after}")
    record("lb_service_traffic", not problems, "\n".join(problems))


def reload_one_weight(running: RunningService) -> None:
    """A reload that gives .101's rs1 weight 3: that destination's weight changes, nothing else, and
    no check restarts (a real server's weight is not part of its checks' ids)."""
    head, tail = VERDICTS.split("virtual_server 198.51.100.101 80 {")
    rs1 = "real_server 203.0.113.2 80 {\n"
    tail = tail.replace(rs1, rs1 + "        weight 3\n", 1)
    before = table()
    expected = {service: list(rules) for service, rules in before.items()}
    rules = expected["-t 198.51.100.101:80"]
    rules[rules.index("-r 203.0.113.2:80 -m -w 1")] = "-r 203.0.113.2:80 -m -w 3"
    logged = len(running.log.lines)
    running.path.write_text(f"{head}virtual_server 198.51.100.101 80 {{{tail}\n")
    outcome = running.call(running.service.reload())
    problems = [] if outcome.ok else [f"the reload was refused: {outcome.errors}"]
    try:
        stable(lambda: (t := table()) != before and t, 10, "the reloaded weight")
    except TimeoutError as error:
        problems.append(str(error))
    if table() != expected:
        problems.append(f"after the reload: {json.dumps(table())}, expected {json.dumps(expected)}")
    flapped = [line for line in running.log.lines[logged:] if " real server " in line]
    if flapped or outcome.summary.get("checks started") != ["0"]:
        problems.append(f"checks restarted or real servers changed: {flapped} {outcome.summary}")
    record("lb_service_reload", not problems, "\n".join(problems) or json.dumps(outcome.summary))


def forwarded(vip: str, method: str) -> str:
    """A virtual server without checks (its real servers are up): rr over rs1 and rs2 by ``method``."""
    rs1, rs2 = (HOSTS6 if ":" in vip else HOSTS)["rs1"][1], (HOSTS6 if ":" in vip else HOSTS)["rs2"][1]
    return (
        f"virtual_server {vip} 80 {{\n    protocol TCP\n    lb_algo rr\n    lb_kind {method}\n"
        f"    real_server {rs1.split('/')[0]} 80 {{\n    }}\n"
        f"    real_server {rs2.split('/')[0]} 80 {{\n    }}\n}}"
    )


FORWARDED = "\n".join(
    (
        forwarded(TUN_VIPS["ipip"], "TUN"),
        forwarded(TUN_VIPS["gue"], f"TUN type gue port {GUE_PORT}"),
        forwarded(TUN_VIPS["gre"], "TUN type gre"),
        forwarded(VIP6, "NAT"),
    )
)


def check_forwarded_traffic(servers: dict[str, subprocess.Popen]) -> None:
    """tandem's LbService on TUN services (ipip, gue, gre) and an IPv6 NAT one: the client's HTTP
    requests to each reach both real servers, each real server received every tunnel type, and the
    plane counted connections for every destination."""
    revive(servers)
    if table():
        sh("ipvsadm", "-C")
    before = {name: tunnelled(name) for name in ("rs1", "rs2")}
    running = RunningService("tandem-forwarded", FORWARDED)
    problems: dict[str, list[str]] = {"tun_traffic": [], "ipv6_traffic": []}
    try:
        programmed = table()
        urls = {
            vip: f"http://{'[' + vip + ']' if ':' in vip else vip}/" for vip in (*TUN_VIPS.values(), VIP6)
        }
        seen = fetch_many(*[url for url in urls.values() for _ in range(4)])
        # the kernel adds up its per-CPU counters on its estimator's timer (every 2 s)
        try:
            stats = wait_for(
                lambda: (now := running.stats()) and all(r.connections for r in now.real_servers) and now,
                10,
                "the plane's counters",
            )
        except TimeoutError:
            stats = running.stats()
    finally:
        running.stop()
    for index, vip in enumerate(urls):
        got = seen[4 * index : 4 * index + 4]
        if sorted(set(got)) != ["rs1", "rs2"]:
            rules = programmed.get(f"-t {urls[vip][7:-1]}:80")
            which = "ipv6_traffic" if vip == VIP6 else "tun_traffic"
            problems[which].append(f"{vip}: the client got {got}, not both real servers; its rules {rules}")
    for name in ("rs1", "rs2"):
        after = tunnelled(name)
        arrived = {kind: after[kind] - before[name][kind] for kind in TUN_VIPS}
        if not all(arrived.values()):
            problems["tun_traffic"].append(
                f"{name} received tunnelled packets {arrived}: a tunnel type is missing"
            )
    for row in stats.real_servers:
        if not row.connections:
            which = "ipv6_traffic" if VIP6 in row.virtual_server else "tun_traffic"
            problems[which].append(
                f"the plane counted no connection for {row.real_server} of {row.virtual_server}"
            )
    for name, found in problems.items():
        record(name, not found, "\n".join(found) or f"table {json.dumps(programmed)}")


CPU_SERVERS = 20
CPU_WINDOW = 6.0  # s measured per round, after CPU_WARMUP
CPU_WARMUP = 2.0
CPU_ROUNDS = 3  # per daemon, alternating keepalived / tandem, after one discarded warm-up round each
# (the emulator translates code on first use, and keeps it: a daemon's first round costs it far more)


def cpu_config() -> str:
    """CPU_SERVERS real servers (distinct ports), each TCP_CHECKed every second at rs2's port 80."""
    real = "\n".join(
        f"""    real_server 203.0.113.6 {9000 + i} {{
        TCP_CHECK {{
            connect_port 80
            connect_timeout 2
        }}
    }}"""
        for i in range(CPU_SERVERS)
    )
    return (
        f"virtual_server 198.51.100.102 80 {{\n    protocol TCP\n    lb_algo rr\n    delay_loop 1\n{real}\n}}"
    )


def process_cpu(pid: int | str = "self") -> float:
    """utime + stime of a process (every thread), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_checks_at_rs2() -> None:
    """An nftables counter in rs2 of the connections opened to its port 80: the checks, as they arrive."""
    rules = """table inet tandem_bench {
    chain input {
        type filter hook input priority 0;
        tcp dport 80 tcp flags & (syn | ack) == syn counter
    }
}
"""
    (SCRATCH / "count.nft").write_text(rules)
    netns("rs2", "nft", "-f", str(SCRATCH / "count.nft"))


def checks_at_rs2() -> int:
    listed = netns("rs2", "nft", "list", "chain", "inet", "tandem_bench", "input")
    return int(re.search(r"counter packets (\d+)", listed).group(1))


def cpu_round(process: int | str, settle) -> tuple[float, int]:
    """CPU seconds of ``process`` and checks that reached rs2 in one window, once ``settle`` is true."""
    wait_for(settle, 60, "every real server in the table")
    time.sleep(CPU_WARMUP)
    cpu, checks = process_cpu(process), checks_at_rs2()
    time.sleep(CPU_WINDOW)
    return process_cpu(process) - cpu, checks_at_rs2() - checks


def check_checker_cpu() -> None:
    """CPU per TCP_CHECK: keepalived's checker process vs tandem's LbService (this process: its
    thread runs the service, the main one sleeps), CPU_SERVERS checks a second, CPU_ROUNDS rounds
    each, alternating, the same real server counting the checks it receives."""
    count_checks_at_rs2()

    def all_in() -> bool:
        return sum(r.startswith("-r ") for r in table().get("-t 198.51.100.102:80", [])) == CPU_SERVERS

    per_check: dict[str, list[float]] = {"keepalived": [], "tandem": []}
    checks: dict[str, int] = {"keepalived": 0, "tandem": 0}
    for round_ in range(CPU_ROUNDS + 1):
        if round_ == 1:  # the warm-up round is not counted
            per_check = {k: [] for k in per_check}
            checks = dict.fromkeys(checks, 0)
        keepalived = Keepalived("cpu", cpu_config())
        try:
            cpu, count = cpu_round(keepalived.checker_pid(), all_in)
        finally:
            keepalived.stop()
        per_check["keepalived"].append(cpu / max(count, 1))
        checks["keepalived"] += count
        wait_for(lambda: not table(), 30, "keepalived's table gone")
        running = RunningService("tandem-cpu", cpu_config())
        try:
            cpu, count = cpu_round("self", all_in)
        finally:
            running.stop()
        per_check["tandem"].append(cpu / max(count, 1))
        checks["tandem"] += count
    tandem_ms = statistics.median(per_check["tandem"]) * 1e3
    keepalived_ms = statistics.median(per_check["keepalived"]) * 1e3
    ratio = tandem_ms / keepalived_ms if keepalived_ms else float("inf")
    rounds = {k: [round(v * 1e3, 2) for v in values] for k, values in per_check.items()}
    record(
        "checker_cpu",
        all(checks.values()),
        f"CPU per TCP_CHECK under emulation, median of {CPU_ROUNDS} rounds of {CPU_WINDOW:g} s after a "
        f"warm-up round: tandem "
        f"{tandem_ms:.2f} ms (LbService), keepalived {keepalived_ms:.2f} ms: ratio {ratio:.2f}; "
        f"checks counted at the real server {checks}, per round (ms) {rounds}",
        tandem_ms=tandem_ms,
        keepalived_ms=keepalived_ms,
        ratio=ratio,
        rounds=rounds,
        checks=checks,
        servers=CPU_SERVERS,
        window=CPU_WINDOW,
    )


def main() -> int:
    """The lane's checks; with ``--bench`` also the checker CPU comparison, with ``--bench-only`` only
    that (bench/bench_ipvs_vm.py; a measurement, not a test)."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    sh("ip", "link", "set", "lo", "up")  # IPVS refuses real servers until the namespace has an address
    sh("modprobe", "ip_vs")
    started = time.monotonic()
    STEP_SECONDS["start"] = round(started - LOADED, 1)
    bench_only = "--bench-only" in sys.argv[1:]
    if not bench_only:
        for step in (check_tables, check_tandemd_tables, check_ownership, check_minimal_changes):
            run_step(step)
    servers: dict[str, subprocess.Popen] = {}
    try:
        lab_started = time.monotonic()
        servers = build_traffic_lab()
        STEP_SECONDS["lab"] = round(time.monotonic() - lab_started, 1)
        if not bench_only:
            run_step(check_keepalived_verdicts, servers)
            run_step(check_lb_service, servers)
            run_step(check_forwarded_traffic, servers)
        if bench_only or "--bench" in sys.argv[1:]:
            run_step(check_checker_cpu)
    except Exception:
        record("lab", False, traceback.format_exc())
    finally:
        for server in servers.values():
            server.kill()
    steps = ", ".join(f"{k} {v} s" for k, v in STEP_SECONDS.items())
    RESULTS["_seconds"] = {"verdict": "pass", "detail": f"{time.monotonic() - started:.1f} s: {steps}"}
    print("RESULTS " + json.dumps(RESULTS))
    return 0


def run_step(step, *args) -> None:
    name = step.__name__.removeprefix("check_")
    started = time.monotonic()
    try:
        step(*args)
    except Exception:
        record(name, False, traceback.format_exc())
    STEP_SECONDS[name] = round(time.monotonic() - started, 1)


if __name__ == "__main__":
    sys.exit(main())
