"""The console's view model on records made here: task timelines, pages, charts, dead letters, sessions, mesh rows."""

from __future__ import annotations

from typing import Any

import pytest

from a2a_fast.console.model import ConsoleModel, mesh_rows, quantile
from a2a_fast.errors import UnknownSessionError, UnknownTaskError, ValidationError
from a2a_fast.history.tasks import format_time
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST, KIND_TASK_RESPONSE
from a2a_fast.transport.log import Observed
from tests.unit.console.support import BASE, TOPICS, agent, model_of, negotiated_task, observe, session_records


def test_a_task_timeline_reads_as_request_rounds_award_progress_and_outcome() -> None:
    detail = model_of(negotiated_task()).task_detail("t1")

    assert detail["task"]["state"] == "COMPLETED"
    assert detail["request"]["event"] == "REQUESTED" and detail["request"]["price"] == 20.0
    rounds = [(r["round"], r["ask"]["price"], r["answer"]["event"], r["answer"]["price"]) for r in detail["rounds"]]
    assert rounds == [(1, 90.0, "COUNTER", 55.0), (2, 75.0, "ACCEPT", 75.0)]
    assert detail["rounds"][0]["answer"]["detail"] == "too dear"
    assert (detail["award"]["agent"], detail["award"]["price"]) == ("prov-1", 75.0)
    assert [entry["progress"] for entry in detail["progress"]] == [0.5]
    assert (detail["outcome"]["event"], detail["outcome"]["agent"]) == ("COMPLETED", "exec-1")
    assert detail["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert detail["agents"] == [
        {"agent": "req-1", "roles": ["requester"]},
        {"agent": "prov-1", "roles": ["provider"]},
        {"agent": "exec-1", "roles": ["executor"]},
    ]
    assert len(detail["timeline"]) == 8
    assert detail["timeline"][0]["at"] == format_time(BASE)


def test_a_canceled_task_reads_with_its_cancel_and_the_first_outcome() -> None:
    def response(source: str, offset: int, status: str, **fields: Any) -> Observed:
        return observe(KIND_TASK_RESPONSE, source, offset, "t1", "req-1", status=status, **fields)

    records = [
        *negotiated_task()[:7],
        response("ops-1", 70, "CANCELING", message="not needed"),
        response("exec-1", 80, "CANCELED", agreed_cost=75.0, message="canceled by ops-1: not needed"),
        response("exec-1", 90, "COMPLETED", result="1"),  # a report racing the cancel changes nothing
    ]
    model = model_of(records)
    detail = model.task_detail("t1")
    assert detail["task"]["state"] == "CANCELED"
    assert (detail["cancel"]["agent"], detail["cancel"]["detail"]) == ("ops-1", "not needed")
    assert (detail["outcome"]["event"], detail["outcome"]["agent"]) == ("CANCELED", "exec-1")
    assert {"agent": "ops-1", "roles": ["requester"]} in detail["agents"]
    assert model_of(negotiated_task()).task_detail("t1")["cancel"] is None


def test_a_task_is_found_by_an_id_prefix_and_an_unknown_one_is_named() -> None:
    model = model_of(negotiated_task("abc123") + negotiated_task("abd456", at=5000))

    assert model.task_detail("abc")["task"]["task_id"] == "abc123"
    with pytest.raises(UnknownTaskError, match="'ab' matches 2 tasks"):
        model.task_detail("ab")
    with pytest.raises(UnknownTaskError, match="task 'nope' is not in the log"):
        model.task_detail("nope")


