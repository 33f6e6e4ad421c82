"""Cancelling tasks as users do: while negotiating, accepted but waiting for a slot, running, and after the end;
by the requester and by an operator from the log; and what agents on the other schema versions make of it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from a2a_fast.agents.base import Agent
from a2a_fast.agents.cancel import Canceller
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.agents.tasks import TaskContext
from a2a_fast.errors import TaskFinalError, UnknownTaskError
from a2a_fast.history.tasks import TaskLog
from a2a_fast.history.view import MeshView
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_NEGOTIATION, KIND_TASK_RESPONSE
from a2a_fast.transport.log import LogReader, Observed
from a2a_fast.transport.registry import default_schemas
from tests.scenarios import Mesh, eventually

__all__ = [
    "a_requester_cancels_a_running_task",
    "a_requester_cancels_a_task_still_negotiating",
    "a_requester_cancels_a_task_waiting_for_a_slot",
    "a_requester_restarted_while_its_cancel_is_on_its_way_gets_the_outcome",
    "a_status_added_later_reads_as_unknown",
    "an_agent_on_the_v1_schema_dead_letters_a_cancel_and_carries_on",
    "an_operator_cancels_a_negotiating_task_whose_requester_is_gone",
    "an_operator_cancels_a_running_task_of_a_live_requester",
    "cancelling_a_finished_or_unknown_task_is_refused_naming_it",
]

V1_SCHEMA = (Path(__file__).resolve().parent.parent / "fixtures" / "schemas" / "TaskResponse.v1.avsc").read_text()
"""TaskResponse as it was before CANCELED: no CANCELING, CANCELED or UNKNOWN, and no enum default."""


def v3_schema() -> str:
    """The current TaskResponse with one more status, as a later version would add it."""
    schema = json.loads(default_schemas()[KIND_TASK_RESPONSE])
    status = next(field for field in schema["fields"] if field["name"] == "status")
    status["type"]["symbols"].append("PAUSED")
    return json.dumps(schema)


class Gate:
    """A handler that holds every task until released, noting which ran and which saw their cancellation."""

    def __init__(self) -> None:
        self.released = asyncio.Event()
        self.ran: list[str] = []
        self.cancelled: list[str] = []
        self.cleaned: list[str] = []

    async def handler(self, task: TaskContext) -> dict[str, Any]:
        self.ran.append(task.task_id)
        try:
            await task.progress(0.25, "holding")
            await self.released.wait()
        except asyncio.CancelledError as cancelled:
            self.cancelled.append(f"{task.task_id}: {cancelled}")
            await asyncio.sleep(0)  # clean-up may await, too
            self.cleaned.append(task.task_id)
            raise
        return {"done": task.task_id}


class HeldProvider(Provider):
    """Answers requests at once but holds the requester's negotiation turns until ``released``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.released = asyncio.Event()
        self.turns: list[Inbound] = []

    async def handle(self, message: Inbound) -> None:
        if message.kind == KIND_NEGOTIATION:
            self.turns.append(message)
            await self.released.wait()
        await super().handle(message)


@contextlib.asynccontextmanager
async def running(*agents: Agent) -> AsyncIterator[None]:
    started: list[Agent] = []
    try:
        for agent in agents:
            await agent.start()
            started.append(agent)
        await asyncio.gather(*(agent.wait_assigned() for agent in agents))
        yield
    finally:
        for agent in reversed(started):
            await agent.stop()


@contextlib.asynccontextmanager
async def mesh_view(mesh: Mesh) -> AsyncIterator[MeshView]:
    view = MeshView(mesh.transport, mesh.transport.schema_registry_url, mesh.topics)
    await view.start()
    try:
        yield view
    finally:
        await view.stop()


def state(requester: Requester, task_id: str) -> str | None:
    return next((p.state for p in requester.get_pending_requests() if p.task_id == task_id), None)


def task_log(mesh: Mesh) -> TaskLog:
    topics = (mesh.topics.requests, mesh.topics.responses, mesh.topics.negotiations)
    return TaskLog().fold_all(message for topic in topics for message in mesh.log(topic))


def responses(mesh: Mesh, task_id: str) -> list[tuple[str, str]]:
    """``(sender, status)`` of each response about the task, in the order of its partition."""
    return [(m.source_agent, m.record["status"]) for m in mesh.log(mesh.topics.responses) if m.task_id == task_id]


