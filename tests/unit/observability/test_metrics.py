"""Metrics through the binding: statistics, errors, export, threads and percentile accuracy."""

from __future__ import annotations

import asyncio
import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from a2a_fast.agents.provider import Provider
from a2a_fast.console.scrape import parse_prometheus, summarize
from a2a_fast.errors import ValidationError
from a2a_fast.observability import metrics
from a2a_fast.observability.metrics import RELATIVE_ERROR, Metrics, MetricsRegistry
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST
from a2a_fast.transport.memory import MemoryTransport
from tests.scenarios import Mesh, eventually, fresh_mesh, run_strict
from tests.scenarios.cancel import running
from tests.unit.agents.support import Peer, request


def test_statistics_of_known_values() -> None:
    registry = Metrics()
    for ms in range(1, 101):
        registry.record("kafka", "produce", ms / 1000, ok=ms % 10 != 0)
    stats = registry.snapshot()["kafka"]["produce"]
    assert (stats["count"], stats["errors"]) == (100, 10)
    assert stats["min"] == pytest.approx(0.001) and stats["max"] == pytest.approx(0.1)
    assert stats["mean"] == pytest.approx(0.0505)
    assert stats["sum"] == pytest.approx(5.05)
    assert stats["p50"] == pytest.approx(0.05, rel=RELATIVE_ERROR)
    assert stats["p99"] == pytest.approx(0.099, rel=RELATIVE_ERROR)
    assert registry.percentile("kafka", "produce", 1.0) == pytest.approx(0.1, rel=RELATIVE_ERROR)
    assert registry.percentile("kafka", "nothing", 0.5) is None
    assert registry.stats("kafka", "produce") == stats
    assert sum(count for _, _, count in registry.buckets("kafka", "produce")) == 100
    assert all(low <= high for low, high, _ in registry.buckets("kafka", "produce"))


def test_series_handle_and_reset() -> None:
    registry = Metrics()
    series = registry.series("http", "get")
    assert (series.protocol, series.operation) == ("http", "get")
    series.record(0.5, ok=False)
    assert registry.snapshot()["http"]["get"]["errors"] == 1
    registry.reset()
    assert series.stats()["count"] == 0
    series.record(0.25)
    assert registry.snapshot()["http"]["get"]["count"] == 1


def test_timer_records_success_and_failure() -> None:
    registry = Metrics()
    with metrics.timer("a2a", "send", registry):
        pass
    with pytest.raises(KeyError), metrics.timer("a2a", "send", registry):
        raise KeyError("boom")
    stats = registry.snapshot()["a2a"]["send"]
    assert (stats["count"], stats["errors"]) == (2, 1)
    assert stats["min"] >= 0


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        (("", "op", 1.0), "protocol"),
        (("p", "", 1.0), "operation"),
        (("p", "op", -0.5), "seconds"),
        (("p", "op", math.nan), "seconds"),
        (("p", "op", math.inf), "seconds"),
    ],
)
def test_bad_input_names_the_argument(args: tuple[str, str, float], argument: str) -> None:
    registry = Metrics()
    with pytest.raises(ValidationError, match=f"^{argument}: "):
        registry.record(*args)
    registry.record("p", "op", 1.0)
    with pytest.raises(ValidationError, match=r"^q: "):
        registry.percentile("p", "op", 1.5)


def test_prometheus_text() -> None:
    registry = Metrics()
    registry.record("kafka", "produce", 0.002)
    registry.record("kafka", "produce", 0.004, ok=False)
    registry.record('we"ird', "op", 1.0)
    text = metrics.prometheus_text(registry, namespace="svc")
    lines = text.splitlines()
    assert "# TYPE svc_latency_seconds summary" in lines
    assert 'svc_latency_seconds_count{protocol="kafka",operation="produce"} 2' in lines
    assert 'svc_errors_total{protocol="kafka",operation="produce"} 1' in lines
    assert 'svc_latency_seconds_sum{protocol="kafka",operation="produce"} 0.006' in lines
    assert any(
        line.startswith('svc_latency_seconds{protocol="we\\"ird",operation="op",quantile="0.99"}') for line in lines
    )


