"""The A2A SDK over Kafka: the SDK's own ``Client`` (built by its ``ClientFactory`` from a card read from the mesh
directory) talking to SDK ``AgentExecutor``s that run in the mesh as :class:`~a2a_fast.a2a.A2AAgent`s.

The executors are written as the SDK's samples write them: ``context.current_task`` or a new task from the
user's message, then a ``TaskUpdater`` for status and artifacts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from a2a.client import Client, ClientCallContext, ClientConfig, ClientFactory
from a2a.helpers import get_artifact_text, get_message_text, new_task_from_user_message, new_text_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentSkill,
    CancelTaskRequest,
    GetExtendedAgentCardRequest,
    GetTaskRequest,
    ListTasksRequest,
    Role,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import (
    InternalError,
    InvalidParamsError,
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
    VersionNotSupportedError,
)

from a2a_fast.a2a import KAFKA_BINDING, A2AAgent, KafkaCaller, find_card, register
from a2a_fast.agents.base import Agent
from a2a_fast.history.tasks import TaskLog
from a2a_fast.mesh.directory import AgentDirectory
from a2a_fast.protocol.kinds import KIND_A2A_EVENT
from tests.scenarios import Mesh, eventually

__all__ = [
    "a_cancel_reaches_the_running_executor",
    "a_client_streams_gets_and_lists_a_task",
    "a_task_left_by_a_stopped_member_runs_on_the_other",
    "a_task_runs_once_in_a_pool_of_two",
    "a_task_waiting_for_input_can_be_cancelled",
    "answers_failures_and_options_as_over_json_rpc",
    "bad_calls_get_the_sdks_errors",
    "input_required_is_a_round_trip_over_the_log",
    "subscribing_after_dropping_the_client_misses_nothing",
    "tasks_survive_a_restart_of_the_agent",
]


# --- executors, as the SDK's samples write them -----------------------------------------------------------------


class EchoExecutor(AgentExecutor):
    """Answers with the user's text as an artifact; counts what it ran, per agent."""

    def __init__(self, ran: Counter[str] | None = None, name: str = "echo") -> None:
        self.ran = ran if ran is not None else Counter()
        self.name = name

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None:
            task = new_task_from_user_message(context.message)  # type: ignore[arg-type]
            await event_queue.enqueue_event(task)
        self.ran[task.id] += 1
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        await updater.add_artifact([new_text_part(context.get_user_input())], name="echo")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


class SteppedExecutor(AgentExecutor):
    """Works in steps the test releases one at a time, an artifact chunk per step; its cancel says it ran."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.gates = [asyncio.Event() for _ in range(steps)]
        self.started = asyncio.Event()
        self.cancelled: list[str] = []

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None:
            task = new_task_from_user_message(context.message)  # type: ignore[arg-type]
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        self.started.set()
        for step, gate in enumerate(self.gates):
            await gate.wait()
            await updater.add_artifact(
                [new_text_part(f"step {step}")], artifact_id="steps", name="steps", append=step > 0
            )
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.cancelled.append(context.task_id or "")
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel(
            new_text_message("stopped on request", context_id=context.context_id, task_id=context.task_id)
        )


class TravelExecutor(AgentExecutor):
    """Asks where from (input-required), then books."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None:
            task = new_task_from_user_message(context.message)  # type: ignore[arg-type]
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        if task.status.state != TaskState.TASK_STATE_INPUT_REQUIRED:
            await updater.requires_input(updater.new_agent_message([new_text_part("from where?")]))
            return
        await updater.add_artifact([new_text_part(f"booked from {context.get_user_input()}")], name="booking")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


