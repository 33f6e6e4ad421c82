"""The console's reading of /metrics."""

from __future__ import annotations

from a2a_fast.console.scrape import MetricsBoard, parse_prometheus, summarize

METRICS = """\
# HELP a2a_messages_consumed_total Records consumed, by topic and CloudEvent type.
# TYPE a2a_messages_consumed_total counter
a2a_messages_consumed_total{topic="p.task-requests",type="a2a.task.request"} 30
a2a_messages_consumed_total{topic="p.negotiations",type="a2a.negotiation"} 12
a2a_dead_letters_total{topic="p.task-requests"} 1
a2a_in_flight{agent="prov-1",role="provider"} 2.0
a2a_consumer_lag{agent="prov-1",partition="p.task-requests/0",role="provider"} 3.0
a2a_consumer_lag{agent="prov-1",partition="p.task-requests/1",role="provider"} 4.0
a2a_handling_latency_seconds{protocol="a2a",operation="a2a.task.request",quantile="0.5"} 0.0012
a2a_handling_latency_seconds{protocol="a2a",operation="a2a.task.request",quantile="0.99"} 0.004
a2a_handling_latency_seconds_count{protocol="a2a",operation="a2a.task.request"} 30
a2a_odd{label="with \\"quotes\\""} NaN
not a sample line
"""


def test_metrics_text_is_read_into_what_the_mesh_page_shows() -> None:
    samples = list(parse_prometheus(METRICS))
    assert samples[-1].labels == {"label": 'with "quotes"'}
    summary = summarize(samples)
    assert (summary["consumed"], summary["dead_letters"], summary["in_flight"], summary["lag"]) == (42, 1, 2, 7)
    assert summary["handling"] == {"a2a.task.request": {"p50": 0.0012, "p99": 0.004, "count": 30}}


def test_the_metrics_board_rates_consumption_between_readings_and_keeps_errors() -> None:
    board = MetricsBoard()
    board.record("prov-1", "http://127.0.0.1:1", METRICS, None, at=100.0)
    board.record("prov-1", "http://127.0.0.1:1", METRICS.replace(" 30\n", " 50\n", 1), None, at=102.0)
    board.record("exec-1", "http://127.0.0.1:2", None, "no answer: connection refused", at=102.0)

    assert board.rates(0) == {"prov-1": [(102.0, 10.0)]}
    latest = board.latest()
    assert latest["prov-1"]["consumed"] == 62 and latest["prov-1"]["error"] is None
    assert latest["exec-1"]["error"] == "no answer: connection refused"
    board.forget(["exec-1"])
    assert set(board.latest()) == {"exec-1"}
