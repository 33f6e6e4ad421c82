"""Workflow definitions, agent choice and the session state fold, without a broker."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from a2a_fast.agents.base import AgentConfig
from a2a_fast.agents.coordinator import Coordinator
from a2a_fast.config import ProtocolConfig, WorkflowConfig
from a2a_fast.errors import UnknownSessionError, UnknownWorkflowError, WorkflowError
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_SESSION_EVENT, KIND_STEP_REQUEST, KIND_STEP_RESULT
from a2a_fast.workflows.definitions import WorkflowDefinition, WorkflowStep
from a2a_fast.workflows.sessions import SessionState, choose_agent, live_agents_for

TWO_STEPS = WorkflowDefinition(
    "report",
    "Report",
    "summarise then translate",
    [
        WorkflowStep("summarize", "Summarise", ["summarize"], {"words": "6"}, timeout=5, retries=1),
        WorkflowStep("enrich", "Optional enrichment", ["classify"], required=False, timeout=5),
        WorkflowStep("translate", "Translate", ["translate"], timeout=5),
    ],
)


def test_step_normalises_and_validates() -> None:
    step = WorkflowStep("s", capabilities=[" Summarize "], timeout=2)
    assert step.capabilities == ("summarize",) and step.timeout == 2.0 and step.attempts_allowed == 1
    with pytest.raises(WorkflowError, match="capabilities must be a list"):
        WorkflowStep("s", capabilities="summarize")
    with pytest.raises(WorkflowError, match="at least one capability"):
        WorkflowStep("s", capabilities=[])
    with pytest.raises(WorkflowError, match="timeout must be"):
        WorkflowStep("s", capabilities=["a"], timeout=0)
    with pytest.raises(WorkflowError, match="retries must be"):
        WorkflowStep("s", capabilities=["a"], retries=-1)
    with pytest.raises(WorkflowError, match="params must map"):
        WorkflowStep("s", capabilities=["a"], params={"n": 1})  # type: ignore[dict-item]


def test_definition_validates_and_round_trips() -> None:
    with pytest.raises(WorkflowError, match="at least one step"):
        WorkflowDefinition("w", "W", "", [])
    with pytest.raises(WorkflowError, match="'a' is used twice"):
        WorkflowDefinition("w", "W", "", [WorkflowStep("a", capabilities=["x"]), WorkflowStep("a", capabilities=["y"])])
    assert WorkflowDefinition.from_dict(json.loads(json.dumps(TWO_STEPS.to_dict()))) == TWO_STEPS
    with pytest.raises(WorkflowError, match="workflow 'w': 'steps' is missing"):
        WorkflowDefinition.from_dict({"id": "w"})


@dataclass
class Card:
    agent_id: str


@dataclass
class Info:
    card: Card


class Locator:
    def __init__(self, offers: dict[str, list[str]], dead: set[str] | None = None) -> None:
        self.offers = offers
        self.dead = dead or set()

    def find_agents_by_capability(self, capability: str) -> list[Info]:
        return [Info(Card(a)) for a, caps in self.offers.items() if capability in caps and a not in self.dead]

    def is_agent_alive(self, agent_id: str) -> bool:
        return agent_id in self.offers and agent_id not in self.dead


def test_live_agents_need_every_capability_and_the_allowed_list() -> None:
    locator = Locator({"a": ["x", "y"], "b": ["x"], "c": ["x", "y"]}, dead={"c"})
    assert live_agents_for(locator, ["x"]) == ["a", "b"]
    assert live_agents_for(locator, ["x", "y"]) == ["a"]
    assert live_agents_for(locator, ["x"], among=["b", "c"]) == ["b"]
    assert live_agents_for(locator, ["z"]) == []


def test_a_retry_prefers_an_agent_not_tried() -> None:
    assert choose_agent([], []) is None
    assert choose_agent(["a", "b"], [], turn=1) == "b"
    assert choose_agent(["a", "b"], ["a"], turn=0) == "b"
    assert choose_agent(["a", "b"], ["a", "b"]) == "a"
    assert choose_agent(["a", "b"], ["a", "b", "a"]) == "b"
    assert choose_agent(["a"], ["a", None]) == "a"


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


def test_coordinator_api_errors_without_a_broker() -> None:
    coordinator = Coordinator(
        AgentConfig("c1", "127.0.0.1:1", "http://127.0.0.1:1"), Locator({}), workflows=[TWO_STEPS]
    )
    assert [w.id for w in coordinator.list_workflows()] == ["report"]
    with pytest.raises(UnknownSessionError, match="no session 'nope'"):
        coordinator.get_collaboration_status("nope")
    with pytest.raises(WorkflowError):
        coordinator.register_workflow({"id": "x"})  # type: ignore[arg-type]

    async def start_unknown() -> None:
        await coordinator.start_collaboration("missing")

    import asyncio

    with pytest.raises(UnknownWorkflowError, match="registered: report"):
        asyncio.run(start_unknown())


def test_a_coordinator_keeps_only_the_last_ended_sessions() -> None:
    limits = ProtocolConfig(workflows=WorkflowConfig(retained_finished_sessions=2))
    coordinator = Coordinator(
        AgentConfig("c1", "127.0.0.1:1", "http://127.0.0.1:1"), Locator({}), protocol=limits, workflows=[TWO_STEPS]
    )

    def on_log(kind: str, session_id: str, **record: Any) -> None:
        record.setdefault("timestamp", 1_000_000)
        offset = next(_offsets)
        inbound = Inbound(kind, record, f"e{offset}", session_id, "c1", None, session_id, None, 1, "t", 0, offset)
        coordinator._apply(inbound)

    for session_id in ("s1", "s2", "s3", "s4"):
        on_log(
            KIND_SESSION_EVENT, session_id, coordinator_id="c1", event="STARTED", workflow_id="report",
            workflow=json.dumps(TWO_STEPS.to_dict()), agent_ids=[], parameters={}, deadline=2_000_000,
        )  # fmt: skip
    for session_id in ("s2", "s1", "s4"):
        on_log(KIND_SESSION_EVENT, session_id, event="FAILED", message="stopped")
    # s2 ended first and is forgotten; s3 still runs and is kept whatever the limit
    assert [status.session_id for status in coordinator.list_sessions()] == ["s1", "s3", "s4"]
    assert coordinator.get_collaboration_status("s1").state == "FAILED"
    assert coordinator.active_sessions() == 1
    with pytest.raises(UnknownSessionError, match="keeps the last 2 ended sessions"):
        coordinator.get_collaboration_status("s2")
    on_log(KIND_STEP_RESULT, "s2", step_index=0, attempt=1, agent_id="a", status="COMPLETED", output=None)
    assert "s2" not in {status.session_id for status in coordinator.list_sessions()}  # a late record revives nothing


def test_collaboration_records_share_a_topic_with_a_subject_per_record() -> None:
    from a2a_fast.protocol.kinds import KIND_TASK_REQUEST
    from a2a_fast.protocol.topics import TopicNames
    from a2a_fast.transport.registry import SchemaCatalog

    with SchemaCatalog("http://127.0.0.1:1", TopicNames("p.")) as catalog:
        assert catalog.subject(KIND_STEP_REQUEST) == "p.collaborations-a2a.collaboration.StepRequest"
        assert catalog.subject(KIND_SESSION_EVENT) == "p.collaborations-a2a.collaboration.SessionEvent"
        assert catalog.subject(KIND_TASK_REQUEST) == "p.task-requests-value"