def test_default_registry_is_shared() -> None:
    metrics.default.record("test-default", "op", 0.001)
    assert metrics.default.snapshot()["test-default"]["op"]["count"] >= 1


def test_threads_lose_no_record() -> None:
    registry = Metrics()
    threads, records = 4, 5_000
    start = threading.Barrier(threads)

    def work(index: int) -> None:
        start.wait()
        series = registry.series("kafka", "consume")
        for i in range(records):
            registry.record("kafka", f"op{index % 2}", 1e-6 * (i % 100), ok=i % 5 != 0)
            series.record(1e-3)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    snapshot = registry.snapshot()["kafka"]
    for op in ("op0", "op1"):
        assert snapshot[op]["count"] == 2 * records
        assert snapshot[op]["errors"] == 2 * records // 5
    assert snapshot["consume"]["count"] == threads * records


def exact_percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@given(
    st.lists(st.integers(1, 10**12), min_size=1, max_size=300),
    st.sampled_from([0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0]),
)
def test_percentiles_are_within_the_stated_relative_error(nanos: list[int], q: float) -> None:
    registry = Metrics()
    for value in nanos:
        registry.record("p", "op", value / 1e9)
    exact = exact_percentile(nanos, q)
    got = registry.percentile("p", "op", q)
    assert got is not None
    # Nanosecond resolution: below 128 ns the error is at most 1 ns (float seconds carry rounding).
    assert abs(got * 1e9 - exact) <= max(exact * RELATIVE_ERROR, 1.0) + exact * 1e-9


@given(st.lists(st.floats(0, 20, allow_nan=False), max_size=50), st.booleans())
def test_batches_record_what_one_at_a_time_records(seconds: list[float], ok: bool) -> None:
    from a2a_fast.observability.metrics import LATENCY_BUCKETS, Histogram

    one, many = Metrics(), Metrics()
    one.series("a2a", "x")
    for value in seconds:
        one.record("a2a", "x", value, ok)
    many.series("a2a", "x").record_many(seconds, ok)
    assert one.snapshot() == many.snapshot()
    single, batch = Histogram(LATENCY_BUCKETS), Histogram(LATENCY_BUCKETS)
    for value in [*seconds, *LATENCY_BUCKETS]:
        single.observe(value)
    batch.observe_many([*seconds, *LATENCY_BUCKETS])
    assert (single.counts, single.count) == (batch.counts, batch.count)
    assert math.isclose(single.total, batch.total, rel_tol=1e-9, abs_tol=1e-12)


@given(st.lists(st.sampled_from([0.0, 0.0005, 0.0007, 0.001, 0.003, 9.0, 10.0, 11.0]) | st.floats(0, 20), max_size=3))
def test_a_small_batch_counts_each_value_as_observe_does(seconds: list[float]) -> None:
    from a2a_fast.observability.metrics import LATENCY_BUCKETS, Histogram

    single, batch = Histogram(LATENCY_BUCKETS), Histogram(LATENCY_BUCKETS)
    for value in seconds:
        single.observe(value)
    batch.observe_many(seconds)
    assert (single.counts, single.count) == (batch.counts, batch.count)
    assert math.isclose(single.total, batch.total, rel_tol=1e-9, abs_tol=1e-12)


def test_record_many_refuses_what_record_refuses() -> None:
    with pytest.raises(ValidationError):
        Metrics().series("a2a", "x").record_many([0.1, -1.0])


def test_metrics_render_in_prometheus_text_format() -> None:
    metrics = MetricsRegistry()
    metrics.describe("messages_consumed_total", "Records consumed.")
    metrics.inc("messages_consumed_total", topic="t", type='a"b')
    metrics.observe("handling_seconds", 0.003, buckets=(0.001, 0.01), type="x")
    text = metrics.render({"in_flight": {(("agent", "a"),): 2.0}})
    assert "# HELP a2a_messages_consumed_total Records consumed." in text
    assert 'a2a_messages_consumed_total{topic="t",type="a\\"b"} 1' in text
    assert 'a2a_handling_seconds_bucket{type="x",le="0.001"} 0' in text
    assert 'a2a_handling_seconds_bucket{type="x",le="0.01"} 1' in text
    assert 'a2a_handling_seconds_bucket{type="x",le="+Inf"} 1' in text
    assert 'a2a_handling_seconds_count{type="x"} 1' in text and 'a2a_in_flight{agent="a"} 2' in text


