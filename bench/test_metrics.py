"""Recording a latency: a2a_fast against a Python registry of lock-guarded log-linear histograms."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from a2a_fast.observability.metrics import Metrics

SUB = 64
DURATIONS = [(i * 7919 % 5000 + 1) * 1e-6 for i in range(1000)]


class LockedMetrics:
    """The same histogram (64 linear buckets per power of two of nanoseconds) under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], list[Any]] = {}

    @staticmethod
    def _bucket(nanos: int) -> int:
        if nanos < SUB:
            return nanos
        exponent = nanos.bit_length() - 1
        return (exponent - 5) * SUB + (nanos >> (exponent - 6)) - SUB

    def record(self, protocol: str, operation: str, seconds: float, ok: bool = True) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("seconds")
        nanos = round(seconds * 1e9)
        with self._lock:
            series = self._series.get((protocol, operation))
            if series is None:
                series = self._series[(protocol, operation)] = [0, 0, 0, {}]
            series[0] += 1
            series[1] += 0 if ok else 1
            series[2] += nanos
            buckets = series[3]
            index = self._bucket(nanos)
            buckets[index] = buckets.get(index, 0) + 1

    def count_errors_sum(self, protocol: str, operation: str) -> tuple[int, int, float]:
        count, errors, total, _ = self._series[(protocol, operation)]
        return count, errors, total / 1e9


def record_all(registry: Any) -> None:
    for seconds in DURATIONS:
        registry.record("kafka", "produce", seconds, True)


@pytest.mark.parametrize("impl", ["a2a_fast", "python-dict-lock"])
def test_record(benchmark: Any, tag: Any, impl: str) -> None:
    registry: Any = Metrics() if impl == "a2a_fast" else LockedMetrics()
    record_all(registry)
    if impl == "a2a_fast":
        stats = registry.snapshot()["kafka"]["produce"]
        got = (stats["count"], stats["errors"], stats["sum"])
    else:
        got = registry.count_errors_sum("kafka", "produce")
    assert got[:2] == (1000, 0)
    assert got[2] == pytest.approx(sum(DURATIONS), rel=1e-9)
    tag("metrics: record() x1000", impl, items=len(DURATIONS))
    benchmark(record_all, registry)


def test_record_through_series_handle(benchmark: Any, tag: Any) -> None:
    series = Metrics().series("kafka", "produce")

    def run() -> None:
        for seconds in DURATIONS:
            series.record(seconds, True)

    tag("metrics: record() x1000", "a2a_fast Series handle", items=len(DURATIONS))
    benchmark(run)
