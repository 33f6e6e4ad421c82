"""The coordinator without a broker (its API, its bounded memory, its records), and on the in-memory transport."""

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


_offsets = iter(range(1_000_000))


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
