from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from typing import Any

import pytest

from a2a_fast.errors import UnknownTaskError, ValidationError
from a2a_fast.history.events import describe_message, message_event, subject_label
from a2a_fast.history.tasks import TaskLog, parse_time, timeline_entry
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import (
    KIND_NEGOTIATION,
    KIND_SESSION_EVENT,
    KIND_STEP_REQUEST,
    KIND_STEP_RESULT,
    KIND_TASK_REQUEST,
    KIND_TASK_RESPONSE,
)

_ids = itertools.count()


def message(kind: str, source: str, stamp: int, target: str | None = None, **record: Any) -> Inbound:
    number = next(_ids)
    return Inbound(
        kind=kind,
        record={"task_id": "t1", "timestamp": stamp, **record},
        event_id=f"e{number}",
        task_id="t1",
        source_agent=source,
        target_agent=target,
        collaboration_id="t1",
        traceparent=None,
        schema_id=1,
        topic={KIND_TASK_REQUEST: "req", KIND_TASK_RESPONSE: "resp", KIND_NEGOTIATION: "neg"}[kind],
        partition=0,
        offset=number,
    )


def response(source: str, stamp: int, status: str, **fields: Any) -> Inbound:
    return message(KIND_TASK_RESPONSE, source, stamp, "req-1", status=status, **fields)


REQUEST = message(
    KIND_TASK_REQUEST, "req-1", 1000, requester_id="req-1", capability="translate", description="notes",
    proposed_cost=20.0, priority=1, parameters={"lang": "de"},
)  # fmt: skip
COUNTER_ASK = response("prov-1", 1010, "NEGOTIATING", counter_offer=90.0, round=1)
COUNTER = message(KIND_NEGOTIATION, "req-1", 1020, "prov-1", action="COUNTER", offer=55.0, round=1)
ACCEPTED = response("prov-1", 1030, "ACCEPTED", agreed_cost=75.0, round=2)
RUNNING = response("exec-1", 1040, "RUNNING", progress=0.5)
COMPLETED = response("exec-1", 1050, "COMPLETED", result='{"ok": true}', progress=1.0)
LIFE = [REQUEST, COUNTER_ASK, COUNTER, ACCEPTED, RUNNING, COMPLETED]


def test_a_whole_life_folds_into_state_and_timeline() -> None:
    task = TaskLog().fold_all(LIFE).get("t1")
    assert task is not None
    assert (task.state, task.requester, task.capability, task.parameters) == (
        "COMPLETED",
        "req-1",
        "translate",
        {"lang": "de"},
    )
    assert (task.proposed_cost, task.last_offer, task.last_ask, task.agreed_cost) == (20.0, 55.0, 90.0, 75.0)
    assert (task.rounds, task.answered_round, task.provider, task.executor) == (2, 1, "prov-1", "exec-1")
    assert task.result == {"ok": True} and task.final
    assert [entry.event for entry in task.timeline] == [
        "REQUESTED", "NEGOTIATING", "COUNTER", "ACCEPTED", "RUNNING", "COMPLETED"
    ]  # fmt: skip
    assert [entry.role for entry in task.timeline] == [
        "requester",
        "provider",
        "requester",
        "provider",
        "executor",
        "executor",
    ]


def test_topics_read_in_any_order_give_the_same_task() -> None:
    interleaved = [COMPLETED, RUNNING, COUNTER_ASK, ACCEPTED, COUNTER, REQUEST]
    # Within one topic partition order is kept: responses stay in their order.
    ordered = [COUNTER, REQUEST, COUNTER_ASK, ACCEPTED, RUNNING, COMPLETED]
    expected = TaskLog().fold_all(LIFE).get("t1")
    again = TaskLog().fold_all(ordered).get("t1")
    assert again is not None and expected is not None
    assert again.to_dict() == expected.to_dict()
    scrambled = TaskLog().fold_all(interleaved).get("t1")
    assert scrambled is not None and [e.event for e in scrambled.timeline] == [e.event for e in expected.timeline]


def test_a_late_progress_report_does_not_reopen_a_finished_task() -> None:
    task = TaskLog().fold_all([*LIFE, response("exec-1", 1060, "RUNNING", progress=0.9)]).get("t1")
    assert task is not None and task.state == "COMPLETED"


