"""Optional Prometheus endpoint (off by default): the control Handler's status and counters as metrics.

Served from the daemon's event loop (no exporter thread reading daemon state behind its back).
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from tandem.control.protocol import Handler

STATES = ("INIT", "BACKUP", "MASTER", "FAULT")
COUNTERS = {
    "adverts_sent": "VRRP adverts sent",
    "adverts_received": "VRRP adverts accepted",
    "priority_zero_sent": "priority-0 adverts sent",
    "priority_zero_received": "priority-0 adverts received",
    "became_master": "times this node became master",
    "transitions": "state transitions",
}


class HandlerCollector:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    def collect(self):
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


class MetricsServer:
    """``GET /metrics`` on ``host:port`` (anything else: 404)."""

    def __init__(self, handler: Handler, host: str, port: int) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(HandlerCollector(handler))
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass  # headers: nothing in them matters here
            if request_line.split()[:2] == [b"GET", b"/metrics"]:
                body, status, kind = generate_latest(self.registry), "200 OK", CONTENT_TYPE_LATEST
            else:
                body, status, kind = b"not found\n", "404 Not Found", "text/plain"
            head = f"HTTP/1.0 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
