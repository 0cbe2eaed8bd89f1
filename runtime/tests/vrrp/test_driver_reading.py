"""How the driver reads a busy channel: polled in batches, each packet at its kernel arrival time.

A real tandemd master on h1 advertises 20 instances every 0.1 s; on h2 a Driver runs the same 20 as
backups in-process (a script in h2's namespace) and reports what it saw as JSON.
"""

from __future__ import annotations

import json
import sys

import pytest
from tandemlab.polling import wait_for
from tandemlab.vrrp_config import vip, vrrp_config
from vrrp_lab import start

pytestmark = [pytest.mark.lab, pytest.mark.slow]

INSTANCES = 20
STALL = 0.6  # s of a blocked event loop: longer than Master_Down_Interval (0.361 s)

BACKUP_SCRIPT = """
import asyncio, json, sys, time
from pathlib import Path
from tandem.config import load_config
from tandem.vrrp.driver import Driver
from tandem.vrrp.params import params_from_config

config_path, stall, marker = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])

async def main():
    loop = asyncio.get_running_loop()
    config = load_config(config_path).config
    driver = Driver()
    driver.open()
    for block in config.vrrp_instances:
        await driver.add(params_from_config(config, block))
    for name in driver.units:
        driver.act(name, lambda instance, now: instance.start(now))
    units = list(driver.units.values())
    channel = units[0].channel  # white box: is the channel being polled?
    polled = False
    for _ in range(150):  # 7 ms steps: out of phase with the master's 0.1 s rhythm
        await asyncio.sleep(0.007)
        polled = polled or channel.poll is not None
    time.sleep(stall)  # the event loop is blocked: adverts queue up, every Master_Down deadline passes
    stall_end = loop.time()
    # white box: the Master_Down wake-up runs before the channel's next read (as when a deadline falls
    # between two polls); the adverts waiting unread must count
    driver._timers.wake()
    report = {
        "polled": polled,
        "states_after_stall": sorted({u.instance.state.value for u in units}),
        # when each backup last heard its master, as its Master_Down deadline counts it
        "heard_during_stall": sum(
            u.instance.master_down_at - u.instance.master_down_interval < stall_end
            for u in units
            if u.instance.master_down_at is not None
        ),
    }
    marker.write_text("kill the master now")
    for _ in range(40):
        await asyncio.sleep(0.05)
        if all(u.instance.state.value == "MASTER" for u in units):
            break
    report["states_after_kill"] = sorted({u.instance.state.value for u in units})
    await asyncio.sleep(0.3)  # nothing arrives any more (our own adverts are not looped back)
    report["polled_when_quiet"] = channel.poll is not None
    print(json.dumps(report))
    driver.close()

asyncio.run(main())
"""


def config(host, priority: int) -> str:
    return vrrp_config(host, version=3, advert=0.1, priority=priority, instances=INSTANCES)


def test_busy_channel_is_polled_at_arrival_times_and_never_taken_over_under_unread_adverts(
    make_lab, tmp_path
):
    lab = make_lab(2)
    h1, h2 = lab.hosts
    master = start("tandemd", h1, config(h1, priority=200), tmp_path)
    try:
        assert wait_for(lambda: all(h1.has_address(vip(v)) for v in range(1, INSTANCES + 1)), 10)
        backup_conf = tmp_path / "h2.conf"
        backup_conf.write_text(config(h2, priority=100))
        marker = tmp_path / "kill-now"
        out = tmp_path / "h2.json"
        with out.open("w") as stdout:
            argv = [sys.executable, "-c", BACKUP_SCRIPT, str(backup_conf), str(STALL), str(marker)]
            backup = h2.spawn(argv, stdout=stdout)
            assert wait_for(marker.exists, 20)
            master.kill()
            assert backup.wait(20) == 0
    finally:
        master.stop()
    report = json.loads(out.read_text())
    # 200 adverts a second keep the channel busy: it is polled rather than read per packet
    assert report["polled"]
    # the stall left adverts unread past every deadline: they are read before a takeover is decided
    assert report["states_after_stall"] == ["BACKUP"]
    # and counted from when they arrived, not from when they were read
    assert report["heard_during_stall"] == INSTANCES
    # the master is gone: every backup takes over, and the quiet channel is read per packet again
    assert report["states_after_kill"] == ["MASTER"]
    assert not report["polled_when_quiet"]