class MixedExecutor(AgentExecutor):
    """What its input says: ``hi`` answers with a Message, ``boom`` fails after making the task, ``crash`` fails
    before making any, ``slow`` works until released; anything else completes."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        text = context.get_user_input()
        if text == "hi":
            await event_queue.enqueue_event(new_text_message("hello there", context_id=context.context_id))
            return
        if text == "crash":
            raise ValueError("no task for you")
        task = context.current_task or new_task_from_user_message(context.message)  # type: ignore[arg-type]
        if context.current_task is None:
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        if text == "boom":
            raise RuntimeError("the agent broke")
        if text == "slow":
            await self.release.wait()
        await updater.add_artifact([new_text_part(text.upper())], name="shout")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


def card(name: str, skill: str, streaming: bool = True, extended: bool = False) -> AgentCard:
    return AgentCard(
        name=name,
        description=f"{name}: an agent of the A2A scenarios",
        version="1.0.0",
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        capabilities=AgentCapabilities(streaming=streaming, extended_agent_card=extended),
        skills=[AgentSkill(id=skill, name=skill.title(), description=f"does {skill}", tags=[skill])],
    )


# --- the mesh side ----------------------------------------------------------------------------------------------


async def start_all(*agents: Agent) -> None:
    await asyncio.gather(*(agent.start() for agent in agents))
    await asyncio.gather(*(agent.wait_assigned() for agent in agents))


async def stop_all(*agents: Agent) -> None:
    for agent in reversed(agents):
        await agent.stop()


async def directory_card(mesh: Mesh, name: str, members: int = 1) -> AgentCard:
    """The agent's card as a client finds it: read from the mesh directory, once ``members`` are alive."""
    async with AgentDirectory(mesh.transport, mesh.topics.agents) as directory:
        await directory.wait_for(
            lambda d: (
                sum(1 for info in d.get_all_agents() if info.alive and info.card.agent_type == "a2a-agent") >= members
            ),
            30,
        )
        return await find_card(name, directory=directory)


@contextlib.asynccontextmanager
async def sdk_client(mesh: Mesh, found: AgentCard, client_id: str, streaming: bool = True) -> AsyncIterator[Client]:
    """The SDK's Client from its factory, over a KafkaClientTransport sharing one caller of this mesh."""
    caller = KafkaCaller(mesh.config(client_id, join_mesh=False))
    factory = ClientFactory(ClientConfig(streaming=streaming, supported_protocol_bindings=[KAFKA_BINDING]))
    register(factory, caller)
    client = factory.create(found)
    try:
        yield client
    finally:
        await client.close()
        await caller.stop()


def user(text: str, task_id: str | None = None, context_id: str | None = None) -> SendMessageRequest:
    return SendMessageRequest(
        message=new_text_message(text, role=Role.ROLE_USER, task_id=task_id, context_id=context_id)
    )


def kinds(events: Sequence[StreamResponse]) -> list[str]:
    """``task:SUBMITTED``, ``status:WORKING``, ``artifact:echo`` ... for each event."""
    described = []
    for event in events:
        kind = event.WhichOneof("payload")
        if kind == "task":
            described.append(f"task:{TaskState.Name(event.task.status.state)[11:]}")
        elif kind == "status_update":
            described.append(f"status:{TaskState.Name(event.status_update.status.state)[11:]}")
        elif kind == "artifact_update":
            described.append(f"artifact:{get_artifact_text(event.artifact_update.artifact)}")
        else:
            described.append(f"message:{get_message_text(event.message)}")
    return described


async def collect(stream: AsyncIterator[StreamResponse], limit: int | None = None) -> list[StreamResponse]:
    events = []
    async for event in stream:
        events.append(event)
        if limit is not None and len(events) == limit:
            break
    return events


def task_of(events: Sequence[StreamResponse]) -> Task:
    return next(event.task for event in events if event.WhichOneof("payload") == "task")


# --- scenarios ------------------------------------------------------------------------------------------------


