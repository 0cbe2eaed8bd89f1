"""The README's first command, run as the README says: `bash scripts/demo.sh` builds the lab (two nginx +
tandemd load balancers, two web servers behind a virtual server, a BIND9 server, a client), deploys it
with the collection's playbooks from the example inventory, drills failovers while the client sends
requests every 20 ms, and removes everything. The drills' outcomes are read from the demo's own results
file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tandemlab import cleanup

ROOT = Path(__file__).resolve().parents[2]
VIPS = ["198.51.100.50", "198.51.100.51"]
# The first run on a machine builds the host image (2-5 minutes when the machine is busy).
TIMEOUT = 1200

pytestmark = [pytest.mark.slow, pytest.mark.molecule, pytest.mark.lab]


def _nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False).stdout


def _processes_naming(prefix: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if prefix in text:
            found.append(text)
    return found


@pytest.mark.timeout(TIMEOUT)
def test_demo_deploys_drills_and_cleans_up(tmp_path):
    tables_before = _nft_tables()
    demo = subprocess.Popen(
        ["bash", "scripts/demo.sh", "--out", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        out = demo.communicate(timeout=TIMEOUT - 60)[0]
    except BaseException:
        demo.terminate()  # the demo removes its lab on SIGTERM
        demo.communicate(timeout=60)
        raise
    assert demo.returncode == 0, out[-8000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["ok"], out[-8000:]

    # Both VIPs are the name's A records, and the client's requests reach both balancers and both backends.
    assert results["dns"]["addresses"] == VIPS
    answered = [key.split(" -> ") for key in results["spread"] if not key.endswith("failed")]
    assert {hops[0] for hops in answered} == set(VIPS)
    assert {hops[1] for hops in answered} == {"lb1", "lb2"}
    assert {hops[2] for hops in answered} == {"web1", "web2"}

    # a. nginx stopped on lb1: the vrrp_script (interval 1 s, fall 2) fails, lb1's priority drops below
    # lb2's, lb2 takes the VIP after Master_Down_Interval (1.73 s); the client's requests to that VIP fail
    # meanwhile (nothing listens on lb1), and only meanwhile. nginx back: the VIP returns to lb1.
    a = results["drills"]["nginx_stop"]
    assert (a["from"], a["to"], a["moved"], a["returned"]) == ("lb1", "lb2", True, True), a
    assert a["failed"] > 0, a
    assert a["interruption_ms"] <= (a["moved_after_s"] + 1.0) * 1000, a
    assert a["moved_after_s"] < 2 + 1 + 1.73 + 1.5, a

    # b. tandemd's VRRP process SIGKILLed on lb2: no priority-0 advert; its supervisor removes the VIP and
    # restarts it. lb1 takes over once Master_Down_Interval has passed since lb2's last advert (0 to 0.5 s
    # before the kill); the client's requests to that VIP go unanswered until then. The restarted process
    # (a new pid, one restart counted) preempts back.
    b = results["drills"]["tandemd_kill"]
    mdi = b["master_down_interval_s"]
    assert (b["from"], b["to"], b["taken_over"], b["returned"]) == ("lb2", "lb1", True, True), b
    assert b["sole_owner_after_s"] is not None, b  # the supervisor removed the dead child's VIP
    assert b["restarts"] == 1 and b["restarted_pid"] != b["killed_pid"], b
    assert mdi - 0.5 - 0.1 <= b["takeover_after_s"] <= mdi + 1.0, b
    assert b["interruption_ms"] <= (b["takeover_after_s"] + 2.0) * 1000, b

    # c. nginx stopped on web1: its HTTP_GET check (every 1 s, one retry 0.5 s later) fails and both
    # balancers take it out of the web tier's virtual server; it answers nothing while out, and no request
    # fails once it is out; before, the balancers' nginx retries a refused connection up to 8 times (each
    # balanced afresh over web1 and web2), so hardly any fails. Back when nginx is.
    c = results["drills"]["backend_stop"]
    assert c["backend"] == "web1", c
    assert all(after is not None and after < 1 + 0.5 + 1 + 2 for after in c["out_after_s"].values()), c
    assert all(after is not None for after in c["back_after_s"].values()), c
    assert c["answered_by_it_while_out"] == 0, c
    assert c["requests"] > 100 and c["failed_while_out"] == 0 and c["failed"] <= c["requests"] // 100, c

    # The picture, and nothing left: containers, namespaces, processes, nftables tables of the host.
    assert Path(results["timeline"]).stat().st_size > 10_000
    assert results["left_behind"] == []
    assert cleanup.lab_parts(results["prefix"]) == ([], [])
    assert _processes_naming(results["prefix"] + "-") == []
    assert _nft_tables() == tables_before
