"""Collaboration workflows on the real broker, registry and agent directory, each test on its own topics.

Step agents announce themselves through the mesh directory (:class:`Presence`); the coordinator finds them
there. Handlers below are driven by their parameters so that one workflow definition can be made slow or
failing per agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from a2a_fast.agents.coordinator import Coordinator
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.steps import StepRunner
from a2a_fast.agents.tasks import TaskContext, TaskHandler
from a2a_fast.config import HeartbeatConfig, ProtocolConfig, WorkflowConfig
from a2a_fast.errors import SessionLimitError
from a2a_fast.mesh.directory import AgentDirectory
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_SESSION_EVENT, KIND_STEP_REQUEST, KIND_STEP_RESULT
from a2a_fast.stack import Endpoints
from a2a_fast.workflows.definitions import WorkflowDefinition, WorkflowStep
from a2a_fast.workflows.sessions import CollaborationStatus
from tests.conftest import REPO
from tests.integration.test_agents import Mesh, fresh_mesh, run_strict
from tests.unit.workflows.support import REPORT, fails, session_log, translate

FAST = ProtocolConfig(heartbeat=HeartbeatConfig(interval_seconds=0.5, timeout_seconds=5.0))


async def summarize(task: TaskContext) -> dict[str, Any]:
    await asyncio.sleep(float(task.parameters.get("seconds", "0")))
    words = task.parameters.get("text", task.description).split()
    return {"summary": " ".join(words[:3]), "by": os.getpid()}


async def hangs(task: TaskContext) -> None:
    await asyncio.sleep(60)


HANDLERS: Mapping[str, TaskHandler] = {"summarize": summarize, "translate": translate}


@pytest.fixture
def mesh(endpoints: Endpoints) -> Iterator[Mesh]:
    with fresh_mesh(endpoints) as fresh:
        yield fresh


class Agents:
    """Step agents for one test: each a StepRunner (or Executor) registered in the mesh directory."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self.stack = contextlib.AsyncExitStack()
        self.directory = AgentDirectory(mesh.endpoints.kafka, mesh.topics.agents, FAST)
        self.runners: dict[str, StepRunner] = {}

    async def __aenter__(self) -> Agents:
        await self.stack.enter_async_context(self.directory)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()

    async def add(self, agent_id: str, handlers: Mapping[str, TaskHandler], executor: bool = False) -> None:
        config = self.mesh.config(agent_id, protocol=FAST)
        agent = Executor(config, handlers) if executor else StepRunner(config, handlers)
        await self.stack.enter_async_context(agent)
        runner = agent.steps if isinstance(agent, Executor) else agent
        assert isinstance(runner, StepRunner)
        self.runners[agent_id] = runner
        await runner.wait_assigned()
        await self.directory.wait_for(lambda directory: directory.is_agent_alive(agent_id), 30)
        [listed] = [info for info in self.directory.get_all_agents() if info.agent_id == agent_id]
        assert set(listed.card.capabilities) == set(handlers)

    def coordinator(self, agent_id: str = "coordinator-1", protocol: ProtocolConfig = FAST) -> Coordinator:
        return Coordinator(self.mesh.config(agent_id, protocol=protocol), self.directory, workflows=[REPORT])


async def finished(coordinator: Coordinator, session_id: str) -> CollaborationStatus:
    return await asyncio.wait_for(coordinator.wait_for(session_id), 60)


def _saw_other_request(name: str, seen: asyncio.Event, event: str, message: Inbound | None) -> None:
    if event == "handled" and message and message.kind == KIND_STEP_REQUEST and message.target_agent != name:
        seen.set()


