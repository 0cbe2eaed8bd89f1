"""The driver's one timer queue: every instance's timer runs, even when another one's fails."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tandem.vrrp.driver import Driver, Unit
from tandem.vrrp.instance import Instance, State
from vrrp_helpers import ME, V3


class Failing(Instance):
    __slots__ = ()

    def timer(self, now: float):
        raise RuntimeError("a timer that fails")


def test_a_failing_timer_does_not_stop_the_others():
    async def run() -> list[State]:
        loop = asyncio.get_running_loop()
        errors: list[dict] = []
        loop.set_exception_handler(lambda _, context: errors.append(context))
        driver = Driver()
        driver.open()
        try:
            # no I/O: instances without a channel (their adverts are counted as not sent)
            units = [
                Unit(cls(replace(V3, name=f"VI_{n}", vrid=n), ME))
                for n, cls in enumerate((Failing, Instance, Instance))
            ]
            for unit in units:
                driver.units[unit.instance.params.name] = unit
                driver.act(unit.instance.params.name, lambda instance, now: instance.start(now))
            await asyncio.sleep(3 * units[0].instance.master_down_interval)
            assert [e["exception"].args for e in errors] == [("a timer that fails",)]
            return [unit.instance.state for unit in units]
        finally:
            driver.close()

    # the failing one stays BACKUP; the others' Master_Down timers still ran and made them MASTER
    assert asyncio.run(run()) == [State.BACKUP, State.MASTER, State.MASTER]