async def dead_letters(mesh: Mesh, count: int, within: float = 30.0) -> list[Observed]:
    """The first ``count`` dead letters (fails after ``within`` seconds without them)."""
    reader = LogReader(mesh.transport, mesh.transport.schema_registry_url, mesh.topics, [mesh.topics.dlq])
    loop = asyncio.get_running_loop()
    found: list[Observed] = []
    try:
        await loop.run_in_executor(None, reader.open)
        deadline = time.monotonic() + within
        while len(found) < count and time.monotonic() < deadline:
            found += await loop.run_in_executor(None, reader.read, 0.2)
    finally:
        await loop.run_in_executor(None, reader.close)
    assert len(found) >= count, f"{len(found)} dead letters, expected {count}"
    return found


def observed(agent: Agent, event: str) -> list[Inbound | None]:
    """Every message the agent counted as ``event`` ("handled", "dead_letter"...) from now on."""
    seen: list[Inbound | None] = []
    agent.observers.append(lambda what, message: seen.append(message) if what == event else None)
    return seen


async def a_requester_cancels_a_task_still_negotiating(mesh: Mesh) -> None:
    """The requester cancels while its answer to the provider's counter-offer is still unanswered: the task ends
    CANCELED without being accepted; the provider's late acceptance of that answer never starts it."""
    gate = Gate()
    provider = HeldProvider(mesh.config("provider-1"), {"analyze": 100})
    executor = Executor(mesh.config("executor-1"), {"analyze": gate.handler})
    requester = Requester(mesh.config("requester-1"))
    async with running(provider, executor, requester):
        task_id = await requester.submit("Analyze", 20.0, capability="analyze", budget=150.0)
        await eventually(lambda: bool(provider.turns), 30, "the requester answered the counter-offer")
        assert state(requester, task_id) == "NEGOTIATING"
        await requester.cancel(task_id, "changed my mind")
        outcome = await asyncio.wait_for(requester.outcome(task_id), 30)
        assert (outcome.status, outcome.executor) == ("CANCELED", None), outcome
        assert outcome.error == "canceled by requester-1 before it was accepted: changed my mind"

        provider.released.set()  # it now accepts the requester's answer, after the cancel
        await eventually(lambda: executor.counts["SKIPPED"] == 1, 30, "the executor skipped the late ACCEPTED")
        await eventually(
            lambda: responses(mesh, task_id).count(("requester-1", "CANCELING")) == 2, 30, "the cancel passed on"
        )
    assert gate.ran == [] and executor.counts["CANCELED"] == 0
    assert responses(mesh, task_id) == [
        ("provider-1", "NEGOTIATING"),
        ("requester-1", "CANCELING"),
        ("requester-1", "CANCELED"),
        ("provider-1", "ACCEPTED"),
        ("requester-1", "CANCELING"),
    ]
    task = task_log(mesh).get(task_id)
    assert task is not None and (task.state, task.canceled_by, task.answered_round) == ("CANCELED", "requester-1", 1)


async def a_requester_cancels_a_task_waiting_for_a_slot(mesh: Mesh) -> None:
    """An executor with one slot runs task A; task B, accepted, waits for the slot. B's cancel ends it there: it
    never starts, its executor says so, and the slot it waited for serves the next task."""
    gate = Gate()
    provider = Provider(mesh.config("provider-1"), {"analyze": 10})
    executor = Executor(mesh.config("executor-1"), {"analyze": gate.handler}, max_tasks=1)
    requester = Requester(mesh.config("requester-1"))
    async with running(provider, executor, requester):
        first = await requester.submit("Analyze A", 20.0, capability="analyze")
        await eventually(lambda: gate.ran == [first], 30, "A runs")
        second = await requester.submit("Analyze B", 20.0, capability="analyze")
        await eventually(lambda: executor.slots.waiting == 1, 30, "B waits for the slot")
        assert state(requester, second) == "ACCEPTED"

        await requester.cancel(second, "not needed")
        outcome = await asyncio.wait_for(requester.outcome(second), 30)
        assert (outcome.status, outcome.executor) == ("CANCELED", "executor-1"), outcome
        assert outcome.error == "canceled by requester-1 before it started: not needed"
        assert executor.slots.waiting == 0 and executor.slots.in_use == 1

        gate.released.set()
        done = await asyncio.wait_for(requester.outcome(first), 30)
        third = await requester.request_task("Analyze C", 20.0, capability="analyze", max_wait=30)
        assert (done.status, third.status) == ("COMPLETED", "COMPLETED")
    assert gate.ran == [first, third.task_id] and gate.cancelled == []
    assert executor.counts == {"COMPLETED": 2, "FAILED": 0, "CANCELED": 1, "SKIPPED": 0}
    assert responses(mesh, second) == [
        ("provider-1", "ACCEPTED"), ("requester-1", "CANCELING"), ("executor-1", "CANCELED")
    ]  # fmt: skip
    task = task_log(mesh).get(second)
    assert task is not None and task.timeline[-1].role == "executor"


