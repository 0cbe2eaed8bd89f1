"""The lab demo (``scripts/demo.sh``): an active-active pair of nginx load balancers with DNS round robin,
deployed with the collection from the example inventory ``playbooks/demo_inventory``, then drilled while
a client sends requests through the name every 20 ms.

The lab: five systemd hosts (podman containers, each in a network namespace of ours on one bridge) —
lb1 and lb2 (nginx + tandemd), web1 and web2 (nginx), ns1 (BIND9) — and a plain ``client`` namespace.
``playbooks/demo_services.yml`` sets up the site's own services, ``playbooks/site.yml`` deploys Tandem
and publishes both VIPs as the A records of www.demo.test. Ansible's output goes to a log file.

Drills, each measured by the client (the longest time a VIP gave no good answer; a request is good when
it is answered 200 within a second): (a) nginx stopped on a balancer — its vrrp_script fails and its VIP
moves to the other balancer, then returns when nginx is back; (b) tandemd's VRRP process killed with
SIGKILL — its supervisor removes the VIP and restarts it, the other balancer takes over after
Master_Down_Interval, the restarted one preempts back; (c) nginx stopped on a web server — its HTTP_GET
check fails and both balancers take it out of the web tier's virtual server while requests keep
succeeding, then put it back. Results go to ``results.json`` (read by
tests/system/test_demo.py), the picture to ``timeline.png``; the lab is always removed at the end.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import yaml

from tandemlab import cleanup, naming
from tandemlab.owners import OwnerSampler
from tandemlab.shell import netns_exec
from tandemlab.topology import Layout

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
INVENTORY = ROOT / "playbooks" / "demo_inventory"
IMAGE = os.environ.get("TANDEM_IMAGE", "localhost/tandem-host:bookworm")
CLIENT = ("client", "198.51.100.100/24")
INTERVAL = 0.02
SLOW_MS = 200.0
# A request is lost when it fails or takes over a second: a SYN that found no VIP is resent after TCP's
# initial RTO of 1 s. Slower than SLOW_MS but under this is counted as slow (a busy machine does that).
LOST_MS = 1000.0
DEFAULT_OUT = Path("/var/tmp/tandem-demo")


def elapsed_line(start: float, text: str) -> None:
    print(f"[{time.monotonic() - start:6.1f} s] {text}", flush=True)


class DemoError(RuntimeError):
    pass


class Site:
    """What the example inventory says: hosts and their addresses, the active-active set."""

    def __init__(self, inventory: Path = INVENTORY) -> None:
        hosts = yaml.safe_load((inventory / "hosts.yml").read_text())["all"]["children"]
        design = yaml.safe_load((inventory / "group_vars" / "all" / "tandem.yml").read_text())
        self.groups = {group: list(body["hosts"]) for group, body in hosts.items()}
        self.addresses: dict[str, str] = {}
        for body in hosts.values():
            for host, host_vars in body["hosts"].items():
                if "tandem_addresses" in host_vars:
                    self.addresses[host] = host_vars["tandem_addresses"]["eth0"][0]
                else:
                    self.addresses[host] = (host_vars.get("web_address") or host_vars["dns_address"]) + "/24"
        (self.set,) = design["tandem_active_active"]
        self.balancers = self.groups["loadbalancers"]
        self.vips = [vip.split("/")[0] for vip in self.set["vips"]]
        # VIP i is mastered by host i mod N (docs/inventory.md); the next one backs it up at top - step.
        self.masters = {vip: self.balancers[i % len(self.balancers)] for i, vip in enumerate(self.vips)}
        self.advert_int = float(self.set["advert_int"])
        self.name = self.set["dns"]["name"]
        self.dns_server = self.set["dns"]["server"]
        (self.tier,) = design["tandem_virtual_servers"]
        # backend host name -> its real server id as tandemctl lb-status shows it
        self.backends = {rs["host"]: f"[{rs['address']}]:{rs['port']}" for rs in self.tier["real_servers"]}

    def master_down_interval(self, backup_priority: int = 140) -> float:
        """RFC 5798: 3 x Master_Adver_Interval + Skew_Time, Skew = (256 - priority) x interval / 256."""
        return 3 * self.advert_int + (256 - backup_priority) * self.advert_int / 256


class Lab:
    """The namespaces and containers of one demo run, and what runs in them."""

    def __init__(self, site: Site, out: Path) -> None:
        self.site = site
        self.out = out
        self.prefix = naming.new_lab_prefix()
        nodes = {host: [address] for host, address in site.addresses.items()}
        nodes[CLIENT[0]] = [CLIENT[1]]
        self.layout = Layout(self.prefix, nodes)
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "CONTAINERS_CONF": str(ROOT / "scripts" / "containers.conf"),
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".venv" / "collections"),
            "ANSIBLE_FORCE_COLOR": "0",
            "NO_COLOR": "1",
            "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        }
        self.log = out / "ansible.log"
        self.processes: list[subprocess.Popen] = []
        self.pids: dict[str, int] = {}

    def container(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def podman(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise DemoError(f"podman {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def exec(self, host: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a command in a host's container: nsenter into its namespaces (a fork, where `podman exec`
        takes a second or more on a loaded machine; drills time their actions from just before)."""
        pid = self.pids.get(host) or self.pids.setdefault(host, self.container_pid(host))
        enter = ["nsenter", f"--target={pid}", "--mount", "--uts", "--ipc", "--net", "--pid", "--"]
        result = subprocess.run([*enter, *argv], capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            raise DemoError(f"{host}: {' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def container_pid(self, host: str) -> int:
        return int(self.podman("inspect", "--format", "{{.State.Pid}}", self.container(host)).stdout)

    def create(self) -> None:
        self.layout.create()
        for host in self.site.addresses:
            self.podman(
                "run", "--detach", "--name", self.container(host), "--hostname", host,
                "--systemd", "always", "--cap-add", "NET_ADMIN,NET_RAW",
                # /proc/sys writable: the role sets net.ipv4.ip_forward for the NAT virtual server (the
                # network sysctls are the lab namespace's own; others need capabilities it has not).
                "--security-opt", "unmask=/proc/sys",
                "--network", f"ns:/run/netns/{self.layout.netns(host)}",
                "--label", f"{cleanup.CONTAINER_LABEL}={self.prefix}", IMAGE,
            )  # fmt: skip
        for host in self.site.addresses:
            state = self.exec(host, "systemctl", "is-system-running", "--wait", check=False).stdout.strip()
            if state not in ("running", "degraded"):
                raise DemoError(f"systemd on {host} is {state or 'not answering'}")

    def write_connections(self) -> Path:
        """The second inventory source: how Ansible reaches each container, the TSIG secret of this run,
        and the controller's Python for the DNS update (run inside the client namespace: the lab's DNS
        server is reachable only from the lab's network)."""
        wrapper = self.out / "lab-python"
        wrapper.write_text(
            "#!/bin/sh\n# The controller's Python; tandem.ha.dns_rrset runs in the lab's client namespace.\n"
            f'case "$1" in */AnsiballZ_dns_rrset.py) exec ip netns exec {self.layout.netns(CLIENT[0])} '
            f'{sys.executable} "$@" ;; esac\nexec {sys.executable} "$@"\n'
        )
        wrapper.chmod(0o755)
        # nsenter into each container's namespaces (its systemd's pid): one fork per command, where a
        # `podman exec` costs a second or more on a loaded machine (and Ansible runs several per task).
        hosts = {
            host: {
                "ansible_connection": "community.docker.nsenter",
                "ansible_nsenter_pid": self.pids.get(host) or self.container_pid(host),
                "ansible_python_interpreter": "/usr/bin/python3",
            }
            for host in self.site.addresses
        }
        hosts["localhost"] = {"ansible_connection": "local", "ansible_python_interpreter": str(wrapper)}
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        path = self.out / "lab-connections.yml"
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": {"demo_tsig_secret": secret}}}))
        return path

    def playbook(self, playbook: str, connections: Path, *extra: str, on_task=None) -> dict:
        """Run a playbook with its output appended to the log; return the recap's totals."""
        argv = [str(BIN / "ansible-playbook"), "-i", str(INVENTORY), "-i", str(connections), playbook, *extra]
        tasks, recap = 0, {"ok": 0, "changed": 0, "failed": 0}
        with self.log.open("a") as log:
            log.write(f"\n$ {' '.join(argv)}\n")
            log.flush()
            process = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for line in process.stdout:
                log.write(line)
                if line.startswith("TASK ["):
                    tasks += 1
                    if on_task:
                        on_task(tasks, line[6:].split("]")[0])
                elif ": ok=" in line:
                    for key in recap:
                        recap[key] += int(line.split(f"{key}=")[1].split()[0])
            code = process.wait()
        if code != 0:
            raise DemoError(f"ansible-playbook {playbook} failed (exit {code})")
        return {"tasks": tasks, **recap}

    def spawn_in(self, netns_host: str, argv: list[str], **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(netns_exec(self.layout.netns(netns_host), argv), **kwargs)
        self.processes.append(process)
        return process

    def client(self, mode: str, *args: str) -> list[str]:
        return [sys.executable, "-m", "tandemlab.demo_client", mode, "--name", self.site.name,
                "--server", self.site.dns_server, *args]  # fmt: skip

    def remove(self) -> list[str]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        cleanup.remove_lab(self.prefix)
        containers, namespaces = cleanup.lab_parts(self.prefix)
        return containers + namespaces


class Balancer(NamedTuple):
    """What tandemlab.owners.OwnerSampler needs of a host."""

    name: str
    netns: str


class OwnerWatch:
    """Which balancers hold each VIP, sampled over netlink in their namespaces every 20 ms."""

    def __init__(self, lab: Lab) -> None:
        hosts = [Balancer(host, lab.layout.netns(host)) for host in lab.site.balancers]
        self.samplers = {vip: OwnerSampler(hosts, vip, interval=0.02) for vip in lab.site.vips}

    def start(self) -> OwnerWatch:
        for sampler in self.samplers.values():
            sampler.start()
        return self

    def current(self, vip: str) -> set[str]:
        return set(self.samplers[vip].owners())

    def wait(self, vip: str, condition, timeout: float) -> float | None:
        """The time the VIP's holders (a set of host names) first met ``condition``; None at the timeout."""
        return self.samplers[vip].wait(lambda owners: condition(set(owners)), timeout)

    @property
    def changes(self) -> list[dict]:
        """Each change of holders: {"t", "vip", "holders"}."""
        return sorted(
            (
                {"t": round(start, 3), "vip": vip, "holders": sorted(owners)}
                for vip, sampler in self.samplers.items()
                for start, _, owners in sampler.timeline().spans()
            ),
            key=lambda change: change["t"],
        )

    def stop(self) -> None:
        for sampler in self.samplers.values():
            sampler.stop()


def read_requests(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [
        record for line in path.read_text().splitlines() if line and "vip" in (record := json.loads(line))
    ]


def interruption(requests: list[dict], vip: str, start: float, end: float) -> dict:
    """What the client saw of ``vip`` between start and end: requests, failed, slow, and the longest time
    from a lost request (failed, or slower than LOST_MS) to the next good one."""
    mine = sorted((r for r in requests if r["vip"] == vip and start <= r["t"] <= end), key=lambda r: r["t"])
    failed = sum(not r["ok"] for r in mine)
    slow = sum(r["ok"] and r["ms"] > SLOW_MS for r in mine)
    longest, bad_since = 0.0, None
    for r in mine:
        bad = not r["ok"] or r["ms"] > LOST_MS
        if bad and bad_since is None:
            bad_since = r["t"]
        elif not bad and bad_since is not None:
            longest, bad_since = max(longest, r["t"] - bad_since), None
    if bad_since is not None:
        longest = max(longest, end - bad_since)
    errors = sorted({r.get("error") for r in mine if not r["ok"]} - {None})
    return {
        "requests": len(mine),
        "failed": failed,
        "slow": slow,
        "interruption_ms": round(longest * 1000),
        "errors": errors,
    }


class Demo:
    def __init__(self, out: Path) -> None:
        self.start = time.monotonic()
        self.started = time.time()
        self.out = out
        self.site = Site()
        self.lab = Lab(self.site, out)
        self.results: dict = {"prefix": self.lab.prefix, "steps": [], "drills": {}}
        self.watch: OwnerWatch | None = None
        self.requests_file = out / "requests.jsonl"
        self.events: list[dict] = []

    def step(self, text: str) -> float:
        elapsed_line(self.start, text)
        return time.monotonic()

    def done(self, name: str, since: float, text: str = "") -> None:
        seconds = time.monotonic() - since
        self.results["steps"].append({"step": name, "seconds": round(seconds, 1)})
        print(f"{'':11}{text + ' ' if text else ''}({seconds:.1f} s)", flush=True)

    def event(self, what: str, **fields) -> None:
        self.events.append({"t": round(time.time(), 3), "event": what, **fields})

    # -- steps -------------------------------------------------------------------------------------
    def image(self) -> None:
        present = subprocess.run(["podman", "image", "exists", IMAGE], env=self.lab.env, check=False)
        since = self.step(
            f"Host image {IMAGE}: "
            + (
                "checking it is up to date"
                if present.returncode == 0
                else "building it (first run only, 2-5 min)"
            )
        )
        process = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "build-image.sh")],
            env=self.lab.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        lines = []
        for line in process.stdout:
            lines.append(line.rstrip())
            if "present" not in line:
                elapsed_line(self.start, "    " + line.rstrip().removeprefix("build-image: "))
        if process.wait() != 0:
            raise DemoError("building the host image failed:\n" + "\n".join(lines[-30:]))
        built = any("built" in line for line in lines)
        self.results["image_built"] = built
        self.done("image", since, "built" if built else "present")

    def container_pid(self, host: str) -> int:
        return int(self.podman("inspect", "--format", "{{.State.Pid}}", self.container(host)).stdout)

    def create(self) -> None:
        hosts = " ".join(self.site.addresses)
        since = self.step(
            f"Lab: systemd hosts {hosts} (podman) and a client, on network namespaces of our own"
        )
        self.lab.create()
        self.done("lab", since, f"prefix {self.lab.prefix}")

    def deploy(self) -> None:
        self.connections = self.lab.write_connections()
        print(f"{'':11}Ansible's output: {self.lab.log}", flush=True)
        since = self.step(
            "The site's own services (playbooks/demo_services.yml): nginx on the web servers and on the "
            "balancers (a proxy to the web tier), BIND9 on ns1"
        )
        recap = self.lab.playbook("playbooks/demo_services.yml", self.connections)
        self.done("services", since, f"{recap['tasks']} tasks, {recap['changed']} changes")
        since = self.step(
            "Tandem (playbooks/site.yml): validate the design, install tandemd offline, deploy its config "
            "(two VRRP instances, the web tier's virtual server), publish the VIPs in DNS"
        )
        recap = self.lab.playbook("playbooks/site.yml", self.connections, "-e", "tandem_hosts=loadbalancers")
        self.done("tandem", since, f"{recap['tasks']} tasks, {recap['changed']} changes")

    def show_state(self, title: str) -> None:
        self.step(title)
        for host in self.site.balancers:
            for command in ("status", "lb-status"):
                shown = self.lab.exec(host, "tandemctl", command, check=False)
                print(f"{'':11}{host}: tandemctl {command}")
                for line in (shown.stdout or shown.stderr).splitlines():
                    print(f"{'':13}{line}")

    def wait_planned(self, timeout: float = 30) -> None:
        for vip, master in self.site.masters.items():
            if self.watch.wait(vip, lambda h, m=master: h == {m}, timeout) is None:
                raise DemoError(
                    f"{vip} is held by {self.watch.current(vip) or 'nobody'}, not by {master} alone"
                )

    def dns_and_spread(self) -> None:
        self.step(f"DNS: {self.site.name} asked from the client")
        answer = subprocess.run(
            netns_exec(self.lab.layout.netns(CLIENT[0]), self.lab.client("resolve")),
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        dns = json.loads(answer.stdout) if answer.returncode == 0 else {"error": answer.stderr.strip()}
        self.results["dns"] = dns
        print(f"{'':11}{self.site.name} A {' '.join(dns.get('addresses', [])) or dns} (TTL {dns.get('ttl')})")
        if sorted(dns.get("addresses", [])) != sorted(self.site.vips):
            raise DemoError(f"the DNS answer {dns} is not the set's VIPs {self.site.vips}")
        self.step(f"Client: a request to each address of {self.site.name} every {INTERVAL * 1000:.0f} ms")
        self.lab.spawn_in(
            CLIENT[0],
            self.lab.client("run", "--interval", str(INTERVAL), "--out", str(self.requests_file)),
            stdout=subprocess.DEVNULL, stderr=(self.out / "client.err").open("w"),
        )  # fmt: skip
        time.sleep(3)
        since = time.time() - 2
        recent = [r for r in read_requests(self.requests_file) if r["t"] >= since]
        spread: dict[str, int] = {}
        for r in recent:
            key = f"{r['vip']} -> {r['balancer']} -> {r['backend']}" if r["ok"] else f"{r['vip']} failed"
            spread[key] = spread.get(key, 0) + 1
        self.results["spread"] = spread
        print(f"{'':11}{len(recent)} requests in 2 s (VIP -> balancer -> backend):")
        for key, count in sorted(spread.items()):
            print(f"{'':13}{key:<40} {count:4}")

    def act(self, host: str, event: str, *argv: str) -> float:
        """Record ``event`` on ``host`` and run ``argv`` there; return the time just before."""
        t0 = time.time()
        self.event(event, host=host)
        self.lab.exec(host, *argv)
        return t0

    def until(self, vip: str, condition, since: float, timeout: float, what: str) -> float | None:
        """Wait until the VIP's holders meet ``condition``; print and return the seconds since ``since``."""
        at = self.watch.wait(vip, condition, timeout)
        after = round(at - since, 2) if at else None
        print(
            f"{'':11}{what} after " + (f"{after:.2f} s" if at else f"nothing ({timeout:.0f} s)"), flush=True
        )
        return after

    def drill_nginx(self) -> None:
        vip = self.site.vips[0]
        owner = self.site.masters[vip]
        other = next(h for h in self.site.balancers if h != owner)
        self.step(
            f"Drill a: nginx stopped on {owner} (master of {vip}); its vrrp_script fails, the VIP must move"
        )
        t0 = self.act(owner, "nginx stopped", "systemctl", "stop", "nginx.service")
        moved = self.until(vip, lambda h: h == {other}, t0, 20, f"{vip}: {owner} -> {other}")
        time.sleep(1)
        t1 = self.act(owner, "nginx started", "systemctl", "start", "nginx.service")
        back = self.until(vip, lambda h: h == {owner}, t1, 20, f"nginx back: {vip} returns to {owner}")
        time.sleep(1)
        seen = interruption(read_requests(self.requests_file), vip, t0, time.time())
        self.results["drills"]["nginx_stop"] = {
            "vip": vip, "from": owner, "to": other, "window": [t0, time.time()],
            "moved": moved is not None, "moved_after_s": moved,
            "returned": back is not None, "returned_after_s": back,
            **seen,
        }  # fmt: skip
        self.report_seen(vip, seen)

    def vrrp_process(self, host: str) -> dict:
        """tandemd's VRRP child on ``host``, as its supervisor reports it (tandemctl processes)."""
        shown = self.lab.exec(host, "tandemctl", "--json", "processes")
        return next(child for child in json.loads(shown.stdout) if child["role"] == "vrrp")

    def drill_kill(self) -> None:
        vip = self.site.vips[1 % len(self.site.vips)]
        owner = self.site.masters[vip]
        other = next(h for h in self.site.balancers if h != owner)
        mdi = self.site.master_down_interval()
        before = self.vrrp_process(owner)
        self.step(
            f"Drill b: tandemd's VRRP process killed with SIGKILL on {owner} (pid {before['pid']}, master of "
            f"{vip}): no goodbye advert, {other} must take over after Master_Down_Interval ({mdi:.2f} s)"
        )
        t0 = self.act(owner, "tandemd VRRP killed", "kill", "-KILL", str(before["pid"]))
        taken = self.until(vip, lambda h: other in h, t0, 20, f"{other} holds {vip}")
        alone = self.until(
            vip, lambda h: h == {other}, t0, 20, f"{owner}'s supervisor has removed it: {other} alone"
        )
        back = self.until(vip, lambda h: h == {owner}, t0, 30, f"{vip} is back on {owner}")
        after = self.vrrp_process(owner)
        print(
            f"{'':11}{owner}'s supervisor restarted the VRRP process: pid {after['pid']}, "
            f"{after['restarts']} restart(s), last exit: {after['last_exit']}"
        )
        time.sleep(1)
        seen = interruption(read_requests(self.requests_file), vip, t0, time.time())
        self.results["drills"]["tandemd_kill"] = {
            "vip": vip, "from": owner, "to": other, "window": [t0, time.time()],
            "master_down_interval_s": round(mdi, 3), "killed_pid": before["pid"],
            "restarted_pid": after["pid"], "restarts": after["restarts"] - before["restarts"],
            "taken_over": taken is not None, "takeover_after_s": taken, "sole_owner_after_s": alone,
            "returned": back is not None, "returned_after_s": back,
            **seen,
        }  # fmt: skip
        self.report_seen(vip, seen)

    def rotation(self, host: str) -> dict[str, str]:
        """Backend host -> UP or DOWN in the web tier, as ``host``'s load balancer has it."""
        shown = json.loads(self.lab.exec(host, "tandemctl", "--json", "lb-status").stdout)
        states = {rs["id"]: rs["state"] for vs in shown["virtual_servers"] for rs in vs["real_servers"]}
        return {backend: states.get(rs_id, "?") for backend, rs_id in self.site.backends.items()}

    def until_rotation(
        self, backend: str, state: str, since: float, timeout: float
    ) -> dict[str, float | None]:
        """Seconds until each balancer has ``backend`` in ``state``; None for one that never did."""
        waiting, seen = set(self.site.balancers), {}
        deadline = time.time() + timeout
        while waiting and time.time() < deadline:
            for host in sorted(waiting):
                if self.rotation(host)[backend] == state:
                    seen[host] = round(time.time() - since, 2)
                    waiting.discard(host)
            time.sleep(0.1)
        for host in self.site.balancers:
            print(
                f"{'':11}{host}: {backend} {state} after "
                + (f"{seen[host]:.2f} s" if host in seen else "never")
            )
        return {host: seen.get(host) for host in self.site.balancers}

    def drill_backend(self) -> None:
        backend = sorted(self.site.backends)[0]
        self.step(
            f"Drill c: nginx stopped on {backend}; its HTTP_GET check fails, both balancers take it out of "
            "the web tier, requests keep succeeding"
        )
        t0 = self.act(backend, "nginx stopped", "systemctl", "stop", "nginx.service")
        out = self.until_rotation(backend, "DOWN", t0, 15)
        time.sleep(2)
        t1 = self.act(backend, "nginx started", "systemctl", "start", "nginx.service")
        back = self.until_rotation(backend, "UP", t1, 15)
        time.sleep(1)
        end = time.time()
        requests = read_requests(self.requests_file)
        seen = {vip: interruption(requests, vip, t0, end) for vip in self.site.vips}
        left = max((v for v in out.values() if v is not None), default=None)
        gone = t0 + left + 0.2 if left is not None else end  # both balancers have it out
        failed_while_out = sum(not r["ok"] for r in requests if gone <= r["t"] <= t1)
        answered_while_out = sum(
            r["ok"] and r["backend"] == backend
            for r in requests
            if left is not None and t0 + left + 0.2 <= r["t"] <= t1
        )
        self.results["drills"]["backend_stop"] = {
            "backend": backend, "window": [t0, end],
            "out_after_s": out, "back_after_s": back,
            "answered_by_it_while_out": answered_while_out, "failed_while_out": failed_while_out,
            "requests": sum(v["requests"] for v in seen.values()),
            "failed": sum(v["failed"] for v in seen.values()),
            "slow": sum(v["slow"] for v in seen.values()),
            "interruption_ms": max(v["interruption_ms"] for v in seen.values()),
            "errors": sorted({e for v in seen.values() for e in v["errors"]}),
        }  # fmt: skip
        self.report_seen("both VIPs", self.results["drills"]["backend_stop"])

    @staticmethod
    def report_seen(vip: str, seen: dict) -> None:
        print(
            f"{'':11}client: {seen['requests']} requests to {vip}, {seen['failed']} failed, "
            f"{seen['slow']} slow "
            f"(> {SLOW_MS:.0f} ms); longest interruption {seen['interruption_ms']} ms"
            + (f" ({', '.join(seen['errors'])})" if seen["errors"] else "")
        )

    def run(self) -> int:
        print("Tandem demo: two nginx load balancers, active-active with DNS round robin, drilled live.")
        code = 0
        try:
            self.image()
            self.create()
            self.deploy()
            self.watch = OwnerWatch(self.lab).start()
            self.wait_planned()
            self.show_state("State of both balancers (tandemctl status)")
            self.dns_and_spread()
            self.drill_nginx()
            self.drill_kill()
            self.drill_backend()
        except (DemoError, subprocess.SubprocessError, OSError) as error:
            code = 1
            print(f"\ndemo: {error}", file=sys.stderr)
            if self.lab.log.exists():
                print(f"--- last lines of {self.lab.log} ---", file=sys.stderr)
                print("\n".join(self.lab.log.read_text().splitlines()[-40:]), file=sys.stderr)
        finally:
            if self.watch:
                self.watch.stop()
            since = self.step("Removing the lab (containers, namespaces, processes)")
            left = self.lab.remove()
            self.results["left_behind"] = left
            self.done("remove", since, "nothing left" if not left else f"left behind: {left}")
            self.finish(code)
        return code

    def finish(self, code: int) -> None:
        self.results.update(
            ok=code == 0,
            owners=self.watch.changes if self.watch else [],
            events=self.events,
        )
        requests = read_requests(self.requests_file)
        picture = self.out / "timeline.png"
        if requests:
            since = self.step("Drawing the timeline")
            from tandemlab.demo_timeline import draw

            self.results["timeline"] = str(draw(self.results, requests, picture))
            self.done("timeline", since, str(picture))
        self.results["wall_time_s"] = round(time.monotonic() - self.start, 1)
        results = self.out / "results.json"
        results.write_text(json.dumps(self.results, indent=2) + "\n")
        self.summary()
        print(f"{'':2}Timeline: {picture if requests else '(no client requests, no picture)'}")
        print(f"{'':2}Results:  {results}    Ansible's log: {self.lab.log}")
        left = self.results.get("left_behind")
        print(
            f"{'':2}The lab is removed ({'LEFT BEHIND: ' + ', '.join(left) if left else 'nothing left'}). "
            "After an interrupted run, `.venv/bin/python -m tandemlab cleanup` removes what it left; running "
            "`bash scripts/demo.sh` again is safe (it cleans up first, reuses the image, builds a new lab)."
        )

    def summary(self) -> None:
        drills = self.results["drills"]
        print(f"\nSummary ({self.results['wall_time_s']:.0f} s)")
        if "nginx_stop" in drills:
            d = drills["nginx_stop"]
            print(
                f"{'':2}a. nginx stopped on {d['from']}: {d['vip']} moved to {d['to']} after "
                f"{d['moved_after_s']} s "
                f"(vrrp_script fall + Master_Down_Interval), back {d['returned_after_s']} s after nginx; "
                f"the client lost {d['failed']} of {d['requests']} requests, "
                f"{d['interruption_ms']} ms without an answer"
            )
        if "tandemd_kill" in drills:
            d = drills["tandemd_kill"]
            print(
                f"{'':2}b. tandemd's VRRP process SIGKILLed on {d['from']}: {d['to']} took {d['vip']} after "
                f"{d['takeover_after_s']} s "
                f"(Master_Down_Interval {d['master_down_interval_s']} s after the last advert), back "
                f"{d['returned_after_s']} s after the kill; the client lost {d['failed']} of {d['requests']} "
                f"requests, {d['interruption_ms']} ms without an answer"
            )
        if "backend_stop" in drills:
            d = drills["backend_stop"]
            out = max((v for v in d["out_after_s"].values() if v is not None), default=None)
            back = max((v for v in d["back_after_s"].values() if v is not None), default=None)
            print(
                f"{'':2}c. nginx stopped on {d['backend']}: out of the web tier on both balancers after "
                f"{out} s "
                f"(HTTP_GET), back {back} s after it started; the client lost {d['failed']} of "
                f"{d['requests']} requests, {d['interruption_ms']} ms without an answer"
            )
        if not drills:
            print(f"{'':2}no drill ran")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tandemlab.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"results, log, picture (default {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in ("ansible.log", "requests.jsonl", "results.json", "timeline.png", "client.err"):
        with contextlib.suppress(FileNotFoundError):
            (args.out / stale).unlink()
    # SIGTERM and SIGHUP end the demo as Ctrl-C does: through run()'s clean-up.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupted)
    return Demo(args.out).run()


def _interrupted(signum, _frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


if __name__ == "__main__":
    sys.exit(main())
