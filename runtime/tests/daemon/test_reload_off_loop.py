"""A reload reads, checks and prepares the new config in a worker thread (one mechanism,
tandem.daemon.configfile.load_off_loop, for both children): the VRRP loop keeps sending adverts and the
checker's loop keeps running checks however long that takes (the first reload's imports cost ~200 ms
of a loaded machine, a 5,000-real-server config ~1 s to parse). Each service runs its reload inside
the hook it was given (the child's scheduling: tandem.daemon.child)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from types import SimpleNamespace

import pytest
from tandem.config import load_config_text
from tandem.control.protocol import ReloadOutcome
from tandem.daemon import configfile, service
from tandem.lb.service import LbService
from tandem.systemd import SystemdNotifier

CONFIG = """
virtual_server 203.0.113.100 80 {
  delay_loop 2
  real_server 198.51.100.1 80 {
    TCP_CHECK { }
  }
}
"""


def ticking_while(reload):
    """``reload()``'s outcome, the ticks a 10 ms ticker made meanwhile, and the threads it read in."""
    threads = []

    def slow(source):
        threads.append(threading.current_thread())
        time.sleep(0.3)  # stands for parsing, checking and importing
        return ReloadOutcome(False, ("stands for a refusal",))

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        outcome = await reload()
        task.cancel()
        return outcome, ticks

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(configfile, "load_for_reload", slow)
        outcome, ticks = asyncio.run(main())
    return outcome, ticks, threads


class Hook:
    """An around_reload hook that records when it is entered and left."""

    def __init__(self):
        self.calls = []

    @contextlib.contextmanager
    def __call__(self):
        self.calls.append("before")
        yield
        self.calls.append("after")


def test_the_vrrp_child_reads_the_new_config_off_its_loop():
    fake = SimpleNamespace(source="keepalived.conf", config=None)
    outcome, ticks, threads = ticking_while(lambda: service.Service._reload(fake))
    assert outcome == ReloadOutcome(False, ("stands for a refusal",))
    assert ticks >= 3 and threads[0] is not threading.main_thread()  # on the loop: 0 ticks


def test_the_checker_child_reads_the_new_config_off_its_loop_inside_its_hook(tmp_path):
    config = load_config_text(CONFIG, str(tmp_path / "keepalived.conf")).config
    hook = Hook()
    lb = LbService("keepalived.conf", config, around_reload=hook)
    outcome, ticks, threads = ticking_while(lb.reload)
    assert outcome == ReloadOutcome(False, ("stands for a refusal",))
    assert ticks >= 3 and threads[0] is not threading.main_thread()
    assert hook.calls == ["before", "after"]


def test_the_vrrp_service_reloads_inside_its_hook(tmp_path):
    config = load_config_text(CONFIG, str(tmp_path / "keepalived.conf")).config
    hook = Hook()
    vrrp = service.Service("keepalived.conf", config, SystemdNotifier(None), around_reload=hook)
    outcome, _, _ = ticking_while(vrrp.reload)
    assert not outcome.ok and hook.calls == ["before", "after"]