def test_redeliveries_are_folded_once_and_until_cuts_the_log() -> None:
    log = TaskLog().fold_all([*LIFE, COMPLETED, ACCEPTED])
    task = log.get("t1")
    assert task is not None and len(task.timeline) == len(LIFE) and log.folded == len(LIFE)

    earlier = TaskLog(until=1035).fold_all(LIFE).get("t1")
    assert earlier is not None and (earlier.state, earlier.executor) == ("ACCEPTED", None)
    assert TaskLog(until=999).fold_all(LIFE).tasks == {}


def for_task(task_id: str, life: list[Inbound]) -> list[Inbound]:
    return [
        dataclasses.replace(
            m, task_id=task_id, event_id=f"{task_id}/{m.event_id}", record={**m.record, "task_id": task_id}
        )
        for m in life
    ]


def test_a_bounded_log_forgets_the_oldest_ended_tasks_and_still_counts_them() -> None:
    log = TaskLog(retained_finished=2)
    log.fold_all(for_task("open", LIFE[:4]))
    for task_id in ("a", "b", "c"):
        log.fold_all(for_task(task_id, LIFE))
    log.fold_all(for_task("rejected", [REQUEST, response("prov-1", 1010, "REJECTED", message="no skill")]))
    assert sorted(log.tasks) == ["c", "open", "rejected"]  # the open task stays whatever the bound
    assert log.counts() == {"ACCEPTED": 1, "COMPLETED": 3, "REJECTED": 1}
    assert log.fold_all(for_task("a", LIFE)).get("a") is None  # a redelivery does not bring a forgotten task back
    assert log.counts()["COMPLETED"] == 3
    assert log.fold_all(for_task("open", LIFE[4:])).tasks["open"].state == "COMPLETED"
    assert sorted(log.tasks) == ["open", "rejected"]
    with pytest.raises(ValueError, match="retained_finished"):
        TaskLog(retained_finished=0)


def test_queue_selection_and_activity() -> None:
    log = TaskLog().fold_all(LIFE[:5])
    assert {name: [t.task_id for t in tasks] for name, tasks in log.execution_queue().items()} == {"exec-1": ["t1"]}
    assert [t.task_id for t in log.select(["running"])] == ["t1"] and log.select(["COMPLETED"]) == []
    with pytest.raises(ValidationError, match=r"unknown task state\(s\) \['DONE'\]"):
        log.select(["DONE"])
    activity = log.activity()
    assert activity["prov-1"].roles == ["provider"] and activity["prov-1"].open_tasks == {"t1"}
    assert activity["req-1"].messages == 2 and activity["exec-1"].last_seen == 1040
    assert TaskLog().fold_all(LIFE[:4]).execution_queue() == {"": [TaskLog().fold_all(LIFE[:4]).tasks["t1"]]}


def test_timeline_lines_read_well() -> None:
    assert timeline_entry(COUNTER_ASK).describe() == "prov-1 NEGOTIATING 90.00 (round 1) -> req-1"
    assert timeline_entry(RUNNING).describe() == "exec-1 RUNNING 50% -> req-1"
    rejected = response("prov-1", 1, "REJECTED", message="no skill 'teleport'")
    assert timeline_entry(rejected).describe() == "prov-1 REJECTED -> req-1: no skill 'teleport'"


def canceling(source: str, stamp: int, reason: str | None = "not needed", **fields: Any) -> Inbound:
    return response(source, stamp, "CANCELING", message=reason, **fields)