def test_an_agents_metrics_page_has_every_family_once_and_the_console_reads_it() -> None:
    """One exposition per agent: counters, histograms, gauges and the native latency summaries (handling and
    protocol operations) rendered together, each family with one TYPE line, under the names the console and
    dashboards read."""

    async def scenario(mesh: Mesh) -> str:
        provider = Provider(mesh.config("provider-1", http_port=0, http_token=None), {"count": 10})
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(provider, peer):
            await peer.publish(KIND_TASK_REQUEST, request("t1", "count", 10.0), target_group=provider.group_id)
            # no executor is live, so it is rejected: a finished negotiation, with its rounds observed
            await eventually(lambda: provider.decisions["REJECTED"] == 1, 10, "the request answered")
            await eventually(
                lambda: provider.status()["produced"] == 1 and provider.status()["in_flight"] == 0, 10, "handled"
            )
            assert provider.http_port is not None
            reader, writer = await asyncio.open_connection("127.0.0.1", provider.http_port)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            reply = await reader.read()
            writer.close()
            await writer.wait_closed()
            return reply.split(b"\r\n\r\n", 1)[1].decode()

    with fresh_mesh(MemoryTransport()) as mesh:
        text = run_strict(lambda: scenario(mesh))
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types)), f"a family rendered twice: {sorted(types)}"
    assert {
        "a2a_messages_consumed_total",
        "a2a_messages_produced_total",
        "a2a_handling_seconds",
        "a2a_negotiation_rounds",
        "a2a_tasks",
        "a2a_in_flight",
        "a2a_consumer_lag",
        "a2a_handling_latency_seconds",
        "a2a_handling_errors_total",
        "a2a_protocol_latency_seconds",
        "a2a_protocol_errors_total",
    } <= set(types)
    samples = list(parse_prometheus(text))
    assert all(not math.isnan(sample.value) for sample in samples if sample.name.endswith("_count"))
    negotiated = [
        s for s in samples if s.name == "a2a_protocol_latency_seconds_count" and s.labels["operation"] == "negotiate"
    ]
    assert [(s.labels["protocol"], s.value) for s in negotiated] == [("a2a", 1.0)]
    seen = summarize(samples)
    assert seen["consumed"] == 1 and seen["produced"] == 1 and seen["in_flight"] == 0
    assert seen["handling"]["a2a.task.request"]["count"] == 1


def test_a_registry_renders_its_native_summaries_with_its_own_families() -> None:
    registry = MetricsRegistry()
    registry.inc("messages_consumed_total", topic="t")
    handling = registry.summaries("a2a_handling")
    assert registry.summaries("a2a_handling") is handling
    own = Metrics()
    assert registry.summaries("a2a_protocol", own) is own
    with pytest.raises(ValueError, match="another store is registered under this name"):
        registry.summaries("a2a_protocol", Metrics())
    handling.record("a2a", 'x"y', 0.002, ok=False)
    text = registry.render({"in_flight": {(("agent", "a"),): 1.0}})
    # one pass, in a fixed order: counters, gauges, then each store's summary and error counter
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert types == [
        "a2a_messages_consumed_total",
        "a2a_in_flight",
        "a2a_handling_latency_seconds",
        "a2a_handling_errors_total",
        "a2a_protocol_latency_seconds",
        "a2a_protocol_errors_total",
    ]
    assert 'a2a_handling_latency_seconds_count{protocol="a2a",operation="x\\"y"} 1' in text
    assert 'a2a_handling_errors_total{protocol="a2a",operation="x\\"y"} 1' in text
    # a store rendered alone reads the same as inside the registry
    alone = metrics.prometheus_text(handling, namespace="a2a_handling")
    assert alone in text