def test_two_steps_output_feeds_the_next_and_every_record_carries_the_session(mesh: Mesh) -> None:
    async def scenario() -> CollaborationStatus:
        async with Agents(mesh) as agents:
            await agents.add("executor-a", {"summarize": summarize}, executor=True)
            await agents.add("executor-b", {"translate": translate}, executor=True)
            others_seen = {name: asyncio.Event() for name in agents.runners}
            for name, runner in agents.runners.items():
                runner.observers.append(partial(_saw_other_request, name, others_seen[name]))
            async with agents.coordinator() as coordinator:
                assert isinstance(coordinator, Coordinator)
                assert [w.id for w in coordinator.list_workflows()] == ["report"]
                session = await coordinator.start_collaboration("report", params={"text": "one two three four"})
                status = await finished(coordinator, session)
            # each saw the other's step request and left it alone
            for name, seen in others_seen.items():
                await asyncio.wait_for(seen.wait(), 30)
                assert agents.runners[name].counts["IGNORED"] == 1
                assert agents.runners[name].counts["COMPLETED"] == 1
            return status

    status = run_strict(scenario)
    assert status.state == "COMPLETED", status
    assert [(s.name, s.state, s.agent, len(s.attempts)) for s in status.steps] == [
        ("summary", "COMPLETED", "executor-a", 1),
        ("german", "COMPLETED", "executor-b", 1),
    ]
    assert status.steps[0].output["summary"] == "one two three"
    assert status.output == {"german": "[de] one two three", "session": status.session_id}
    records = [m for m in mesh.log(mesh.topics.collaborations) if m.task_id == status.session_id]
    assert {m.collaboration_id for m in records} == {status.session_id}
    assert session_log(mesh, status.session_id) == [
        (KIND_SESSION_EVENT, "STARTED", None),
        (KIND_STEP_REQUEST, "summary", "executor-a"),
        (KIND_STEP_RESULT, "COMPLETED", "coordinator-1"),
        (KIND_STEP_REQUEST, "german", "executor-b"),
        (KIND_STEP_RESULT, "COMPLETED", "coordinator-1"),
        (KIND_SESSION_EVENT, "COMPLETED", None),
    ]


def test_a_timed_out_step_is_retried_on_another_agent(mesh: Mesh) -> None:
    flow = WorkflowDefinition(
        "retry", "Retry", "", [WorkflowStep("summary", "", ["summarize"], timeout=1.5, retries=1)]
    )

    async def scenario() -> CollaborationStatus:
        async with Agents(mesh) as agents:
            await agents.add("a-slow", {"summarize": hangs})
            await agents.add("b-fast", {"summarize": summarize})
            async with agents.coordinator() as coordinator:
                assert isinstance(coordinator, Coordinator)
                coordinator.register_workflow(flow)
                session = await coordinator.start_collaboration("retry", ["a-slow", "b-fast"], {"text": "x y"})
                return await finished(coordinator, session)

    status = run_strict(scenario)
    assert status.state == "COMPLETED", status
    [step] = status.steps
    assert [(a.attempt, a.agent_id, a.state) for a in step.attempts] == [
        (1, "a-slow", "TIMED_OUT"),
        (2, "b-fast", "COMPLETED"),
    ]
    assert step.output["summary"] == "x y"


def test_a_step_failing_past_its_retries_fails_the_session_naming_it(mesh: Mesh) -> None:
    flow = WorkflowDefinition(
        "doomed",
        "Doomed",
        "",
        [
            WorkflowStep("summary", "", ["summarize"], timeout=10, retries=1),
            WorkflowStep("german", "", ["translate"], timeout=10),
        ],
    )

    async def scenario() -> CollaborationStatus:
        async with Agents(mesh) as agents:
            await agents.add("agent-1", {"summarize": fails, "translate": translate})
            await agents.add("agent-2", {"summarize": fails})
            async with agents.coordinator() as coordinator:
                assert isinstance(coordinator, Coordinator)
                coordinator.register_workflow(flow)
                return await finished(coordinator, await coordinator.start_collaboration("doomed"))

    status = run_strict(scenario)
    assert status.state == "FAILED" and status.error is not None and "'summary'" in status.error, status
    summary, german = status.steps
    assert summary.state == "FAILED" and {a.agent_id for a in summary.attempts} == {"agent-1", "agent-2"}
    assert all("cannot be done" in (a.error or "") for a in summary.attempts)
    assert (german.state, german.attempts) == ("PENDING", [])


def test_an_optional_step_may_fail_and_the_session_completes(mesh: Mesh) -> None:
    flow = WorkflowDefinition(
        "optional",
        "Optional middle",
        "",
        [
            WorkflowStep("summary", "", ["summarize"], timeout=10),
            WorkflowStep("extra", "", ["enrich"], required=False, timeout=10),
            WorkflowStep("german", "", ["translate"], timeout=10),
        ],
    )

    async def scenario() -> CollaborationStatus:
        async with Agents(mesh) as agents:
            await agents.add("agent-1", {"summarize": summarize, "translate": translate, "enrich": fails})
            async with agents.coordinator() as coordinator:
                assert isinstance(coordinator, Coordinator)
                coordinator.register_workflow(flow)
                session = await coordinator.start_collaboration("optional", params={"text": "alpha beta"})
                return await finished(coordinator, session)

    status = run_strict(scenario)
    assert status.state == "COMPLETED", status
    assert [s.state for s in status.steps] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert status.output["german"] == "[de] alpha beta"  # the summary skipped over the failed step