def test_a_task_canceled_while_running_ends_canceled_by_its_executor() -> None:
    late_progress = response("exec-1", 1046, "RUNNING", progress=0.7)
    canceled = response("exec-1", 1050, "CANCELED", agreed_cost=75.0, message="canceled by ops-1: not needed")
    life = [*LIFE[:5], canceling("ops-1", 1045), late_progress, canceled]
    log = TaskLog().fold_all(life)
    task = log.get("t1")
    assert task is not None and task.final
    assert (task.state, task.executor, task.canceled_by) == ("CANCELED", "exec-1", "ops-1")
    assert task.error == "canceled by ops-1: not needed"
    entries = task.timeline[-3:]
    assert [(e.event, e.role) for e in entries] == [
        ("CANCELING", "requester"), ("RUNNING", "executor"), ("CANCELED", "executor")
    ]  # fmt: skip
    assert entries[-1].describe() == "exec-1 CANCELED 75.00 -> req-1: canceled by ops-1: not needed"
    assert [t.task_id for t in log.select(["canceled"])] == ["t1"] and log.counts() == {"CANCELED": 1}

    being_canceled = TaskLog().fold_all(life[:-1])
    assert being_canceled.tasks["t1"].state == "CANCELING", "a late progress report does not undo a cancel"
    assert [t.task_id for t in being_canceled.execution_queue()["exec-1"]] == ["t1"]
    assert [t.task_id for t in being_canceled.select(["CANCELING"])] == ["t1"]

    after_the_outcome = TaskLog().fold_all([*life, response("exec-1", 1060, "COMPLETED", result="1")]).get("t1")
    assert after_the_outcome is not None and after_the_outcome.state == "CANCELED"


def test_a_task_canceled_before_it_was_accepted_ends_on_the_requester_side() -> None:
    own = message(KIND_TASK_RESPONSE, "req-1", 1025, "req-1", status="CANCELING", message=None)
    canceled = message(KIND_TASK_RESPONSE, "req-1", 1026, "req-1", status="CANCELED", message="canceled by req-1")
    late_accept = response("prov-1", 1030, "ACCEPTED", agreed_cost=75.0, round=2)
    task = TaskLog().fold_all([*LIFE[:3], own, canceled, late_accept]).get("t1")
    assert task is not None
    assert (task.state, task.executor, task.error) == ("CANCELED", None, "canceled by req-1")
    assert [(e.event, e.role) for e in task.timeline[3:]] == [
        ("CANCELING", "requester"), ("CANCELED", "requester"), ("ACCEPTED", "provider")
    ]  # fmt: skip
    assert timeline_entry(own).describe() == "req-1 CANCELING", "no arrow to the sender itself"


def test_a_request_no_provider_serves_is_rejected_on_the_requester_side() -> None:
    """A requester that finds no live provider rejects its own request (addressed to itself, as
    :mod:`a2a_fast.protocol.roles` allows): it stays a requester in the log, as ``a2a-fast agents`` lists it."""
    own = message(KIND_TASK_REQUEST, "cli-1", 1000, requester_id="cli-1", capability="translate", proposed_cost=20.0)
    unserved = message(KIND_TASK_RESPONSE, "cli-1", 1001, "cli-1", status="REJECTED", message="no live provider")
    log = TaskLog().fold_all([own, unserved])
    task = log.get("t1")
    assert task is not None and task.state == "REJECTED"
    assert [(e.event, e.role) for e in task.timeline] == [("REQUESTED", "requester"), ("REJECTED", "requester")]
    assert log.activity()["cli-1"].roles == ["requester"]
    refused = response("prov-1", 1010, "REJECTED", message="no skill")
    assert timeline_entry(refused).role == "provider", "a provider's refusal is addressed to the requester"


def test_a_status_newer_than_the_readers_schema_is_on_the_timeline_and_changes_nothing() -> None:
    newer = response("exec-1", 1045, "UNKNOWN", message="paused by ops")
    task = TaskLog().fold_all([*LIFE[:5], newer]).get("t1")
    assert task is not None and task.state == "RUNNING" and task.progress == 0.5
    entry = task.timeline[-1]
    assert (entry.event, entry.role) == ("UNKNOWN", "unknown")
    assert entry.describe() == "exec-1 UNKNOWN -> req-1: a status newer than this reader's schema: paused by ops"


def test_find_takes_an_id_or_a_unique_prefix_and_names_what_is_missing() -> None:
    log = TaskLog().fold_all([*LIFE, *for_task("abc", LIFE), *for_task("abd", LIFE)])
    assert log.find("abc").task_id == "abc" and log.find("t").task_id == "t1"
    with pytest.raises(UnknownTaskError, match="prefix 'ab' matches 2 tasks"):
        log.find("ab")
    with pytest.raises(UnknownTaskError, match="task 'nope' is not in the log"):
        log.find("nope")
    with pytest.raises(UnknownTaskError, match="task '' is not in the log"):
        log.find("")