async def a_client_streams_gets_and_lists_a_task(mesh: Mesh) -> None:
    """The SDK client streams an echo task's events as the agent makes them, then gets and lists it; the
    non-streaming client gets the finished task in one answer; the log's records carry our task states."""
    agent = A2AAgent(mesh.config("echo-1"), EchoExecutor(), card("Echo", "echo"))
    await start_all(agent)
    try:
        found = await directory_card(mesh, "echo")
        assert found.supported_interfaces[0].protocol_binding == KAFKA_BINDING
        assert found.supported_interfaces[0].url.startswith("kafka://")
        async with sdk_client(mesh, found, "client-1") as client:
            events = await collect(client.send_message(user("hello mesh")))
            assert kinds(events) == ["task:SUBMITTED", "status:WORKING", "artifact:hello mesh", "status:COMPLETED"]
            task_id = task_of(events).id
            got = await client.get_task(GetTaskRequest(id=task_id))
            assert got.status.state == TaskState.TASK_STATE_COMPLETED
            assert [get_artifact_text(artifact) for artifact in got.artifacts] == ["hello mesh"]
            assert [get_message_text(message) for message in got.history] == ["hello mesh"]
            listed = await client.list_tasks(ListTasksRequest(include_artifacts=True))
            assert [task.id for task in listed.tasks] == [task_id] and listed.next_page_token == ""
            assert listed.tasks[0].artifacts[0].name == "echo"
        async with sdk_client(mesh, found, "client-2", streaming=False) as client:
            (answer,) = await collect(client.send_message(user("once more")))
            assert answer.task.status.state == TaskState.TASK_STATE_COMPLETED
            assert get_artifact_text(answer.task.artifacts[0]) == "once more"
            listed = await client.list_tasks(ListTasksRequest(page_size=1))
            assert listed.total_size == 2 and listed.tasks[0].id == answer.task.id and listed.next_page_token
            assert not listed.tasks[0].artifacts  # left out unless asked for
            second = await client.list_tasks(ListTasksRequest(page_size=1, page_token=listed.next_page_token))
            assert [task.id for task in second.tasks] == [task_id] and second.next_page_token == ""
    finally:
        await stop_all(agent)
    log = fold(mesh)
    assert log.counts() == {"COMPLETED": 2}, log.counts()
    folded = log.get(task_id)
    assert folded is not None and folded.result == "hello mesh" and folded.pool == agent.group_id


async def a_cancel_reaches_the_running_executor(mesh: Mesh) -> None:
    """A task cancelled mid-run by another client: the executor's cancel runs, execute stops, the streaming
    client's stream ends with CANCELED and a later cancel is refused."""
    executor = SteppedExecutor(steps=3)
    agent = A2AAgent(mesh.config("steps-1"), executor, card("Steps", "steps"))
    await start_all(agent)
    try:
        found = await directory_card(mesh, "steps")
        async with sdk_client(mesh, found, "client-1") as client, sdk_client(mesh, found, "client-2") as other:
            stream = client.send_message(user("count"))
            first = await collect(stream, limit=2)
            assert kinds(first) == ["task:SUBMITTED", "status:WORKING"]
            executor.gates[0].set()
            task_id = task_of(first).id
            cancelled = await other.cancel_task(CancelTaskRequest(id=task_id))
            assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
            assert executor.cancelled == [task_id]
            rest = await collect(stream)
            assert kinds(rest)[-1] == "status:CANCELED", kinds(rest)
            assert "artifact:step 1" not in kinds(rest)
            with pytest.raises(TaskNotCancelableError):
                await other.cancel_task(CancelTaskRequest(id=task_id))
            got = await other.get_task(GetTaskRequest(id=task_id))
            assert got.status.state == TaskState.TASK_STATE_CANCELED
            assert get_message_text(got.status.message) == "stopped on request"
    finally:
        await stop_all(agent)
    folded = fold(mesh).get(task_id)
    assert folded is not None and folded.state == "CANCELED" and folded.error == "stopped on request", folded
    assert "CANCEL" in [entry.event for entry in folded.timeline]


async def subscribing_after_dropping_the_client_misses_nothing(mesh: Mesh) -> None:
    """A client starts a task and drops; a new client (another id, nothing in common) re-attaches with
    subscribe: the task as it stands first, then every later event once, in order, to the end."""
    executor = SteppedExecutor(steps=4)
    agent = A2AAgent(mesh.config("steps-1"), executor, card("Steps", "steps"))
    await start_all(agent)
    try:
        found = await directory_card(mesh, "steps")
        async with sdk_client(mesh, found, "client-1") as client:
            first = await collect(client.send_message(user("count")), limit=2)
            task_id = task_of(first).id
            executor.gates[0].set()
            await eventually(lambda: _has_artifact(agent, task_id, "step 0"), 30, "step 0 done")
        executor.gates[1].set()  # happens while no client is attached
        await eventually(lambda: _has_artifact(agent, task_id, "step 0\nstep 1"), 30, "step 1 done")
        async with sdk_client(mesh, found, "client-again") as client:
            stream = client.subscribe(SubscribeToTaskRequest(id=task_id))
            (snapshot,) = await collect(stream, limit=1)
            assert snapshot.task.status.state == TaskState.TASK_STATE_WORKING
            assert get_artifact_text(snapshot.task.artifacts[0]) == "step 0\nstep 1"
            executor.gates[2].set()
            executor.gates[3].set()
            rest = await collect(stream)
        assert kinds(rest) == ["artifact:step 2", "artifact:step 3", "status:COMPLETED"], kinds(rest)
    finally:
        await stop_all(agent)


