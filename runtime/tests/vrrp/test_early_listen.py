"""The early listener (tandem.vrrp.early): what a starting VRRP process hears before its instances exist.

A keepalived master on h1 advertises every 0.1 s; on h2 a script opens the listener, waits while adverts
arrive, then runs a Driver with it (as the VRRP child does) and reports what its one instance saw.
"""

from __future__ import annotations

import json
import sys

import pytest
from tandemlab.polling import wait_for
from tandemlab.vrrp_config import vip, vrrp_config
from vrrp_lab import start

pytestmark = [pytest.mark.lab]

SCRIPT = """
import asyncio, json, sys, time
from tandem.vrrp.early import EarlyListener

early = EarlyListener.open()
time.sleep(float(sys.argv[2]))  # the master's adverts arrive meanwhile, before any VRRP socket exists

from tandem.config import load_config
from tandem.vrrp.driver import Driver
from tandem.vrrp.params import params_from_config

async def main():
    config = load_config(sys.argv[1]).config
    driver = Driver(early=early)
    driver.open()
    for block in config.vrrp_instances:
        await driver.add(params_from_config(config, block))
    (unit,) = driver.units.values()
    instance = unit.instance
    report = {"covered": unit.channel.heard_since == early.since, "mdi": instance.master_down_interval}
    driver.start(instance.params.name)
    report["down_after_listening"] = instance.master_down_at - early.since
    driver.replay_early()
    report["heard"] = instance.counters.adverts_received
    report["closed"] = not early.socks and driver.early is None
    await asyncio.sleep(1.0)
    report["state"] = instance.state.value
    print(json.dumps(report))
    driver.close()

asyncio.run(main())
"""


def _run(lab, tmp_path, master_priority: int, priority: int, wait: float) -> dict:
    h1, h2 = lab.hosts
    master_config = vrrp_config(h1, version=3, advert=0.1, priority=master_priority)
    master = start("keepalived", h1, master_config, tmp_path)
    try:
        assert wait_for(lambda: h1.has_address(vip(1)), 10)
        conf = tmp_path / "h2.conf"
        conf.write_text(vrrp_config(h2, version=3, advert=0.1, priority=priority))
        out = tmp_path / "h2.json"
        with out.open("w") as stdout:
            assert h2.spawn([sys.executable, "-c", SCRIPT, str(conf), str(wait)], stdout=stdout).wait(30) == 0
    finally:
        master.stop()
    return json.loads(out.read_text())


def test_adverts_heard_before_the_instances_existed_count(make_lab, tmp_path):
    report = _run(make_lab(2), tmp_path, master_priority=200, priority=100, wait=0.35)
    assert report["covered"]
    # Master_Down_Interval counted from when listening began, then moved on by the adverts fed to it
    assert report["down_after_listening"] == pytest.approx(report["mdi"])
    assert report["heard"] >= 2  # ~3 adverts in 0.35 s, none of them read from a VRRP socket
    assert report["closed"]
    assert report["state"] == "BACKUP"  # the better master was heard all along


def test_a_restarted_better_node_preempts_master_down_interval_after_listening_began(make_lab, tmp_path):
    report = _run(make_lab(2), tmp_path, master_priority=50, priority=200, wait=0.05)
    assert report["covered"]
    # the lower-priority master's adverts (fed to it too) do not hold a preempting backup back
    assert report["down_after_listening"] == pytest.approx(report["mdi"])
    assert report["state"] == "MASTER"