def test_times_parse_from_iso_epoch_and_age() -> None:
    now = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
    assert (
        parse_time("2026-11-21T11:30:00Z")
        == parse_time("2026-11-21T11:30:00")
        == int(dt.datetime(2026, 11, 21, 11, 30, tzinfo=dt.UTC).timestamp() * 1000)
    )
    assert parse_time("1795260000.5") == 1795260000500
    assert parse_time("10m", now) == int((now - dt.timedelta(minutes=10)).timestamp() * 1000)
    assert parse_time("1.5h", now) == int((now - dt.timedelta(minutes=90)).timestamp() * 1000)
    with pytest.raises(ValidationError, match="ISO 8601"):
        parse_time("last tuesday")


def collaboration(kind: str, source: str, target: str | None = None, **record: Any) -> Inbound:
    return dataclasses.replace(
        message(KIND_TASK_REQUEST, source, 2000, target),
        kind=kind,
        record={"task_id": "s1", "timestamp": 2000, **record},
        task_id="s1",
        topic="collaborations",
    )


WORKFLOW = '{"id": "brief", "steps": [{"name": "summary"}, {"name": "translation"}]}'
SESSION_STARTED = collaboration(
    KIND_SESSION_EVENT, "coord-1", event="STARTED", coordinator_id="coord-1", workflow_id="brief", workflow=WORKFLOW,
    agent_ids=[], parameters={"text": "x"},
)  # fmt: skip
STEP_REQUEST = collaboration(
    KIND_STEP_REQUEST, "coord-1", "exec-1", coordinator_id="coord-1", workflow_id="brief", step_index=0,
    step_name="summary", attempt=1, agent_id="exec-1", capability="summarize", timeout_ms=10_000,
)  # fmt: skip


def test_collaboration_messages_read_as_sessions_and_steps() -> None:
    assert describe_message(SESSION_STARTED) == "coord-1 STARTED brief: steps summary, translation"
    with_agents = dataclasses.replace(SESSION_STARTED, record={**SESSION_STARTED.record, "agent_ids": ["a", "b"]})
    assert describe_message(with_agents) == "coord-1 STARTED brief: steps summary, translation; agents a, b"
    unreadable = dataclasses.replace(SESSION_STARTED, record={**SESSION_STARTED.record, "workflow": "{not json"})
    assert describe_message(unreadable) == "coord-1 STARTED brief: steps ?"
    ended = collaboration(KIND_SESSION_EVENT, "coord-1", event="FAILED", workflow_id="brief", message="step 'x' failed")
    assert describe_message(ended) == "coord-1 FAILED brief: step 'x' failed"
    assert (message_event(ended), subject_label(ended)) == ("FAILED", "session")

    assert describe_message(STEP_REQUEST) == "coord-1 REQUESTED step 1 summary (summarize) attempt 1 -> exec-1"
    assert message_event(STEP_REQUEST) == "REQUESTED"
    done = collaboration(
        KIND_STEP_RESULT, "exec-1", step_index=0, step_name="summary", attempt=1, agent_id="exec-1",
        status="COMPLETED", output='{"summary": "short"}',
    )  # fmt: skip
    assert describe_message(done) == 'exec-1 COMPLETED step 1 summary attempt 1: {"summary": "short"}'
    timed_out = collaboration(
        KIND_STEP_RESULT, "coord-1", step_index=1, step_name="translation", attempt=2, agent_id="exec-2",
        status="TIMED_OUT", error="no result within 10s",
    )  # fmt: skip
    assert describe_message(timed_out) == (
        "coord-1 TIMED_OUT step 2 translation attempt 2 (agent exec-2): no result within 10s"
    )
    nobody = dataclasses.replace(timed_out, record={**timed_out.record, "agent_id": None, "status": "FAILED"})
    no_agent = "coord-1 FAILED step 2 translation attempt 2 (no live agent): no result within 10s"
    assert describe_message(nobody) == no_agent


def test_task_messages_read_as_their_timeline_entry_and_other_kinds_have_none() -> None:
    for task_message in LIFE:
        assert describe_message(task_message) == timeline_entry(task_message).describe()
        assert message_event(task_message) == timeline_entry(task_message).event
        assert subject_label(task_message) == "task"
    for other in (SESSION_STARTED, STEP_REQUEST):
        with pytest.raises(ValidationError, match=rf"{other.kind} is not a task message"):
            timeline_entry(other)
        assert TaskLog().fold(other) is None