async def input_required_is_a_round_trip_over_the_log(mesh: Mesh) -> None:
    """The agent asks for input; the client answers with a follow-up send on the same task (only its id);
    the task completes with the whole conversation in its history."""
    agent = A2AAgent(mesh.config("travel-1"), TravelExecutor(), card("Travel", "travel"))
    await start_all(agent)
    try:
        found = await directory_card(mesh, "travel")
        async with sdk_client(mesh, found, "client-1") as client:
            asked = await collect(client.send_message(user("book a flight")))
            assert kinds(asked) == ["task:SUBMITTED", "status:INPUT_REQUIRED"]
            question = asked[-1].status_update.status.message
            assert get_message_text(question) == "from where?"
            task = task_of(asked)
            answered = await collect(client.send_message(user("SFO", task_id=task.id)))
            assert kinds(answered) == ["artifact:booked from SFO", "status:COMPLETED"]
            done = await client.get_task(GetTaskRequest(id=task.id))
            assert [(m.role, get_message_text(m)) for m in done.history] == [
                (Role.ROLE_USER, "book a flight"),
                (Role.ROLE_AGENT, "from where?"),
                (Role.ROLE_USER, "SFO"),
            ]
            assert all(m.context_id == task.context_id for m in done.history)
            with pytest.raises(UnsupportedOperationError, match="terminal state: TASK_STATE_COMPLETED"):
                await collect(client.send_message(user("and back", task_id=task.id)))
            with pytest.raises(InvalidParamsError, match="does not match context"):
                await collect(client.send_message(user("x", task_id=task.id, context_id="another")))
    finally:
        await stop_all(agent)
    folded = fold(mesh).get(task.id)
    assert folded is not None and folded.state == "COMPLETED", folded
    events = Counter(entry.event for entry in folded.timeline)
    assert events == Counter(REQUESTED=1, NEGOTIATING=1, REPLIED=3, COMPLETED=1, REFUSED=2), events
    assert folded.timeline[0].event == "REQUESTED" and folded.timeline[0].role == "requester"
    assert (folded.requester, folded.capability, folded.executor) == ("client-1", "Travel", "travel-1")
    assert folded.result == "booked from SFO" and folded.description == "book a flight"


async def a_task_runs_once_in_a_pool_of_two(mesh: Mesh) -> None:
    """Two agents run the same skill: one pool, one consumer group; each of twelve tasks runs once, on one of
    them, and both take some when both hold partitions."""
    mesh.create_topics(partitions=4)
    ran: Counter[str] = Counter()
    one = A2AAgent(mesh.config("echo-1"), EchoExecutor(ran), card("Echo", "echo"))
    two = A2AAgent(mesh.config("echo-2"), EchoExecutor(ran), card("Echo", "echo"))
    await start_all(one, two)
    try:
        assert one.group_id == two.group_id
        await eventually(lambda: bool(one.consumer and one.consumer.assignment), 30, "echo-1 holds partitions")
        await eventually(lambda: bool(two.consumer and two.consumer.assignment), 30, "echo-2 holds partitions")
        found = await directory_card(mesh, "echo", members=2)
        async with sdk_client(mesh, found, "client-1", streaming=False) as client:
            answers = await asyncio.gather(*(collect(client.send_message(user(f"task {n}"))) for n in range(12)))
        ids = [answer.task.id for (answer,) in answers]
        assert all(answer.task.status.state == TaskState.TASK_STATE_COMPLETED for (answer,) in answers)
    finally:
        await stop_all(one, two)
    assert sorted(ran) == sorted(ids) and set(ran.values()) == {1}, ran
    responders = Counter(
        message.record["responder_id"] for message in mesh.log(mesh.topics.a2a_events) if message.record["final"]
    )
    assert sum(responders.values()) == 12 and set(responders) <= {"echo-1", "echo-2"}