def test_session_limit_and_session_timeout(mesh: Mesh) -> None:
    limited = replace(FAST, workflows=WorkflowConfig(max_concurrent_sessions=1, default_timeout_seconds=2.0))
    flow = WorkflowDefinition("stuck", "Stuck", "", [WorkflowStep("summary", "", ["summarize"], timeout=3)])

    async def scenario() -> tuple[CollaborationStatus, CollaborationStatus]:
        async with Agents(mesh) as agents:
            await agents.add("agent-1", {"summarize": hangs, "translate": translate})
            async with agents.coordinator(protocol=limited) as coordinator:
                assert isinstance(coordinator, Coordinator)
                coordinator.register_workflow(flow)
                first = await coordinator.start_collaboration("stuck")
                with pytest.raises(SessionLimitError, match="max_concurrent_sessions"):
                    await coordinator.start_collaboration("stuck")
                timed_out = await finished(coordinator, first)
                assert coordinator.active_sessions() == 0
                second = await coordinator.start_collaboration("stuck", timeout_seconds=30)
                return timed_out, coordinator.get_collaboration_status(second)

    timed_out, second = run_strict(scenario)
    assert timed_out.state == "TIMED_OUT" and "'summary'" in (timed_out.error or ""), timed_out
    assert timed_out.steps[0].state == "TIMED_OUT"
    assert second.state == "RUNNING"


def start_coordinator(endpoints: Endpoints, mesh: Mesh, config: Path) -> subprocess.Popen[bytes]:
    config.write_text(
        f"heartbeat:\n  interval_seconds: {FAST.heartbeat.interval_seconds}\n"
        f"  timeout_seconds: {FAST.heartbeat.timeout_seconds}\n"
    )
    env = {
        **os.environ,
        "KAFKA_BROKER": endpoints.kafka,
        "SCHEMA_REGISTRY_URL": endpoints.schema_registry,
        "A2A_FAST_CONFIG": str(config),
    }
    command = [sys.executable, "-m", "a2a_fast.cli", "agent", "coordinator", "--id", "coordinator-1"]
    command += ["--topic-prefix", mesh.topics.prefix, "--http-port", "-1"]
    command += ["--workflows", "tests.integration.test_workflows:WORKFLOWS", "--start", "report"]
    command += ["--param", "text=killed mid session"]
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE)


WORKFLOWS = [REPORT]


def test_a_killed_coordinator_is_resumed_from_the_log(mesh: Mesh, endpoints: Endpoints, tmp_path: Path) -> None:
    async def scenario() -> CollaborationStatus:
        async with Agents(mesh) as agents:
            started = asyncio.Event()

            async def slow_summary(task: TaskContext) -> dict[str, Any]:
                started.set()
                await asyncio.sleep(2)  # the coordinator is killed meanwhile
                return await summarize(task)

            await agents.add("agent-1", {"summarize": slow_summary, "translate": translate})
            process = await asyncio.to_thread(start_coordinator, endpoints, mesh, tmp_path / "protocol.yaml")
            try:
                assert process.stdout is not None
                ready = (await asyncio.to_thread(process.stdout.readline)).decode()
                assert ready.startswith("READY coordinator coordinator-1"), ready
                line = (await asyncio.to_thread(process.stdout.readline)).decode().split()
                assert line[0] == "SESSION", line
                await asyncio.wait_for(started.wait(), 60)
                process.send_signal(signal.SIGKILL)
                assert await asyncio.to_thread(process.wait, 30) == -signal.SIGKILL
                # the id is free again once the killed instance missed its heartbeats
                await agents.directory.wait_for(lambda found: not found.is_agent_alive("coordinator-1"), 30)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                if process.stdout is not None:
                    process.stdout.close()
            async with agents.coordinator() as coordinator:
                assert isinstance(coordinator, Coordinator)
                assert coordinator.resumed == 1
                return await finished(coordinator, line[1])

    status = run_strict(scenario)
    assert status.state == "COMPLETED", status
    assert [(s.state, s.agent, len(s.attempts)) for s in status.steps] == [
        ("COMPLETED", "agent-1", 1),
        ("COMPLETED", "agent-1", 1),
    ]
    assert status.output["german"] == "[de] killed mid session"
