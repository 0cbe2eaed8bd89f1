"""Load balancer failover: from a real server's death to the nftables change being live, through LbService.

A load-balancing lab (tandemlab.lblab: client, lb, three nginx real servers). Inside the lb, a worker
runs :class:`tandem.lb.service.LbService` as tandemd does (real HTTP_GET runners, the nftables plane,
delay_loop 0.2 s, retry 1, delay_before_retry 0.1 s, connect_timeout 0.5 s), with two stamps on
time.monotonic() (one clock for every namespace): when the Balancer decided a real server is down
(the deciding check result was fed) and when the plane's transaction returned (the change is live:
libnftables commits synchronously). The harness stamps when it sends one nginx SIGTERM (then
waits for its exit).

- kill → decided: detection, bounded by keepalived's delay_loop × (retry + 1) + connect_timeout
  (0.9 s here; a killed nginx refuses at once, so the bound's connect_timeout is not spent);
- decided → live: the driver's own cost (the change waits for the end of the loop iteration, then
  one transaction), with and without a 1,000-real-server service (no checkers) in the same table.

Run: ``python -m bench lb_failover``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

from tandemlab.lblab import VIP, VIP2, LbLab
from tandemlab.polling import wait_for

from bench.harness import spread, table

ROUNDS = 10
BIG = 1000


def config(servers: list[str], big: bool) -> str:
    checked = "\n".join(
        f"real_server {address} 80 {{\n HTTP_GET {{\n  url {{\n   path /\n   status_code 200\n  }}\n }}\n}}"
        for address in servers
    )
    text = f"""
virtual_server {VIP} 80 {{
 lb_algo rr
 delay_loop 0.2
 retry 1
 delay_before_retry 0.1
 connect_timeout 0.5
{checked}
}}
"""
    if big:
        many = "\n".join(f"real_server 198.51.100.{100 + i // 10} {8000 + i % 10} {{ }}" for i in range(BIG))
        text += f"virtual_server {VIP2} 80 {{\n lb_algo wrr\n{many}\n}}\n"
    return text


# --- inside the lb (through its worker) -------------------------------------------------------------


class Probe:
    """LbService on an event loop of its own thread, its decisions and plane changes stamped."""

    def __init__(self, text: str) -> None:
        from tandem.config import ConfigSource, load_config_text
        from tandem.lb.realserver import RealServerChanged
        from tandem.lb.service import LbService

        result = load_config_text(text, "bench.conf")
        assert result.config is not None, [str(f) for f in result.errors]
        self.decided: list[tuple[float, str, bool]] = []
        self.live: list[float] = []
        probe = self

        class Stamped(LbService):
            def _handle(self, actions):
                now = time.monotonic()
                for action in actions:
                    if isinstance(action, RealServerChanged):
                        probe.decided.append((now, action.real_server, action.up))
                super()._handle(actions)

            def _apply_now(self):
                before = self.plane_changes
                super()._apply_now()
                if self.plane_changes != before:
                    probe.live.append(time.monotonic())

        self.loop = asyncio.new_event_loop()
        self.service = Stamped(ConfigSource("bench.conf"), result.config)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.service.start(), self.loop).result(30)

    def events(self) -> tuple[list, list]:
        return list(self.decided), list(self.live)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


# --- the harness ------------------------------------------------------------------------------------------


def _rounds(lab: LbLab, big: bool) -> tuple[list[float], list[float]]:
    servers = [str(lab.real_server(i)) for i in (1, 2, 3)]
    probe = lab.lb_worker.new("bench.bench_lb_failover:Probe", config(servers, big))
    detect, to_live = [], []
    try:
        for r in range(ROUNDS):
            i = r % 3 + 1
            rs_id = f"[{servers[i - 1]}]:80"
            killed = time.monotonic()  # SIGTERM now; nginx closes its listeners before it has exited
            lab.stop_http(i)

            def down(rs_id=rs_id, killed=killed):
                decided, live = probe.events()
                when = [t for t, rs, up in decided if rs == rs_id and not up and t >= killed]
                return when and any(t >= when[0] for t in live)

            assert wait_for(down, timeout=10), f"{rs_id} not taken out"
            decided, live = probe.events()
            at = next(t for t, rs, up in decided if rs == rs_id and not up and t >= killed)
            detect.append(at - killed)
            to_live.append(next(t for t in live if t >= at) - at)
            restarted = time.monotonic()
            lab.start_http(i)

            def back(rs_id=rs_id, restarted=restarted):
                return any(rs == rs_id and up and t >= restarted for t, rs, up in probe.events()[0])

            assert wait_for(back, timeout=10), f"{rs_id} not back"
    finally:
        probe.close()
    return detect, to_live


def _ms(values: list[float]) -> str:
    return spread([v * 1000 for v in values], "{:.2f}")


def run() -> str:
    if os.geteuid() != 0:
        return "## Load balancer failover\n\nskipped: needs root (network namespaces)\n"
    with LbLab(servers=3, plane_class=None, http="nginx") as lab:
        small = _rounds(lab, big=False)
        large = _rounds(lab, big=True)
    rows = [
        ["3 real servers", _ms(small[0]), _ms(small[1])],
        [f"the same, a {BIG}-real-server service beside it", _ms(large[0]), _ms(large[1])],
    ]
    return (
        "## Load balancer failover (LbService, nftables plane)\n\n"
        f"Load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} at the end. min / median / max of "
        f"{ROUNDS} kills, in ms; delay_loop 0.2 s, retry 1, delay_before_retry 0.1 s (keepalived's bound "
        "delay_loop × (retry + 1) + connect_timeout: 900 ms).\n\n"
        + table(["table", "nginx killed → Balancer decides down", "decided → nftables change live"], rows)
    )


if __name__ == "__main__":
    sys.stdout.write(run())