async def a_task_waiting_for_input_can_be_cancelled(mesh: Mesh) -> None:
    """A task parked in input-required is cancelled with no execute running: the executor's cancel makes it
    CANCELED, a subscriber sees that event, and the answer that comes too late is refused."""
    agent = A2AAgent(mesh.config("travel-1"), TravelExecutor(), card("Travel", "travel"))
    await start_all(agent)
    try:
        found = await directory_card(mesh, "travel")
        async with sdk_client(mesh, found, "client-1") as client, sdk_client(mesh, found, "client-2") as watcher:
            task = task_of(await collect(client.send_message(user("book a flight"))))
            watching = watcher.subscribe(SubscribeToTaskRequest(id=task.id))
            (snapshot,) = await collect(watching, limit=1)
            assert snapshot.task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
            cancelled = await client.cancel_task(CancelTaskRequest(id=task.id))
            assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
            assert kinds(await collect(watching)) == ["status:CANCELED"]
            with pytest.raises(UnsupportedOperationError, match="terminal state: TASK_STATE_CANCELED"):
                await collect(client.send_message(user("SFO", task_id=task.id)))
    finally:
        await stop_all(agent)


async def a_task_left_by_a_stopped_member_runs_on_the_other(mesh: Mesh) -> None:
    """A member stopped while its task runs (and whose drain gives up on it) leaves the request uncommitted: the
    member that inherits the partition runs the task again from what the log says of it, and the client's
    waiting send gets the answer from there."""
    mesh.create_topics(partitions=2)
    stuck = SteppedExecutor(steps=1)  # never released: its task only ends when its member goes
    ready = SteppedExecutor(steps=1)
    ready.gates[0].set()
    first = A2AAgent(mesh.config("steps-1", drain_timeout=0.5), stuck, card("Steps", "steps"))
    await start_all(first)
    second = A2AAgent(mesh.config("steps-2"), ready, card("Steps", "steps"))
    try:
        found = await directory_card(mesh, "steps")
        async with sdk_client(mesh, found, "client-1", streaming=False) as client:
            answer = asyncio.ensure_future(collect(client.send_message(user("count"))))
            await asyncio.wait_for(stuck.started.wait(), 30)
            await first.stop()
            await start_all(second)
            (done,) = await asyncio.wait_for(answer, 60)
        assert done.task.status.state == TaskState.TASK_STATE_COMPLETED
        assert [get_artifact_text(artifact) for artifact in done.task.artifacts] == ["step 0"]
    finally:
        await stop_all(first, second)
    finals = [r for r in _records(mesh) if r["final"] and r["task_id"] == done.task.id]
    assert [r["responder_id"] for r in finals] == ["steps-2"], finals


async def answers_failures_and_options_as_over_json_rpc(mesh: Mesh) -> None:
    """A Message answer, an executor that raises (after or before making its task), return_immediately and
    history lengths behave as the SDK's own request handler makes them behave."""
    executor = MixedExecutor()
    agent = A2AAgent(mesh.config("mixed-1"), executor, card("Mixed", "mixed"))
    await start_all(agent)
    try:
        found = await directory_card(mesh, "mixed")
        async with (
            sdk_client(mesh, found, "client-1", streaming=False) as client,
            sdk_client(mesh, found, "client-2") as streaming,
        ):
            (answer,) = await collect(client.send_message(user("hi")))
            assert answer.WhichOneof("payload") == "message" and get_message_text(answer.message) == "hello there"
            streamed = await collect(streaming.send_message(user("hi")))
            assert kinds(streamed) == ["message:hello there"]
            with pytest.raises(InternalError, match="RuntimeError: the agent broke"):
                await collect(client.send_message(user("boom")))
            with pytest.raises(InternalError, match="ValueError: no task for you"):
                await collect(client.send_message(user("crash")))
            listed = await client.list_tasks(ListTasksRequest(status=TaskState.TASK_STATE_FAILED))
            assert sorted(get_message_text(t.history[0]) for t in listed.tasks) == ["boom", "crash"]
            quick = SendMessageRequest(message=user("slow").message, configuration={"return_immediately": True})
            (early,) = await collect(client.send_message(quick))
            assert early.task.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)
            executor.release.set()
            await eventually(lambda: _state(agent, early.task.id) == TaskState.TASK_STATE_COMPLETED, 30, "slow done")
            got = await client.get_task(GetTaskRequest(id=early.task.id, history_length=0))
            assert got.status.state == TaskState.TASK_STATE_COMPLETED and not got.history
            assert get_artifact_text(got.artifacts[0]) == "SLOW"
            cut = SendMessageRequest(message=user("more").message, configuration={"history_length": 0})
            (answer,) = await collect(client.send_message(cut))
            assert answer.task.status.state == TaskState.TASK_STATE_COMPLETED and not answer.task.history
    finally:
        await stop_all(agent)


