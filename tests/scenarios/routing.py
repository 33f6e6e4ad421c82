"""The mesh as users run it: work reaches an agent that can do it, scale-out follows the partitions, reading
history makes no dead letters, workflow steps go to agents that run steps."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from a2a_fast.agents.base import Agent, pool_group
from a2a_fast.agents.coordinator import Coordinator
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.agents.tasks import TaskContext, TaskHandler
from a2a_fast.protocol.envelope import Envelope
from a2a_fast.protocol.kinds import KIND_TASK_RESPONSE
from a2a_fast.workflows.definitions import WorkflowDefinition, WorkflowStep
from tests.scenarios import Mesh, eventually

__all__ = [
    "mixed_skills_reach_a_provider_that_has_them",
    "partitions_added_while_agents_run_are_picked_up",
    "requesters_read_only_their_own_history",
    "scale_out_follows_the_partitions",
    "workflow_steps_go_only_to_agents_that_run_steps",
]


def recording(ran: list[tuple[str, str]], agent_id: str) -> TaskHandler:
    """A handler that notes which executor ran which task."""

    async def handler(task: TaskContext) -> dict[str, Any]:
        ran.append((agent_id, task.task_id))
        await asyncio.sleep(0)
        return {"by": agent_id, "text": task.description}

    return handler


async def start_all(*agents: Agent) -> None:
    for agent in agents:
        await agent.start()
    await asyncio.gather(*(agent.wait_assigned() for agent in agents))


async def stop_all(*agents: Agent) -> None:
    for agent in reversed(agents):
        await agent.stop()


async def mixed_skills_reach_a_provider_that_has_them(mesh: Mesh) -> None:
    """provider-1 offers summarize and translate, provider-foo offers foo; each request reaches the one with
    its skill (and an executor that runs it), once; a skill nobody offers is rejected at once."""
    ran: list[tuple[str, str]] = []
    general = Provider(mesh.config("provider-1"), {"summarize": 100, "translate": 60})
    special = Provider(mesh.config("provider-foo"), {"foo": 1})
    runs_summaries = Executor(mesh.config("executor-1"), {"summarize": recording(ran, "executor-1")})
    runs_foo = Executor(mesh.config("executor-foo"), {"foo": recording(ran, "executor-foo")})
    requester = Requester(mesh.config("requester-1"))
    agents = (general, special, runs_summaries, runs_foo, requester)
    await start_all(*agents)
    try:
        assert len({general.group_id, special.group_id}) == 2 and len({runs_foo.group_id, runs_summaries.group_id}) == 2
        foo, summary, missing = await asyncio.gather(
            requester.request_task("do foo", 5.0, capability="foo", max_wait=60),
            requester.request_task("Summarise the report", 150.0, capability="summarize", max_wait=60),
            requester.request_task("do bar", 5.0, capability="bar", max_wait=60),
        )
    finally:
        await stop_all(*agents)
    assert (foo.status, foo.provider, foo.executor) == ("COMPLETED", "provider-foo", "executor-foo"), foo
    assert (summary.status, summary.provider, summary.executor) == ("COMPLETED", "provider-1", "executor-1"), summary
    assert missing.status == "REJECTED" and missing.error == "no live provider offers capability 'bar'", missing
    assert special.decisions == Counter({"ACCEPTED": 1}) and general.decisions == Counter({"ACCEPTED": 1})
    assert sorted(ran) == sorted([("executor-foo", foo.task_id), ("executor-1", summary.task_id)])


async def scale_out_follows_the_partitions(
    mesh: Mesh, executors: int = 5, partitions: int = 10, tasks: int = 200
) -> None:
    """Five executors of one pool over ten partitions: every one runs some of the tasks, each task once."""
    ran: list[tuple[str, str]] = []
    provider = Provider(mesh.config("provider-1", partitions=partitions), {"summarize": 10})
    pool = [
        Executor(mesh.config(f"executor-{n}", partitions=partitions), {"summarize": recording(ran, f"executor-{n}")})
        for n in range(executors)
    ]
    requester = Requester(mesh.config("requester-1", partitions=partitions))
    agents = (provider, *pool, requester)
    await start_all(*agents)
    try:
        assert mesh.partitions(mesh.topics.responses) == partitions
        await eventually(
            lambda: all(len(e.consumer.assignment) == partitions // executors for e in pool if e.consumer),
            60,
            "every executor has its share of the partitions",
        )
        outcomes = await asyncio.gather(
            *(requester.request_task(f"task {n}", 20.0, capability="summarize", max_wait=120) for n in range(tasks))
        )
    finally:
        await stop_all(*agents)
    assert Counter(outcome.status for outcome in outcomes) == Counter({"COMPLETED": tasks})
    runs = Counter(task_id for _, task_id in ran)
    assert len(runs) == tasks and set(runs.values()) == {1}, "each task runs exactly once"
    by_executor = Counter(agent for agent, _ in ran)
    assert set(by_executor) == {f"executor-{n}" for n in range(executors)}, by_executor


async def partitions_added_while_agents_run_are_picked_up(mesh: Mesh) -> None:
    """Three executors of one pool over two partitions: one has none and says so; once the topic has three
    partitions (``kafka-topics --alter``) every executor has one."""
    mesh.create_topics(2)
    pool = [Executor(mesh.config(f"executor-{n}"), {"summarize": recording([], f"executor-{n}")}) for n in range(3)]
    await start_all(*pool)
    try:
        await eventually(
            lambda: sum(1 for e in pool if e.consumer and e.consumer.idle_reason) == 1, 60, "one idle executor"
        )
        [idle_one] = [e for e in pool if e.consumer and e.consumer.idle_reason]
        status = idle_one.status()
        assert status["assignment"] == [] and "was given no partition" in status["idle_reason"], status
        mesh.add_partitions(mesh.topics.responses, 3)
        await eventually(
            lambda: all(e.consumer and len(e.consumer.assignment) == 1 for e in pool), 60, "a partition each"
        )
        assert all(e.status()["idle_reason"] is None for e in pool)
    finally:
        await stop_all(*pool)


async def requesters_read_only_their_own_history(mesh: Mesh, old_records: int = 1000) -> None:
    """With 1000 old responses on the topic, past their ttl, two one-off requesters each get their task done
    and the dead-letter topic does not grow: history that merely passed its ttl is not a dead letter."""
    provider = Provider(mesh.config("provider-1"), {"summarize": 10})
    executor = Executor(mesh.config("executor-1"), {"summarize": recording([], "executor-1")})
    await start_all(provider, executor)
    try:
        assert provider.catalog is not None
        envelope = Envelope(provider.catalog, mesh.topics, "old-provider")
        for n in range(old_records):
            record = envelope.encode(
                KIND_TASK_RESPONSE,
                {
                    "task_id": f"old-{n}",
                    "responder_id": "old-provider",
                    "status": "NEGOTIATING",
                    "counter_offer": 10.0,
                    "agreed_cost": None,
                    "message": None,
                    "progress": None,
                    "result": None,
                    "capability": "summarize",
                    "description": None,
                    "parameters": {},
                    "round": 1,
                    "timestamp": int(time.time() * 1000),
                },
                target_agent=f"someone-{n % 7}",
                ttl=1,
            )
            await provider.produce_record(record)
        await asyncio.sleep(1.5)  # every old record is now past its ttl
        before = mesh.records(mesh.topics.dlq)
        for run in range(2):
            requester = Requester(mesh.config(f"cli-{run}", join_mesh=False), resume=False)
            async with requester:
                outcome = await requester.request_task("Summarise", 20.0, capability="summarize", max_wait=60)
            assert outcome.status == "COMPLETED", outcome
        assert mesh.records(mesh.topics.dlq) == before == 0
    finally:
        await stop_all(provider, executor)


BRIEF = WorkflowDefinition(
    "brief",
    "Brief",
    "summarise, then translate",
    [
        WorkflowStep("summary", "Summarise", ["summarize"], timeout=30, retries=1),
        WorkflowStep("translation", "Translate", ["translate"], timeout=30, retries=1),
    ],
)


async def workflow_steps_go_only_to_agents_that_run_steps(mesh: Mesh) -> None:
    """A provider offering the steps' skills stands beside the executor: every step goes to the executor,
    on its first attempt."""
    ran: list[tuple[str, str]] = []
    provider = Provider(mesh.config("provider-1"), {"summarize": 10, "translate": 10})
    executor = Executor(
        mesh.config("executor-1"),
        {"summarize": recording(ran, "executor-1"), "translate": recording(ran, "executor-1")},
    )
    coordinator = Coordinator(mesh.config("coordinator-1"), workflows=[BRIEF])
    agents = (provider, executor, coordinator)
    await start_all(*agents)
    try:
        locator = coordinator.locator
        assert locator is not None
        await eventually(lambda: all(locator.is_agent_alive(a) for a in ("provider-1", "executor-1")), 30, "all listed")
        for _ in range(3):
            session = await coordinator.start_collaboration("brief", params={"text": "one two three"})
            status = await asyncio.wait_for(coordinator.wait_for(session), 60)
            assert status.state == "COMPLETED", status
            assert [(step.agent, len(step.attempts)) for step in status.steps] == [("executor-1", 1), ("executor-1", 1)]
    finally:
        await stop_all(*agents)
    assert pool_group(mesh.topics.prefix, "executor", ["summarize", "translate"]) == executor.group_id