async def a_requester_cancels_a_running_task(mesh: Mesh) -> None:
    """The running handler sees the cancellation, cleans up, and the task ends CANCELED; the ACCEPTED it ran
    counts as handled."""
    gate = Gate()
    provider = Provider(mesh.config("provider-1"), {"analyze": 10})
    executor = Executor(mesh.config("executor-1"), {"analyze": gate.handler})
    requester = Requester(mesh.config("requester-1"))
    handled = observed(executor, "handled")
    async with running(provider, executor, requester):
        task_id = await requester.submit("Analyze", 20.0, capability="analyze")
        await eventually(lambda: state(requester, task_id) == "RUNNING" and bool(gate.ran), 30, "it runs")
        await requester.cancel(task_id, "wrong input")
        outcome = await asyncio.wait_for(requester.outcome(task_id), 30)
        assert (outcome.status, outcome.executor, outcome.agreed_cost) == ("CANCELED", "executor-1", 20.0), outcome
        assert outcome.error == "canceled by requester-1: wrong input"
        await eventually(lambda: executor.status()["in_flight"] == 0, 30, "the ACCEPTED handled")
    assert gate.cancelled == [f"{task_id}: canceled by requester-1: wrong input"] and gate.cleaned == [task_id]
    assert executor.counts["CANCELED"] == 1 and not executor.running and not executor.held
    accepted = [m for m in handled if m is not None and m.record["status"] == "ACCEPTED"]
    assert [m.task_id for m in accepted] == [task_id]
    assert responses(mesh, task_id)[-3:] == [
        ("executor-1", "RUNNING"), ("requester-1", "CANCELING"), ("executor-1", "CANCELED")
    ]  # fmt: skip


async def a_requester_restarted_while_its_cancel_is_on_its_way_gets_the_outcome(mesh: Mesh) -> None:
    """The requester asks for a cancel and stops while the handler still cleans up; restarted under its id it
    picks the task up as CANCELING from the log, asks for nothing twice, and gets the outcome once it comes."""
    gate = Gate()
    cleaning = asyncio.Event()
    finish_cleaning = asyncio.Event()

    async def slow_to_stop(task: TaskContext) -> None:
        try:
            await gate.handler(task)
        finally:
            cleaning.set()
            await finish_cleaning.wait()

    provider = Provider(mesh.config("provider-1"), {"analyze": 10})
    executor = Executor(mesh.config("executor-1"), {"analyze": slow_to_stop})
    async with running(provider, executor):
        first = Requester(mesh.config("requester-1"))
        async with running(first):
            task_id = await first.submit("Analyze", 20.0, capability="analyze")
            await eventually(lambda: state(first, task_id) == "RUNNING", 30, "it runs")
            await first.cancel(task_id, "not needed")
            await eventually(lambda: cleaning.is_set(), 30, "the handler cleans up")
        again = Requester(mesh.config("requester-1"))
        async with running(again):
            [pending] = again.get_pending_requests()
            assert (pending.task_id, pending.state, pending.canceling, pending.cancel_sent) == (
                task_id, "CANCELING", True, True
            )  # fmt: skip
            assert pending.accepted_offset is not None and pending.executor_pool == executor.group_id
            await again.cancel(task_id, "asked again")  # it already did: nothing more is sent
            finish_cleaning.set()
            outcome = await asyncio.wait_for(again.outcome(task_id), 30)
    assert (outcome.status, outcome.error) == ("CANCELED", "canceled by requester-1: not needed")
    assert [status for _, status in responses(mesh, task_id)].count("CANCELING") == 1