async def bad_calls_get_the_sdks_errors(mesh: Mesh) -> None:
    """Each refusal is the SDK's own error class, as over JSON-RPC; credentials are not written to the log."""
    agent = A2AAgent(
        mesh.config("echo-1"),
        EchoExecutor(),
        card("Echo", "echo", extended=True),
        extended_card=card("Echo (extended)", "echo", extended=True),
    )
    await start_all(agent)
    try:
        found = await directory_card(mesh, "Echo")
        assert found.capabilities.extended_agent_card and not found.capabilities.push_notifications
        async with sdk_client(mesh, found, "client-1") as client:
            with pytest.raises(TaskNotFoundError):
                await client.get_task(GetTaskRequest(id="no-such-task"))
            with pytest.raises(TaskNotFoundError):
                await collect(client.send_message(user("hello?", task_id="no-such-task")))
            with pytest.raises(TaskNotFoundError):
                await client.cancel_task(CancelTaskRequest(id="no-such-task"))
            (done,) = [e for e in await collect(client.send_message(user("hi"))) if e.WhichOneof("payload") == "task"]
            with pytest.raises(UnsupportedOperationError, match="terminal state"):
                await collect(client.subscribe(SubscribeToTaskRequest(id=done.task.id)))
            with pytest.raises(PushNotificationNotSupportedError):
                await client.create_task_push_notification_config(
                    TaskPushNotificationConfig(task_id=done.task.id, url="http://127.0.0.1:1/hook")
                )
            extended = await client.get_extended_agent_card(GetExtendedAgentCardRequest())
            assert extended.name == "Echo (extended)"
            old = ClientCallContext(service_parameters={"A2A-Version": "0.3"})
            with pytest.raises(VersionNotSupportedError):
                await client.get_task(GetTaskRequest(id=done.task.id), context=old)
            secret = ClientCallContext(service_parameters={"Authorization": "Bearer s3cret"})
            with pytest.raises(Exception, match="does not write credentials"):
                await client.get_task(GetTaskRequest(id=done.task.id), context=secret)
    finally:
        await stop_all(agent)
    assert not any(b"s3cret" in repr(message.record).encode() for message in mesh.log(mesh.topics.a2a_requests))


async def tasks_survive_a_restart_of_the_agent(mesh: Mesh) -> None:
    """An agent stopped and started again (same id, fresh process state) answers for the tasks of its pool
    from the log, and carries on an input-required task it did not see begin."""
    found: AgentCard
    agent = A2AAgent(mesh.config("travel-1"), TravelExecutor(), card("Travel", "travel"))
    await start_all(agent)
    try:
        found = await directory_card(mesh, "travel")
        async with sdk_client(mesh, found, "client-1") as client:
            asked = await collect(client.send_message(user("book a flight")))
            task = task_of(asked)
    finally:
        await stop_all(agent)
    again = A2AAgent(mesh.config("travel-1"), TravelExecutor(), card("Travel", "travel"))
    await start_all(again)
    try:
        async with sdk_client(mesh, found, "client-2") as client:
            got = await client.get_task(GetTaskRequest(id=task.id))
            assert got.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
            answered = await collect(client.send_message(user("OSL", task_id=task.id)))
            assert kinds(answered)[-1] == "status:COMPLETED"
            listed = await client.list_tasks(ListTasksRequest())
            assert [t.id for t in listed.tasks] == [task.id]
    finally:
        await stop_all(again)


def fold(mesh: Mesh) -> TaskLog:
    """The A2A topics folded as ``a2a-fast replay`` and ``tasks`` fold them."""
    return TaskLog().fold_all([*mesh.log(mesh.topics.a2a_requests), *mesh.log(mesh.topics.a2a_events)])


def _state(agent: A2AAgent, task_id: str) -> int | None:
    stored = agent.store.get(task_id)
    return stored.task.status.state if stored is not None else None


def _has_artifact(agent: A2AAgent, task_id: str, text: str) -> bool:
    stored = agent.store.get(task_id)
    return stored is not None and any(get_artifact_text(a) == text for a in stored.task.artifacts)


def _records(mesh: Mesh) -> list[dict[str, Any]]:
    return [message.record for message in mesh.log(mesh.topics.a2a_events) if message.kind == KIND_A2A_EVENT]