def test_task_pages_filter_by_state_capability_and_agent_newest_first() -> None:
    records = []
    for number in range(120):
        records += negotiated_task(f"task-{number:03d}", at=number * 2000, capability="translate")[: 1 + number % 8]
    records += negotiated_task("other", at=500_000, capability="summarize")
    model = model_of(records)

    everything = model.task_page(limit=50)
    assert everything["total"] == 121 and len(everything["items"]) == 50
    assert everything["items"][0]["task_id"] == "other"  # requested last
    assert everything["capabilities"] == ["summarize", "translate"]
    assert sum(everything["counts"].values()) == 121

    running = model.task_page(["RUNNING"], limit=500)
    assert {item["state"] for item in running["items"]} == {"RUNNING"}
    assert running["total"] == everything["counts"]["RUNNING"] == 15

    second_page = model.task_page(offset=50, limit=50)
    assert [item["task_id"] for item in second_page["items"]] == [
        item["task_id"] for item in model.task_page(limit=500)["items"][50:100]
    ]
    assert [item["task_id"] for item in model.task_page(capability="SUMMARIZE")["items"]] == ["other"]
    executed = model.task_page(agent="exec-1", limit=500)
    assert executed["total"] == everything["counts"]["RUNNING"] + everything["counts"]["COMPLETED"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"states": ["SLEEPING"]}, "unknown task state"),
        ({"offset": -1}, "offset: expected 0 or more"),
        ({"limit": 0}, "limit: expected 1 to 500"),
        ({"limit": 501}, "limit: expected 1 to 500"),
    ],
)
def test_a_bad_page_request_is_named(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        model_of([]).task_page(**arguments)


def test_as_of_keeps_only_what_was_on_the_log_then() -> None:
    records = negotiated_task()
    model = model_of(records, until=BASE + 35)

    detail = model.task_detail("t1")
    assert detail["task"]["state"] == "NEGOTIATING"
    assert [r["round"] for r in detail["rounds"]] == [1, 2]
    assert detail["rounds"][1]["answer"] is None and detail["award"] is None
    with pytest.raises(UnknownTaskError, match="as of"):
        model.task_detail("later")


def test_the_outcome_folded_before_the_request_still_counts_its_latency() -> None:
    records = negotiated_task()
    model = model_of(records[1:] + records[:1])  # the topics interleave as they are read

    charts = model.charts(BASE + 60_000, 1)
    assert charts["latency"]["count"] == 1
    assert charts["latency"]["p50"] == pytest.approx(1.06)


def test_charts_count_records_per_second_per_topic_and_latency_per_bucket() -> None:
    records = []
    for number in range(10):
        records += negotiated_task(f"t{number}", at=number * 1000)
    model = model_of(records)
    end = BASE + 59_999

    charts = model.charts(end, 1)
    rates = charts["rates"]["topics"]
    assert set(rates) == {
        "task-requests",
        "task-responses",
        "negotiations",
        "collaborations",
        "a2a.dlq",
        "a2a.requests",
        "a2a.events",
    }
    assert all(len(counts) == 60 for counts in rates.values())
    assert sum(rates["task-requests"]) == 10 and sum(rates["task-responses"]) == 50
    assert sum(rates["negotiations"]) == 20 and sum(rates["a2a.dlq"]) == 0
    assert charts["rates"]["first"] == BASE
    assert charts["latency"]["count"] == 10
    assert sum(bucket["count"] for bucket in charts["latency"]["buckets"]) == 10
    assert charts["latency"]["p99"] == pytest.approx(1.06)
    assert model.charts(BASE - 120_000, 1)["latency"]["count"] == 0
    with pytest.raises(ValidationError, match="minutes"):
        model.charts(end, 0)


def test_quantiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (quantile(values, 0.5), quantile(values, 0.99), quantile(values, 1.0)) == (50.0, 99.0, 100.0)
    assert quantile([], 0.5) is None


def test_a_dead_letter_shows_its_reason_stage_and_original_position_decoded_where_possible() -> None:
    original = negotiated_task()[0]
    headers = {
        "dlq.reason": "field 'capability' is empty",
        "dlq.stage": "validation",
        "dlq.error.class": "a2a_fast.errors.ValidationError",
        "dlq.agent": "prov-1",
        "dlq.original.topic": TOPICS.requests,
        "dlq.original.partition": "2",
        "dlq.original.offset": "41",
    }
    decoded = Observed(TOPICS.dlq, 0, 7, BASE + 5, "t1", headers, original.message, None)
    broken = Observed(TOPICS.dlq, 0, 8, BASE + 6, "junk", {"dlq.reason": "not a CloudEvent"}, None, "no ce_type")
    model = model_of([decoded, broken])

    page = model.dead_letter_page()
    assert page["total"] == 2
    newest, oldest = page["items"]
    assert (oldest["reason"], oldest["stage"], oldest["agent"]) == (
        "field 'capability' is empty",
        "validation",
        "prov-1",
    )
    assert (oldest["original_topic"], oldest["original_partition"], oldest["original_offset"]) == (
        TOPICS.requests,
        2,
        41,
    )
    assert oldest["task_id"] == "t1" and "REQUESTED 20.00" in oldest["summary"]
    assert (newest["reason"], newest["decode_error"], newest["key"]) == ("not a CloudEvent", "no ce_type", "junk")
    assert model.overview()["dead_letters"] == 2


def test_a_broken_record_on_a_mesh_topic_is_listed_with_why() -> None:
    broken = Observed(TOPICS.requests, 1, 3, BASE, "k", {}, None, "CloudEvent attribute 'id' is missing")
    elsewhere = observe(KIND_TASK_REQUEST, "req-1", 5, topic=TOPICS.collaborations, capability="x")
    model = model_of([broken, elsewhere])

    unreadable = model.dead_letter_page()["unreadable"]
    assert [record["error"] for record in unreadable] == [
        f"a a2a.task.request message does not belong on {TOPICS.collaborations}",
        "CloudEvent attribute 'id' is missing",
    ]
    assert model.overview()["unreadable"] == 2 and model.task_page()["total"] == 0


def test_records_of_other_topics_and_after_until_are_left_out() -> None:
    model = ConsoleModel(TOPICS, until=BASE + 10)
    records = negotiated_task()
    assert not model.observe(Observed("other", 0, 0, BASE, None, {}, None, "x"))
    assert model.observe(records[1])  # stamped BASE + 10: kept, though its request is not in the log
    assert not model.observe(records[2])  # BASE + 20: after until
    assert model.records == 1
    assert model.task_detail("t1")["task"]["state"] == "NEGOTIATING"


def test_workflow_sessions_show_each_steps_agent_attempts_and_state() -> None:
    model = model_of(session_records("s1") + session_records("s2", at=1000, fail_second=True))

    page = model.workflow_page()
    assert [item["session_id"] for item in page["items"]] == ["s2", "s1"]
    failed, running = page["items"]
    assert (running["state"], failed["state"]) == ("RUNNING", "FAILED")
    steps = [(step["name"], step["state"], step["agent"], len(step["attempts"])) for step in failed["steps"]]
    assert steps == [("summary", "COMPLETED", "exec-1", 1), ("translation", "FAILED", "exec-1", 2)]
    assert failed["error"] == "step 'translation' failed"
    assert [item["session_id"] for item in model.workflow_page(["running"])["items"]] == ["s1"]
    assert model.workflow_detail("s1")["steps"][1]["agent"] == "exec-2"
    with pytest.raises(UnknownSessionError):
        model.workflow_detail("nope")
    with pytest.raises(ValidationError, match="unknown session state"):
        model.workflow_page(["ASLEEP"])
    assert model.overview()["sessions"] == {"RUNNING": 1, "COMPLETED": 0, "FAILED": 1, "TIMED_OUT": 0}


def test_a_session_whose_start_comes_later_is_rebuilt_once_it_does() -> None:
    records = session_records("s1")
    model = model_of(records[1:] + records[:1])
    assert model.workflow_detail("s1")["steps"][0]["state"] == "COMPLETED"


def test_mesh_rows_join_the_directory_the_log_and_the_metrics() -> None:
    model = model_of(negotiated_task())
    rows = mesh_rows([agent("prov-1", current_task="t1"), agent("gone", alive=False)], model.tasks.activity(), {
        "prov-1": {"in_flight": 2}
    })  # fmt: skip
    by_id = {row["agent_id"]: row for row in rows}
    assert set(by_id) == {"prov-1", "gone", "req-1", "exec-1"}
    assert (by_id["prov-1"]["alive"], by_id["prov-1"]["current_task"], by_id["prov-1"]["load"]) == (True, "t1", 3)
    assert by_id["prov-1"]["metrics"] == {"in_flight": 2} and by_id["gone"]["alive"] is False
    assert by_id["req-1"]["registered"] is False and by_id["req-1"]["log"]["messages"] == 3