async def cancelling_a_finished_or_unknown_task_is_refused_naming_it(mesh: Mesh) -> None:
    """Cancelling a task already COMPLETED, or one no one knows, is an error naming it; nothing is written."""
    gate = Gate()
    gate.released.set()
    provider = Provider(mesh.config("provider-1"), {"analyze": 10})
    executor = Executor(mesh.config("executor-1"), {"analyze": gate.handler})
    requester = Requester(mesh.config("requester-1"))
    operator = Requester(mesh.config("ops-1", join_mesh=False), resume=False)
    async with running(provider, executor, requester, operator):
        done = await requester.request_task("Analyze", 20.0, capability="analyze", max_wait=30)
        assert done.status == "COMPLETED"
        with pytest.raises(TaskFinalError) as final:
            await requester.cancel(done.task_id)
        assert str(final.value) == f"task {done.task_id} is already COMPLETED; there is nothing to cancel"
        with pytest.raises(UnknownTaskError) as unknown:
            await requester.cancel("no-such-task")
        assert str(unknown.value) == "task 'no-such-task' is not an open task of requester requester-1"

        async with mesh_view(mesh) as view:
            await view.wait_for(done.task_id, lambda task: task.final)
            canceller = Canceller(operator, view)
            with pytest.raises(TaskFinalError, match=f"^task {done.task_id} is already COMPLETED"):
                await canceller.cancel(done.task_id[:10], "too late")
            with pytest.raises(UnknownTaskError, match=r"^task 'no-such-task' is not in the log$"):
                await canceller.cancel("no-such-task", "who?")
    assert [status for _, status in responses(mesh, done.task_id)] == ["ACCEPTED", "RUNNING", "RUNNING", "COMPLETED"]


async def an_operator_cancels_a_running_task_of_a_live_requester(mesh: Mesh) -> None:
    """Someone other than the requester (``a2a-fast cancel``, the MCP server) cancels from the log: the executor
    ends the task and the requester, still waiting for it, gets CANCELED."""
    gate = Gate()
    provider = Provider(mesh.config("provider-1"), {"analyze": 10})
    executor = Executor(mesh.config("executor-1"), {"analyze": gate.handler})
    requester = Requester(mesh.config("requester-1"))
    operator = Requester(mesh.config("ops-1", join_mesh=False), resume=False)
    async with running(provider, executor, requester, operator), mesh_view(mesh) as view:
        task_id = await requester.submit("Analyze", 20.0, capability="analyze")
        await view.wait_for(task_id, lambda task: task.state == "RUNNING")
        seen = await Canceller(operator, view).cancel(task_id[:12], "maintenance")
        assert seen.canceled_by == "ops-1" and seen.state in ("CANCELING", "CANCELED")
        outcome = await asyncio.wait_for(requester.outcome(task_id), 30)
        assert (outcome.status, outcome.error) == ("CANCELED", "canceled by ops-1: maintenance"), outcome
        ended = await asyncio.wait_for(view.wait_for(task_id, lambda task: task.final), 30)
    assert (ended.state, ended.executor) == ("CANCELED", "executor-1")
    assert gate.cleaned == [task_id]
    assert responses(mesh, task_id)[-2:] == [("ops-1", "CANCELING"), ("executor-1", "CANCELED")]


async def an_operator_cancels_a_negotiating_task_whose_requester_is_gone(mesh: Mesh) -> None:
    """A task stuck negotiating (its requester gone) is canceled from the log: the operator ends it, and the
    provider's late acceptance is never run."""
    gate = Gate()
    provider = HeldProvider(mesh.config("provider-1"), {"analyze": 100})
    executor = Executor(mesh.config("executor-1"), {"analyze": gate.handler})
    operator = Requester(mesh.config("ops-1", join_mesh=False), resume=False)
    async with running(provider, executor, operator), mesh_view(mesh) as view:
        requester = Requester(mesh.config("requester-1"))
        async with running(requester):
            task_id = await requester.submit("Analyze", 20.0, capability="analyze", budget=150.0)
            await eventually(lambda: bool(provider.turns), 30, "the requester answered the counter-offer")
        await view.wait_for(task_id, lambda task: task.state == "NEGOTIATING")
        await Canceller(operator, view).cancel(task_id, "abandoned")
        ended = await asyncio.wait_for(view.wait_for(task_id, lambda task: task.final), 30)
        assert (ended.state, ended.error) == ("CANCELED", "canceled by ops-1 before it was accepted: abandoned")
        provider.released.set()
        await eventually(lambda: executor.counts["SKIPPED"] == 1, 30, "the executor skipped the late ACCEPTED")
    assert gate.ran == []
    assert responses(mesh, task_id)[-3:] == [("ops-1", "CANCELING"), ("ops-1", "CANCELED"), ("provider-1", "ACCEPTED")]


