"""Monitoring of one agent: counters and histograms, and a tiny HTTP server that exposes them.

The HTTP server is for people and Prometheus only; agents never talk to each other over it.
Ports default to 8001 (requester), 8002 (provider) and 8003 (executor); it binds to 127.0.0.1.

* ``GET /health``  200 ``{"status": "ok", ...}`` when the process runs and the broker answers, else 503.
* ``GET /status``  the agent's role, id, counts of tasks by state, messages in flight and consumer lag.
* ``GET /metrics`` Prometheus text format: messages by topic and type, errors, dead-lettered records,
  handling-latency histograms per message type and negotiation rounds.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "DEFAULT_PORTS",
    "LATENCY_BUCKETS",
    "ROUND_BUCKETS",
    "Histogram",
    "MetricsRegistry",
    "MonitoringServer",
    "json_response",
]

DEFAULT_PORTS = {"requester": 8001, "provider": 8002, "executor": 8003, "coordinator": 8004}

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROUND_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 8, 10)

Labels = tuple[tuple[str, str], ...]


class Histogram:
    """Cumulative-bucket histogram in Prometheus' sense; ``quantile`` estimates from the buckets."""

    def __init__(self, buckets: Iterable[float]) -> None:
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def observe_many(self, values: Iterable[float]) -> None:
        """:meth:`observe` of each value: sorted once, then counted per bucket rather than per value."""
        ordered = sorted(values)
        counts, start = self.counts, 0
        for index, bound in enumerate(self.bounds):
            end = bisect.bisect_right(ordered, bound, start)
            counts[index] += end - start
            start = end
        counts[-1] += len(ordered) - start
        self.total += sum(ordered)
        self.count += len(ordered)


class MetricsRegistry:
    """Counters and histograms keyed by name and labels, rendered in Prometheus text format.

    Safe to update from several threads (one lock; updates are a few dict operations).
    """

    def __init__(self, prefix: str = "a2a") -> None:
        self.prefix = prefix
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, tuple[tuple[float, ...], dict[Labels, Histogram]]] = {}
        self._help: dict[str, str] = {}

    def describe(self, name: str, text: str) -> None:
        self._help[name] = text

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + amount

    def observe(self, name: str, value: float, buckets: Iterable[float] = LATENCY_BUCKETS, **labels: str) -> None:
        with self._lock:
            self._histogram(name, buckets, labels).observe(value)

    def observe_many(
        self, name: str, values: Iterable[float], buckets: Iterable[float] = LATENCY_BUCKETS, **labels: str
    ) -> None:
        """:meth:`observe` of each value, for one label set, under one lock."""
        with self._lock:
            self._histogram(name, buckets, labels).observe_many(values)

    def _histogram(self, name: str, buckets: Iterable[float], labels: dict[str, str]) -> Histogram:
        """The histogram of ``name`` for one label set, created on first use; called under the lock."""
        key = tuple(sorted(labels.items()))
        bounds, series = self._histograms.setdefault(name, (tuple(sorted(buckets)), {}))
        histogram = series.get(key)
        if histogram is None:
            histogram = series[key] = Histogram(bounds)
        return histogram

    def counter(self, name: str, **labels: str) -> float:
        return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def counter_total(self, name: str) -> float:
        return sum(self._counters.get(name, {}).values())

    def render(self, gauges: Mapping[str, Mapping[Labels, float]] | None = None) -> str:
        """All series in Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._counters.items()):
                full = f"{self.prefix}_{name}"
                self._header(lines, name, full, "counter")
                for labels, value in sorted(series.items()):
                    lines.append(f"{full}{_labels(labels)} {_number(value)}")
            for name, (bounds, hseries) in sorted(self._histograms.items()):
                full = f"{self.prefix}_{name}"
                self._header(lines, name, full, "histogram")
                for labels, histogram in sorted(hseries.items()):
                    running = 0
                    for bound, count in zip((*bounds, float("inf")), histogram.counts, strict=True):
                        running += count
                        le = "+Inf" if bound == float("inf") else _number(bound)
                        lines.append(f"{full}_bucket{_labels((*labels, ('le', le)))} {running}")
                    lines.append(f"{full}_sum{_labels(labels)} {_number(histogram.total)}")
                    lines.append(f"{full}_count{_labels(labels)} {histogram.count}")
        for name, gseries in sorted((gauges or {}).items()):
            full = f"{self.prefix}_{name}"
            self._header(lines, name, full, "gauge")
            for labels, value in sorted(gseries.items()):
                lines.append(f"{full}{_labels(sorted(labels))} {_number(value)}")
        return "\n".join(lines) + "\n"

    def _header(self, lines: list[str], name: str, full: str, kind: str) -> None:
        if name in self._help:
            lines.append(f"# HELP {full} {self._help[name]}")
        lines.append(f"# TYPE {full} {kind}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    pairs = list(labels)
    if not pairs:
        return ""
    escaped = (value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') for _, value in pairs)
    return "{" + ",".join(f'{name}="{value}"' for (name, _), value in zip(pairs, escaped, strict=True)) + "}"


Route = Callable[[], Awaitable[tuple[int, str, str]]]


class MonitoringServer:
    """A minimal HTTP/1.1 server on asyncio answering ``GET`` on a fixed set of paths.

    ``routes`` maps a path to a coroutine function returning ``(status, content type, body)``.
    One request per connection; anything but ``GET`` of a known path gets 405 or 404.
    """

    def __init__(self, routes: Mapping[str, Route], host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes = dict(routes)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Starts listening; returns the bound port (useful with ``port=0``)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, content_type, body = await self._respond(reader)
            payload = body.encode()
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 400: "Bad Request"}.get(
                status, "Service Unavailable" if status == 503 else "Error"
            )
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, str, str]:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5.0)
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(request_line) < 2:
            return 400, "text/plain", "bad request\n"
        method, target = request_line[0], request_line[1].split("?", 1)[0]
        route = self.routes.get(target)
        if route is None:
            return 404, "text/plain", f"no such path: {target}\n"
        if method != "GET":
            return 405, "text/plain", "only GET is served\n"
        return await route()


def json_response(payload: Any, status: int = 200) -> tuple[int, str, str]:
    return status, "application/json", json.dumps(payload, sort_keys=True) + "\n"
