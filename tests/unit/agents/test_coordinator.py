"""The coordinator without a broker (its API, its bounded memory, its records), and on the in-memory transport."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from a2a_fast.agents.base import AgentConfig
from a2a_fast.agents.coordinator import Coordinator
from a2a_fast.agents.steps import StepRunner
from a2a_fast.agents.tasks import TaskContext, TaskHandler
from a2a_fast.config import ProtocolConfig, WorkflowConfig
from a2a_fast.errors import UnknownSessionError, UnknownWorkflowError, WorkflowError
from a2a_fast.mesh.directory import AgentDirectory
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_SESSION_EVENT, KIND_STEP_REQUEST, KIND_STEP_RESULT
from a2a_fast.transport.memory import MemoryTransport
from a2a_fast.workflows.definitions import WorkflowDefinition, WorkflowStep
from a2a_fast.workflows.sessions import CollaborationStatus
from tests.scenarios import Mesh, fresh_mesh, run_strict
from tests.unit.workflows.support import REPORT, TWO_STEPS, Locator, fails, session_log, translate

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


# --- the coordinator on the in-memory transport --------------------------------------------------------


async def summarize(task: TaskContext) -> dict[str, Any]:
    words = task.parameters.get("text", task.description).split()
    return {"summary": " ".join(words[:3])}


async def hangs(task: TaskContext) -> None:
    await asyncio.Event().wait()  # until the step's timeout cancels it


@contextlib.asynccontextmanager
async def step_agents(mesh: Mesh, agents: Mapping[str, Mapping[str, TaskHandler]]) -> AsyncIterator[AgentDirectory]:
    """A StepRunner per entry, each listed in the mesh's directory, and that directory for the coordinator."""
    directory = AgentDirectory(mesh.transport, mesh.topics.agents, ProtocolConfig())
    async with directory, contextlib.AsyncExitStack() as stack:
        for agent_id, handlers in agents.items():
            runner = await stack.enter_async_context(StepRunner(mesh.config(agent_id), handlers))
            await runner.wait_assigned()
        await directory.wait_for(lambda found: all(found.is_agent_alive(a) for a in agents), 10)
        yield directory


def run_session(
    mesh: Mesh, agents: Mapping[str, Mapping[str, TaskHandler]], flow: WorkflowDefinition, **start: Any
) -> CollaborationStatus:
    async def scenario() -> CollaborationStatus:
        async with step_agents(mesh, agents) as directory:
            coordinator = Coordinator(mesh.config("coordinator-1"), directory, workflows=[flow])
            async with coordinator:
                session = await coordinator.start_collaboration(flow.id, **start)
                return await asyncio.wait_for(coordinator.wait_for(session), 30)

    return run_strict(scenario)


def test_steps_run_in_order_each_on_an_agent_offering_it_and_feed_the_next() -> None:
    agents = {"agent-a": {"summarize": summarize}, "agent-b": {"translate": translate}}
    with fresh_mesh(MemoryTransport()) as mesh:
        status = run_session(mesh, agents, REPORT, params={"text": "one two three four"})
        written = session_log(mesh, status.session_id)
    assert status.state == "COMPLETED", status
    assert [(s.name, s.state, s.agent, len(s.attempts)) for s in status.steps] == [
        ("summary", "COMPLETED", "agent-a", 1),
        ("german", "COMPLETED", "agent-b", 1),
    ]
    assert status.output == {"german": "[de] one two three", "session": status.session_id}
    assert written == [
        (KIND_SESSION_EVENT, "STARTED", None),
        (KIND_STEP_REQUEST, "summary", "agent-a"),
        (KIND_STEP_RESULT, "COMPLETED", "coordinator-1"),
        (KIND_STEP_REQUEST, "german", "agent-b"),
        (KIND_STEP_RESULT, "COMPLETED", "coordinator-1"),
        (KIND_SESSION_EVENT, "COMPLETED", None),
    ]


def test_a_timed_out_attempt_is_retried_on_another_agent() -> None:
    flow = WorkflowDefinition(
        "retry", "Retry", "", [WorkflowStep("summary", "", ["summarize"], timeout=0.5, retries=1)]
    )
    agents = {"a-slow": {"summarize": hangs}, "b-fast": {"summarize": summarize}}
    with fresh_mesh(MemoryTransport()) as mesh:
        status = run_session(mesh, agents, flow, agent_ids=["a-slow", "b-fast"], params={"text": "x y"})
    assert status.state == "COMPLETED", status
    [step] = status.steps
    assert [(a.attempt, a.agent_id, a.state) for a in step.attempts] == [
        (1, "a-slow", "TIMED_OUT"),
        (2, "b-fast", "COMPLETED"),
    ]
    assert step.output == {"summary": "x y"}


def test_a_step_failing_past_its_retries_fails_the_session_and_an_optional_one_does_not() -> None:
    doomed = WorkflowDefinition(
        "doomed",
        "Doomed",
        "",
        [WorkflowStep("summary", "", ["summarize"], timeout=10, retries=1), WorkflowStep("german", "", ["translate"])],
    )
    optional = WorkflowDefinition(
        "optional",
        "Optional middle",
        "",
        [
            WorkflowStep("summary", "", ["summarize"], timeout=10),
            WorkflowStep("extra", "", ["enrich"], required=False, timeout=10),
            WorkflowStep("german", "", ["translate"], timeout=10),
        ],
    )
    with fresh_mesh(MemoryTransport()) as mesh:
        agents = {"agent-1": {"summarize": fails, "translate": translate}, "agent-2": {"summarize": fails}}
        failed = run_session(mesh, agents, doomed)
    with fresh_mesh(MemoryTransport()) as mesh:
        agents = {"agent-1": {"summarize": summarize, "translate": translate, "enrich": fails}}
        passed = run_session(mesh, agents, optional, params={"text": "alpha beta"})
    assert failed.state == "FAILED" and "'summary'" in (failed.error or ""), failed
    summary, german = failed.steps
    assert summary.state == "FAILED" and sorted(a.agent_id or "" for a in summary.attempts) == ["agent-1", "agent-2"]
    assert all("cannot be done" in (a.error or "") for a in summary.attempts)
    assert (german.state, german.attempts) == ("PENDING", [])
    assert passed.state == "COMPLETED" and [s.state for s in passed.steps] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert passed.output["german"] == "[de] alpha beta"  # the summary skipped over the failed step


def test_a_session_past_its_deadline_times_out_naming_the_step() -> None:
    # the step's own timeout is longer than the session's: the session's deadline ends it
    flow = WorkflowDefinition("stuck", "Stuck", "", [WorkflowStep("summary", "", ["summarize"], timeout=2)])
    with fresh_mesh(MemoryTransport()) as mesh:
        status = run_session(mesh, {"agent-1": {"summarize": hangs}}, flow, timeout_seconds=0.5)
        written = session_log(mesh, status.session_id)
    assert status.state == "TIMED_OUT" and "'summary'" in (status.error or ""), status
    assert status.steps[0].state == "TIMED_OUT"
    assert written[:3] == [
        (KIND_SESSION_EVENT, "STARTED", None),
        (KIND_STEP_REQUEST, "summary", "agent-1"),
        (KIND_SESSION_EVENT, "TIMED_OUT", None),
    ]
