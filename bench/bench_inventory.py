"""Inventory validation + planning on a large generated inventory: 1,000 VIPs over 50 hosts.

25 pairs of hosts, each pair on its own IPv6 /64: an active-active set of 36 VIPs (VRIDs 1-36, reused on
every segment, so the VRID-collision rule compares many same-VRID instances) with a DNS name, and a
unicast group of 4 VIPs with a track script. Measured twice: the planner alone (``plan_inventory``), and a
whole ``ansible-playbook`` run of ``tandem.ha.vrrp_plan`` on the same inventory (Ansible start-up, hostvars
templating and result handling included). keepalived has no inventory-wide validation to compare with.
Goal: under 2 s. Run: ``python -m bench.bench_inventory`` (or ``python -m bench inventory``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from tandem.inventory import plan_inventory

ROOT = Path(__file__).resolve().parents[1]
PAIRS = 25
AA_VIPS = 36
GROUP_VIPS = 4
ROUNDS = 5
PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - tandem.ha.vrrp_plan:
      run_once: true
"""


def generate() -> tuple[list, list, dict]:
    groups, sets, hosts = [], [], {}
    for pair in range(PAIRS):
        net = f"2001:db8:0:{pair:x}"
        names = [f"h{2 * pair:02d}", f"h{2 * pair + 1:02d}"]
        for n, name in enumerate(names, start=1):
            hosts[name] = {"tandem_interface": "eth0", "tandem_addresses": {"eth0": [f"{net}::{n}/64"]}}
        sets.append(
            {
                "name": f"aa{pair}",
                "hosts": names,
                "vrid_base": 1,
                "vips": [f"{net}::{0x100 + i:x}/64" for i in range(AA_VIPS)],
                "dns": {"name": f"pair{pair}.example.com", "zone": "example.com"},
            }
        )
        groups.append(
            {
                "name": f"g{pair}",
                "vrid": 200,
                "vips": [f"{net}::{0x200 + i:x}/64" for i in range(GROUP_VIPS)],
                "members": names,
                "unicast": True,
                "track_scripts": [{"name": "chk_app", "script": "pidof app", "weight": -20}],
            }
        )
    return groups, sets, hosts


def _time_planner(groups: list, sets: list, hosts: dict) -> tuple[float, int]:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        plan = plan_inventory(groups, sets, hosts)
        times.append(time.perf_counter() - start)
    if plan.errors:
        raise RuntimeError(f"generated inventory is invalid: {[str(f) for f in plan.errors[:3]]}")
    return statistics.median(times), len(plan.instances)


def _time_playbook(groups: list, sets: list, hosts: dict) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        inventory = {
            "all": {"hosts": hosts, "vars": {"tandem_vrrp_groups": groups, "tandem_active_active": sets}}
        }
        (site / "hosts.yml").write_text(yaml.safe_dump(inventory))
        (site / "plan.yml").write_text(PLAYBOOK)
        command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "hosts.yml", "plan.yml"]
        env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_CONNECTION": "local"}
        start = time.perf_counter()
        done = subprocess.run(command, cwd=site, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"ansible-playbook failed: {done.stdout[-2000:]}")
    return elapsed


def run() -> str:
    groups, sets, hosts = generate()
    seconds, instances = _time_planner(groups, sets, hosts)
    playbook = _time_playbook(groups, sets, hosts)
    vips = PAIRS * (AA_VIPS + GROUP_VIPS)
    return (
        "## Inventory validation + plan\n\n"
        f"{vips} VIPs over {len(hosts)} hosts ({instances} VRRP instances, {PAIRS} DNS names), "
        f"planner median of {ROUNDS}.\n\n"
        "| what | time | goal |\n| --- | --- | --- |\n"
        f"| `tandem.inventory.plan_inventory` (schema, rules, plan) | {seconds:.3f} s | < 2 s |\n"
        f"| `ansible-playbook` running `tandem.ha.vrrp_plan` (whole process) | {playbook:.2f} s | |\n"
    )


if __name__ == "__main__":
    sys.stdout.write(run())
