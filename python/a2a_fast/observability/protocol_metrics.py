"""Per-protocol operation statistics on the native lock-free :class:`~a2a_fast.observability.metrics.Metrics`.

Agents record their protocol operations here (``mesh``: register, heartbeat, state_sync, deregister,
route; ``a2a``: negotiate, execute, publish_a2a...). An agent's store is one of the summaries of its
:class:`~a2a_fast.observability.metrics.MetricsRegistry` (namespace :data:`NAMESPACE`), which renders it on
``/metrics`` as ``a2a_protocol_latency_seconds`` and ``a2a_protocol_errors_total``::

    stats = ProtocolMetrics()
    stats.record_success("mesh", "heartbeat", 0.002)
    stats.record_failure("mesh", "heartbeat", 0.5)
    stats.get_stats("mesh")["operations"]["heartbeat"]["p99"]
"""

from __future__ import annotations

import time
from typing import Any

from a2a_fast.observability.metrics import Metrics, prometheus_text

__all__ = ["NAMESPACE", "ProtocolMetrics"]

NAMESPACE = "a2a_protocol"
_KEYS = ("count", "errors", "min", "mean", "max", "p50", "p99")


class ProtocolMetrics:
    """Operation counts, errors and latencies per (protocol, operation); ``registry`` is the native store."""

    def __init__(self, registry: Metrics | None = None) -> None:
        self.registry = registry if registry is not None else Metrics()

    def record_success(self, protocol: str, operation: str, seconds: float) -> None:
        self.registry.record(protocol, operation, seconds, True)

    def record_failure(self, protocol: str, operation: str, seconds: float = 0.0) -> None:
        self.registry.record(protocol, operation, seconds, False)

    def timer(self, protocol: str, operation: str) -> _Timer:
        """Records the ``with`` block: a success, or a failure when it raises."""
        return _Timer(self.registry, protocol, operation)

    def get_stats(self, protocol: str) -> dict[str, Any]:
        """``{"protocol", "total_operations", "errors", "error_rate", "operations": {name: stats}}``; each
        operation's stats has ``count``, ``errors`` and latencies in seconds ``min``, ``mean``, ``max``,
        ``p50``, ``p99``. An unknown protocol has zero operations."""
        operations = {
            name: {key: (int(stats[key]) if key in ("count", "errors") else stats[key]) for key in _KEYS}
            for name, stats in sorted(self.registry.snapshot().get(protocol, {}).items())
        }
        total = sum(stats["count"] for stats in operations.values())
        errors = sum(stats["errors"] for stats in operations.values())
        return {
            "protocol": protocol,
            "total_operations": total,
            "errors": errors,
            "error_rate": errors / total if total else 0.0,
            "operations": operations,
        }

    def protocols(self) -> list[str]:
        return sorted(self.registry.snapshot())

    def reset_all_stats(self) -> None:
        self.registry.reset()

    def prometheus(self) -> str:
        return prometheus_text(self.registry, namespace=NAMESPACE)


class _Timer:
    # A class rather than a generator: agents enter one for every task they negotiate or run.
    __slots__ = ("_operation", "_protocol", "_registry", "_started")

    def __init__(self, registry: Metrics, protocol: str, operation: str) -> None:
        self._registry = registry
        self._protocol = protocol
        self._operation = operation
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._registry.record(self._protocol, self._operation, time.perf_counter() - self._started, kind is None)
