"""What the console tests share: records as the log reader gives them (a negotiated task, a workflow session),
the model folded from them, and a directory row."""

from __future__ import annotations

import itertools
import json
from typing import Any

from a2a_fast.console.model import ConsoleModel
from a2a_fast.mesh.directory import AgentCard, AgentInfo
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import (
    KIND_NEGOTIATION,
    KIND_SESSION_EVENT,
    KIND_STEP_REQUEST,
    KIND_STEP_RESULT,
    KIND_TASK_REQUEST,
    KIND_TASK_RESPONSE,
)
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport.log import Observed
from a2a_fast.workflows.definitions import WorkflowDefinition, WorkflowStep

__all__ = ["BASE", "TOPICS", "agent", "model_of", "negotiated_task", "observe", "session_records"]

TOPICS = TopicNames("p.")
BASE = 1_800_000_000_000  # epoch milliseconds of every scenario's first record
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

_numbers = itertools.count()


def observe(
    kind: str,
    source: str,
    at: int,
    task_id: str = "t1",
    target: str | None = None,
    topic: str | None = None,
    **record: Any,
) -> Observed:
    """A record as the log reader gives it: decoded, on the topic its kind travels on."""
    number = next(_numbers)
    name = topic or TOPICS.for_kind(kind)
    message = Inbound(
        kind=kind,
        record={"task_id": task_id, "timestamp": BASE + at, **record},
        event_id=f"e{number}",
        task_id=task_id,
        source_agent=source,
        target_agent=target,
        collaboration_id=task_id,
        traceparent=TRACE,
        schema_id=1,
        topic=name,
        partition=0,
        offset=number,
    )
    return Observed(name, 0, number, BASE + at, task_id, {}, message, None)


def negotiated_task(task_id: str = "t1", at: int = 0, capability: str = "translate") -> list[Observed]:
    """Request, two rounds (ask 90, counter 55; ask 75, accept), award at 75, progress, completion."""

    def response(source: str, offset: int, status: str, **fields: Any) -> Observed:
        return observe(KIND_TASK_RESPONSE, source, at + offset, task_id, "req-1", status=status, **fields)

    def negotiation(offset: int, action: str, **fields: Any) -> Observed:
        return observe(KIND_NEGOTIATION, "req-1", at + offset, task_id, "prov-1", action=action, **fields)

    return [
        observe(
            KIND_TASK_REQUEST, "req-1", at, task_id, requester_id="req-1", capability=capability,
            description="release notes", proposed_cost=20.0, priority=1, parameters={},
        ),
        response("prov-1", 10, "NEGOTIATING", counter_offer=90.0, round=1),
        negotiation(20, "COUNTER", offer=55.0, round=1, reason="too dear"),
        response("prov-1", 30, "NEGOTIATING", counter_offer=75.0, round=2),
        negotiation(40, "ACCEPT", offer=75.0, round=2),
        response("prov-1", 50, "ACCEPTED", agreed_cost=75.0, round=2),
        response("exec-1", 60, "RUNNING", progress=0.5, message="half-way"),
        response("exec-1", 1060, "COMPLETED", result='{"text": "[de] notes"}', progress=1.0),
    ]  # fmt: skip


def model_of(records: list[Observed], until: int | None = None) -> ConsoleModel:
    model = ConsoleModel(TOPICS, until=until)
    for record in records:
        model.observe(record)
    return model


def session_records(session_id: str = "s1", at: int = 0, fail_second: bool = False) -> list[Observed]:
    definition = WorkflowDefinition(
        "brief",
        "brief",
        "",
        [WorkflowStep("summary", "", ["summarize"]), WorkflowStep("translation", "", ["translate"], retries=1)],
    )

    def event(offset: int, kind: str, **record: Any) -> Observed:
        return observe(kind, "coord-1", at + offset, session_id, topic=TOPICS.collaborations, **record)

    records = [
        event(
            0, KIND_SESSION_EVENT, event="STARTED", workflow=json.dumps(definition.to_dict()),
            coordinator_id="coord-1", agent_ids=[], parameters={"text": "x"}, deadline=BASE + at + 60_000,
        ),
        event(10, KIND_STEP_REQUEST, step_index=0, attempt=1, agent_id="exec-1"),
        event(20, KIND_STEP_RESULT, step_index=0, attempt=1, agent_id="exec-1", status="COMPLETED", output='"s"'),
        event(30, KIND_STEP_REQUEST, step_index=1, attempt=1, agent_id="exec-2"),
    ]  # fmt: skip
    if fail_second:
        records += [
            event(40, KIND_STEP_RESULT, step_index=1, attempt=1, agent_id="exec-2", status="FAILED", error="boom"),
            event(50, KIND_STEP_REQUEST, step_index=1, attempt=2, agent_id="exec-1"),
            event(60, KIND_STEP_RESULT, step_index=1, attempt=2, agent_id="exec-1", status="FAILED", error="boom"),
            event(70, KIND_SESSION_EVENT, event="FAILED", message="step 'translation' failed"),
        ]
    return records


def agent(agent_id: str, alive: bool = True, current_task: str | None = None) -> AgentInfo:
    card = AgentCard(agent_id, "provider", capabilities=("translate",), endpoints={"http": "http://127.0.0.1:9"})
    return AgentInfo(card, "BUSY", current_task, 0.5, 0.0, 0, 0, BASE / 1000, alive, load=3)