async def an_agent_on_the_v1_schema_dead_letters_a_cancel_and_carries_on(mesh: Mesh) -> None:
    """An executor still built with TaskResponse v1 reads every pool's CANCELED; it cannot resolve the symbol, so
    that record goes to the dead letters with the reason, and the executor goes on running its own tasks."""
    gate = Gate()
    old = Executor(mesh.config("old-executor", schemas={KIND_TASK_RESPONSE: V1_SCHEMA}), {"summarize": gate.handler})
    provider = Provider(mesh.config("provider-1"), {"analyze": 10, "summarize": 10})
    executor = Executor(mesh.config("executor-1"), {"analyze": gate.handler})
    requester = Requester(mesh.config("requester-1"))
    dropped = observed(old, "dead_letter")
    async with running(old, provider, executor, requester):  # the old one first: it registers v1 before v2 exists
        task_id = await requester.submit("Analyze", 20.0, capability="analyze")
        await eventually(lambda: state(requester, task_id) == "RUNNING", 30, "it runs")
        await requester.cancel(task_id, "not needed")
        assert (await asyncio.wait_for(requester.outcome(task_id), 30)).status == "CANCELED"
        await eventually(lambda: len(dropped) == 1, 30, "the old executor dead-lettered the CANCELED")
        gate.released.set()
        later = await requester.request_task("Summarise", 20.0, capability="summarize", max_wait=30)
        assert (later.status, later.executor) == ("COMPLETED", "old-executor"), later
        [letter] = await dead_letters(mesh, 1)
    assert dropped == [None], "it could not be decoded"
    assert old.status()["dead_letters"] == 1 and old.counts["COMPLETED"] == 1
    headers = letter.headers
    assert headers["dlq.agent"] == "old-executor" and headers["dlq.stage"] == "validation"
    assert "symbol CANCELED is not in the reader's enum a2a.tasks.TaskStatus" in headers["dlq.reason"]
    assert headers["dlq.original.topic"] == mesh.topics.responses
    assert letter.message is not None and letter.message.record["status"] == "CANCELED"  # today's agents read it


async def a_status_added_later_reads_as_unknown(mesh: Mesh) -> None:
    """A writer on a later schema (v3, with PAUSED) reaches today's requester: the status reads as the enum's
    default UNKNOWN, is handled without a dead letter and changes nothing; the task completes as before."""
    gate = Gate()
    provider = Provider(mesh.config("provider-1"), {"analyze": 10})
    executor = Executor(mesh.config("executor-1"), {"analyze": gate.handler})
    requester = Requester(mesh.config("requester-1"))
    newer = Requester(mesh.config("newer-1", join_mesh=False, schemas={KIND_TASK_RESPONSE: v3_schema()}), resume=False)
    handled = observed(requester, "handled")
    async with running(provider, executor, requester, newer):
        task_id = await requester.submit("Analyze", 20.0, capability="analyze")
        await eventually(lambda: state(requester, task_id) == "RUNNING", 30, "it runs")
        paused = {
            "task_id": task_id, "responder_id": "newer-1", "status": "PAUSED", "message": "paused by ops",
            "timestamp": int(time.time() * 1000),
        }  # fmt: skip
        await newer.publish(KIND_TASK_RESPONSE, paused, target_agent="requester-1")
        await eventually(lambda: any(_status(m) == "UNKNOWN" for m in handled), 30, "the requester read it")
        assert state(requester, task_id) == "RUNNING"
        gate.released.set()
        assert (await asyncio.wait_for(requester.outcome(task_id), 30)).status == "COMPLETED"
    assert requester.status()["dead_letters"] == 0
    assert [status for _, status in responses(mesh, task_id)][-2:] == ["UNKNOWN", "COMPLETED"]


def _status(message: Inbound | None) -> Any:
    return None if message is None else message.record.get("status")


SCENARIOS: list[Callable[[Mesh], Any]] = [globals()[name] for name in __all__]
