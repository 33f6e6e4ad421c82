"""Protocol metrics: counts, stats and reset."""

from __future__ import annotations

import pytest

from a2a_fast.observability.protocol_metrics import ProtocolMetrics


def test_protocol_metrics_stats_and_reset() -> None:
    stats = ProtocolMetrics()
    for seconds in (0.001, 0.002, 0.003):
        stats.record_success("mesh", "heartbeat", seconds)
    stats.record_failure("mesh", "heartbeat", 0.5)
    stats.record_success("mesh", "register", 0.01)
    with pytest.raises(RuntimeError), stats.timer("a2a", "negotiate"):
        raise RuntimeError("boom")
    mesh = stats.get_stats("mesh")
    assert (mesh["total_operations"], mesh["errors"], mesh["error_rate"]) == (5, 1, 0.2)
    heartbeat = mesh["operations"]["heartbeat"]
    assert set(heartbeat) == {"count", "errors", "min", "mean", "max", "p50", "p99"}
    assert (heartbeat["count"], heartbeat["errors"]) == (4, 1)
    assert heartbeat["min"] == pytest.approx(0.001, rel=0.01) and heartbeat["max"] == pytest.approx(0.5)
    assert heartbeat["p50"] == pytest.approx(0.002, rel=0.01) and heartbeat["p99"] == pytest.approx(0.5, rel=0.01)
    assert stats.get_stats("a2a")["operations"]["negotiate"]["errors"] == 1
    text = stats.prometheus()
    assert 'a2a_protocol_latency_seconds_count{protocol="mesh",operation="heartbeat"} 4' in text
    assert 'a2a_protocol_errors_total{protocol="mesh",operation="heartbeat"} 1' in text
    stats.reset_all_stats()
    after = stats.get_stats("mesh")
    assert (after["total_operations"], after["errors"], after["error_rate"]) == (0, 0, 0.0)
    assert {name: op["count"] for name, op in after["operations"].items()} == {"heartbeat": 0, "register": 0}
