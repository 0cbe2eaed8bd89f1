"""A reload reads, checks and plans the new config in a worker thread: the VRRP loop keeps running (its
adverts go on) however long that takes (the first reload's imports cost ~200 ms of a loaded machine)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from tandem.control.protocol import ReloadOutcome
from tandem.daemon import service


def test_reading_the_new_config_does_not_hold_the_loop(monkeypatch):
    def slow_refusal(source):
        time.sleep(0.3)  # stands for parsing, checking and importing
        return ReloadOutcome(False, ())

    monkeypatch.setattr(service, "load_for_reload", slow_refusal)
    fake = SimpleNamespace(source="keepalived.conf", config=None)

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        outcome = await service.Service._reload(fake)
        task.cancel()
        return outcome, ticks

    outcome, ticks = asyncio.run(main())
    assert outcome == ReloadOutcome(False, ()) and ticks >= 3  # on the loop it would be 0
