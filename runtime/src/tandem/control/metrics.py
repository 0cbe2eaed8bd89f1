"""Optional Prometheus endpoint (off by default): the control Handler's status and counters as metrics.

Each tandemd child renders its own subsystem's metrics (:func:`metrics_text`, asked over its control
socket); the supervisor's :class:`MetricsServer` serves them together, from its event loop (no exporter
thread reading daemon state behind its back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from tandem.control.protocol import Handler, LbHandler

STATES = ("INIT", "BACKUP", "MASTER", "FAULT")
COUNTERS = {
    "adverts_sent": "VRRP adverts sent",
    "adverts_received": "VRRP adverts accepted",
    "priority_zero_sent": "priority-0 adverts sent",
    "priority_zero_received": "priority-0 adverts received",
    "became_master": "times this node became master",
    "transitions": "state transitions",
}


LB_COUNTERS = {
    "checks_run": ("tandem_lb_checks", "health checks run"),
    "checks_failed": ("tandem_lb_check_failures", "health checks failed"),
    "connections": ("tandem_lb_connections", "connections the data plane sent to the real server"),
    "packets": ("tandem_lb_packets", "packets of those connections (both directions)"),
    "bytes": ("tandem_lb_bytes", "bytes of those connections (both directions)"),
}
RS_LABELS = ["virtual_server", "real_server"]


class HandlerCollector:
    def __init__(self, handler: Handler | None, lb: LbHandler | None = None) -> None:
        self.handler = handler
        self.lb = lb

    def collect(self):
        if self.handler is not None:
            yield from self._vrrp()
        if self.lb is not None:
            yield from self._lb()

    def _vrrp(self):
        state = GaugeMetricFamily(
            "tandem_vrrp_state", "1 for the instance's current state", labels=["instance", "state"]
        )
        priority = GaugeMetricFamily("tandem_vrrp_priority", "effective priority", labels=["instance"])
        base = GaugeMetricFamily("tandem_vrrp_base_priority", "configured priority", labels=["instance"])
        for status in self.handler.status():
            for name in STATES:
                state.add_metric([status.name, name], 1.0 if status.state == name else 0.0)
            priority.add_metric([status.name], status.priority)
            base.add_metric([status.name], status.base_priority)
        yield from (state, priority, base)
        counters = {
            key: CounterMetricFamily(f"tandem_vrrp_{key}", text, labels=["instance"])
            for key, text in COUNTERS.items()
        }
        drops = CounterMetricFamily(
            "tandem_vrrp_dropped", "received packets dropped", labels=["instance", "reason"]
        )
        for stats in self.handler.stats():
            for key, family in counters.items():
                family.add_metric([stats.name], getattr(stats, key))
            for reason, count in stats.drops.items():
                drops.add_metric([stats.name, reason], count)
        yield from counters.values()
        yield drops

    def _lb(self):
        status, stats = self.lb.status(), self.lb.stats()
        plane = GaugeMetricFamily("tandem_lb_plane", "1 for the active data plane", labels=["plane"])
        plane.add_metric([status.plane], 1.0)
        quorum = GaugeMetricFamily(
            "tandem_lb_quorum_up", "1 while the virtual server has quorum", labels=["virtual_server"]
        )
        up = GaugeMetricFamily(
            "tandem_lb_real_server_up", "1 while every check of the real server is up", labels=RS_LABELS
        )
        weight = GaugeMetricFamily("tandem_lb_real_server_weight", "effective weight", labels=RS_LABELS)
        in_plane = GaugeMetricFamily(
            "tandem_lb_real_server_plane_weight",
            "weight in the data plane (absent: not in it)",
            labels=RS_LABELS,
        )
        latency = GaugeMetricFamily(
            "tandem_lb_check_latency_seconds", "how long the last check took", labels=[*RS_LABELS, "check"]
        )
        for vs in status.virtual_servers:
            quorum.add_metric([vs.name], 1.0 if vs.quorum == "UP" else 0.0)
            for rs in vs.real_servers:
                labels = [vs.name, rs.id]
                up.add_metric(labels, 1.0 if rs.state == "UP" else 0.0)
                weight.add_metric(labels, rs.weight)
                if rs.plane_weight is not None:
                    in_plane.add_metric(labels, rs.plane_weight)
                kinds = [check.kind for check in rs.checks]
                for i, check in enumerate(rs.checks):
                    name = check.kind if kinds.count(check.kind) == 1 else f"{check.kind} {i + 1}"
                    if check.latency is not None:
                        latency.add_metric([*labels, name], check.latency)
        yield from (plane, quorum, up, weight, in_plane, latency)
        families = {
            key: CounterMetricFamily(name, text, labels=RS_LABELS)
            for key, (name, text) in LB_COUNTERS.items()
        }
        for row in stats.real_servers:
            for key, family in families.items():
                family.add_metric([row.virtual_server, row.real_server], getattr(row, key))
        yield from families.values()


def metrics_text(handler: Handler | None, lb: LbHandler | None = None) -> str:
    """The metrics of one process's subsystems, in Prometheus' text format."""
    registry = CollectorRegistry()
    registry.register(HandlerCollector(handler, lb))
    return generate_latest(registry).decode()


HEAD_TIMEOUT = 5.0  # seconds for a request's whole head, and for taking the answer
MAX_HEADERS = 100
MAX_SCRAPERS = 16  # connections at once; more are closed unanswered


class MetricsServer:
    """``GET /metrics`` on ``host:port`` (anything else: 404); ``source()`` gives the text of a scrape.
    Hostile clients are bounded: a line over 64 KiB, over MAX_HEADERS header lines or a head not sent
    within HEAD_TIMEOUT (one header every few seconds once held a connection for ever) end the connection
    without an answer, and at most MAX_SCRAPERS are served at once."""

    def __init__(self, source: Callable[[], Awaitable[str]], host: str, port: int) -> None:
        self.source = source
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None
        self.clients = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.clients >= MAX_SCRAPERS:
            writer.close()  # a flood of connections takes no more than MAX_SCRAPERS descriptors
            return
        self.clients += 1
        try:
            async with asyncio.timeout(HEAD_TIMEOUT):  # the whole head: a header a second is no way to stay
                request_line = await reader.readline()
                for _ in range(MAX_HEADERS):
                    if await reader.readline() in (b"\r\n", b"\n", b""):
                        break  # headers: nothing in them matters here
                else:
                    raise ValueError("too many header lines")
            if request_line.split()[:2] == [b"GET", b"/metrics"]:
                body, status, kind = (await self.source()).encode(), "200 OK", CONTENT_TYPE_LATEST
            else:
                body, status, kind = b"not found\n", "404 Not Found", "text/plain"
            head = f"HTTP/1.0 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n"
            writer.write(head.encode() + body)
            await asyncio.wait_for(writer.drain(), HEAD_TIMEOUT)
        except TimeoutError:
            writer.transport.abort()  # close() would wait for an answer the client does not take
        except (ConnectionError, ValueError):  # ValueError: a line over the reader's 64 KiB
            pass
        finally:
            self.clients -= 1
            writer.close()
