"""The session state fold: steps in order, retries, deadline, replayed duplicates."""

from __future__ import annotations

import json
from typing import Any

from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_SESSION_EVENT, KIND_STEP_REQUEST, KIND_STEP_RESULT
from a2a_fast.workflows.sessions import SessionState
from tests.unit.workflows.support import TWO_STEPS

_offsets = iter(range(1_000_000))


def message(kind: str, **record: Any) -> Inbound:
    record.setdefault("timestamp", 1_000_000)
    return Inbound(kind, record, f"e{next(_offsets)}", "s1", "x", None, "s1", None, 1, "t", 0, next(_offsets))


def started(deadline_ms: int = 1_100_000) -> SessionState:
    start = message(
        KIND_SESSION_EVENT,
        task_id="s1",
        coordinator_id="c1",
        event="STARTED",
        workflow_id="report",
        workflow=json.dumps(TWO_STEPS.to_dict()),
        agent_ids=[],
        parameters={"text": "hello"},
        deadline=deadline_ms,
    )
    return SessionState.from_started(start)


def request(step: int, attempt: int, agent: str, at: int = 1_000_000) -> Inbound:
    return message(KIND_STEP_REQUEST, step_index=step, attempt=attempt, agent_id=agent, timestamp=at)


def result(step: int, attempt: int, status: str, output: Any = None, agent: str | None = "a") -> Inbound:
    text = None if output is None else json.dumps(output)
    return message(KIND_STEP_RESULT, step_index=step, attempt=attempt, agent_id=agent, status=status, output=text)


def test_session_runs_steps_in_order_and_feeds_outputs() -> None:
    session = started()
    action = session.next_action(1000.0)
    assert action is not None and (action.kind, action.step, action.attempt) == ("dispatch", 0, 1)
    session.apply(request(0, 1, "a"))
    action = session.next_action(1000.0)
    assert action is not None and (action.kind, action.due) == ("wait", 1005.0)
    session.apply(result(0, 1, "COMPLETED", {"summary": "hi"}))
    session.apply(result(0, 1, "TIMED_OUT"))  # a later result of the same attempt does not count
    assert session.steps[0].state == "COMPLETED" and session.steps[0].output == {"summary": "hi"}
    assert session.previous_output(1) == json.dumps({"summary": "hi"})
    session.apply(request(1, 1, "b"))
    session.apply(result(1, 1, "FAILED", agent="b"))
    assert session.steps[1].state == "FAILED"
    action = session.next_action(1000.0)
    assert action is not None and (action.kind, action.step) == ("dispatch", 2)
    assert session.previous_output(2) == json.dumps({"summary": "hi"})  # the optional failure is skipped
    session.apply(request(2, 1, "c"))
    session.apply(result(2, 1, "COMPLETED", {"text": "hallo"}, agent="c"))
    action = session.next_action(1000.0)
    assert action is not None and (action.kind, action.state) == ("finish", "COMPLETED")
    session.apply(message(KIND_SESSION_EVENT, event="COMPLETED", message=None))
    status = session.status()
    assert status.state == "COMPLETED" and status.output == {"text": "hallo"}
    assert [(s.state, s.agent, len(s.attempts)) for s in status.steps] == [
        ("COMPLETED", "a", 1),
        ("FAILED", "b", 1),
        ("COMPLETED", "c", 1),
    ]
    assert session.next_action(1000.0) is None
    assert status.to_dict()["steps"][0]["agent"] == "a"


def test_required_step_fails_the_session_after_its_retries() -> None:
    session = started()
    session.apply(request(0, 1, "a"))
    session.apply(result(0, 1, "TIMED_OUT"))
    action = session.next_action(1000.0)
    assert action is not None and (action.kind, action.step, action.attempt) == ("dispatch", 0, 2)
    session.apply(result(0, 2, "FAILED", agent=None))  # no agent could take the retry
    assert [a.agent_id for a in session.steps[0].attempts] == ["a", None]
    action = session.next_action(1000.0)
    assert action is not None and action.kind == "finish" and action.state == "FAILED"
    assert action.message is not None and "'summarize'" in action.message and "2 attempt" in action.message


def test_session_deadline_and_replayed_duplicates() -> None:
    session = started(deadline_ms=1_010_000)
    session.apply(request(0, 1, "a"))
    session.apply(request(0, 1, "a"))  # a duplicate request changes nothing
    assert len(session.steps[0].attempts) == 1
    action = session.next_action(1010.0)
    assert action is not None and action.kind == "expire"
    session.apply(message(KIND_SESSION_EVENT, event="TIMED_OUT", message="late"))
    session.apply(message(KIND_SESSION_EVENT, event="COMPLETED", message=None))  # the first end counts
    assert (session.state, session.error, session.steps[0].state) == ("TIMED_OUT", "late", "TIMED_OUT")
