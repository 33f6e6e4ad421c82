"""Any A2A SDK ``AgentExecutor`` as an agent of the mesh, reached over Kafka (:class:`A2AAgent`).

An :class:`A2AAgent` is a mesh agent like our executors: it joins the directory with its ``AgentCard`` (skills
as capabilities, the Kafka interface first), and the agents running the same skills form a *pool*, one consumer
group (``a2a-agents.<skills>``) reading ``a2a.requests``. Kafka gives each partition, and so each task (records
are keyed by task id), to one member, so a task runs once however many members the pool has.

**A call** is one ``A2ARequest`` record (see :mod:`a2a_fast.a2a.binding`); what answers it are ``A2AEvent``
records addressed to the caller, the last one ``final``. ``SendMessage`` and ``SendStreamingMessage`` run the
executor's ``execute`` with an event queue whose events become records at once: the events an executor
enqueues in one go (before it next waits on something) travel in one record, in order, each record carrying
the task's A2A state and the same state in our words (``RUNNING``, ``COMPLETED``...). The record that ends a
turn (the executor returned: the task ended, or waits for input) carries the whole task and the call's reply.

**Exactly once.** The request's offset is committed only once its turn ended and every record of it was
acknowledged, so a member that crashes mid-task leaves the request to the member inheriting the partition,
which runs it again (it learns from the log what the task did so far). A request redelivered after its
answer was written (the crash came between the answer and the commit) is recognised and not run again.

**While a task runs**, its other calls (``GetTask``, ``CancelTask``, ``SubscribeToTask``) are handled in a lane
of their own, beside the running turn: a cancel reaches the executor's ``cancel`` and stops the running
``execute``. Follow-up messages of an ``input-required`` task go in the task's own lane, one turn after the
other, as the SDK guarantees (``execute`` is never called twice at once for one task).

**The tasks** are the log's: each member folds the pool's ``a2a.events`` into a :class:`TaskStore` when it
is given partitions and before it answers ``ListTasks`` (reading the log up to where it ended when asked), and
keeps the tasks it runs current itself, so a restarted member, or one that inherits partitions, knows every
task. Push-notification calls are answered with ``PushNotificationNotSupportedError``: over Kafka, a client
that wants a task's updates later subscribes from the log instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, cast

from a2a.helpers import get_artifact_text, get_message_text
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    SendMessageRequest,
    SendMessageResponse,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import A2AError as ProtocolError
from a2a.utils.errors import (
    ExtendedAgentCardNotConfiguredError,
    ExtensionSupportRequiredError,
    InternalError,
    InvalidAgentResponseError,
    InvalidParamsError,
    InvalidRequestError,
    MethodNotFoundError,
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
    VersionNotSupportedError,
)
from a2a.utils.task import apply_history_length, validate_history_length
from confluent_kafka import TopicPartition
from google.protobuf.message import Message as ProtoMessage

from a2a_fast.a2a.binding import (
    A2A_VERSION,
    EXTENSIONS_PARAMETER,
    METHODS,
    PRODUCE_SETTINGS,
    SEND_STREAMING_MESSAGE,
    TEXT_LIMIT,
    VERSION_PARAMETER,
    Method,
    decode,
    encode,
    error_fields,
    new_id,
    service_parameters,
    validate_required,
)
from a2a_fast.a2a.cards import ROLE, advertised_card, card_resources, kafka_interface
from a2a_fast.a2a.states import INTERRUPTED, MESH_OF_A2A, TERMINAL, mesh_state, state_name
from a2a_fast.a2a.tasks import (
    StoredTask,
    TaskStore,
    add_user_message,
    apply_artifact,
    apply_event,
    apply_status,
    apply_task,
    new_task,
)
from a2a_fast.agents.base import Agent, AgentConfig, pool_group, start_eagerly
from a2a_fast.errors import ConfigError
from a2a_fast.mesh.directory import AgentCard as DirectoryCard
from a2a_fast.mesh.directory import AgentState
from a2a_fast.observability.tracing import continue_trace
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_A2A_EVENT, KIND_A2A_REQUEST
from a2a_fast.transport.log import replay

__all__ = ["A2AAgent"]

log = logging.getLogger("a2a_fast.a2a.server")

_CONTROL_LANE = b"\x00control"
_STATE_NAMES = {state: TaskState.Name(state) for state in TaskState.values()}

# The events an executor enqueues, as the fields of ``StreamResponse``'s payload they go in.
_TASK, _MESSAGE, _STATUS, _ARTIFACT = 1, 2, 3, 4
_EVENT_KINDS: dict[type, int] = {
    Task: _TASK,
    Message: _MESSAGE,
    TaskStatusUpdateEvent: _STATUS,
    TaskArtifactUpdateEvent: _ARTIFACT,
}


def _event_kind(event: Any) -> int | None:
    return next((kind for cls, kind in _EVENT_KINDS.items() if isinstance(event, cls)), None)


_SHORT_PREFIXES = {field: [bytes(((field << 3) | 2, size)) for size in range(0x80)] for field in _EVENT_KINDS.values()}
"""The tag and one-byte length of each ``StreamResponse`` payload field, by field and length below 128."""


def _stream_response(field: int, event: ProtoMessage) -> bytes:
    """``StreamResponse(<field>=event).SerializeToString()``, the same bytes without copying ``event`` into a new
    message: the field's tag, the event's length as a varint, the event."""
    body = event.SerializeToString()
    size = len(body)
    if size < 0x80:
        return _SHORT_PREFIXES[field][size] + body
    prefix = bytearray(((field << 3) | 2,))
    while size > 0x7F:
        prefix.append((size & 0x7F) | 0x80)
        size >>= 7
    prefix.append(size)
    return bytes(prefix) + body


class A2AAgent(Agent):
    """Runs ``executor`` (an A2A SDK ``AgentExecutor``) for the agent of ``card``, at most ``max_tasks`` turns at
    once; ``extended_card`` is what ``GetExtendedAgentCard`` answers (and the directory shows to the mesh)."""

    role: ClassVar[str] = ROLE
    transactions_wait_for_handlers = False  # its handlers run for as long as their tasks do

    def __init__(
        self,
        config: AgentConfig,
        executor: AgentExecutor,
        card: AgentCard,
        *,
        extended_card: AgentCard | None = None,
        max_tasks: int = 16,
        retained_tasks: int = 10_000,
    ) -> None:
        skills = sorted({skill.id.strip().lower() for skill in card.skills if skill.id.strip()})
        if not skills:
            raise ConfigError(f"A2A agent {config.agent_id}: its card {card.name!r} has no skills, which name its pool")
        if max_tasks < 1:
            raise ConfigError(f"A2A agent {config.agent_id}: max_tasks must be at least 1, got {max_tasks}")
        self.skills = skills
        super().__init__(config)
        self.executor = executor
        self.source_card = card
        self.extended_card = extended_card
        self.max_tasks = max_tasks
        self.store = TaskStore(retained_tasks)
        self.counts: Counter[str] = Counter()
        self.turns: dict[str, _Turn] = {}
        self._slots = asyncio.Semaphore(max_tasks)
        self._view_lock = threading.Lock()
        self._view_positions: dict[tuple[str, int], int] = {}
        self._shown: AgentCard | None = None
        self._required_extensions: tuple[str, ...] | None = None

    # --- who it is ------------------------------------------------------------------------------------

    def default_group(self) -> str:
        return pool_group(self.topics.prefix, self.role, self.skills)

    def subscriptions(self) -> list[str]:
        return [self.topics.a2a_requests]

    def produce_settings(self) -> dict[str, Any]:
        return dict(PRODUCE_SETTINGS)

    def capabilities(self) -> list[str]:
        return list(self.skills)

    @property
    def agent_card(self) -> AgentCard:
        """The card as the mesh shows it: the Kafka interface first, push notifications off."""
        if self._shown is None:
            interface = kafka_interface(self.transport, self.group_id, self.topics)
            self._shown = advertised_card(self.source_card, interface, self.extended_card is not None)
        return self._shown

    def card(self) -> DirectoryCard:
        card = super().card()
        resources = {**card.resources, "a2a": card_resources(self.agent_card, self.extended_card)}
        return DirectoryCard(card.agent_id, card.agent_type, card.version, card.capabilities, card.endpoints, resources)

    def mesh_state(self) -> AgentState:
        state = super().mesh_state()
        if not self.turns:
            return state
        return AgentState(status="BUSY", current_task=next(iter(self.turns)), load=state.load)

    def task_counts(self) -> dict[str, int]:
        return {**self.counts, "RUNNING": len(self.turns)}

    def extra_status(self) -> dict[str, Any]:
        return {"skills": list(self.skills), "max_tasks": self.max_tasks, "known_tasks": len(self.store)}

    def expires(self, message: Inbound) -> bool:
        return message.kind == KIND_A2A_REQUEST

    def lane(self, message: Inbound, key: bytes | None) -> bytes | None:
        method = METHODS.get(str(message.record.get("method")))
        if method is not None and method.sends:
            return key
        return (key or b"") + _CONTROL_LANE

    # --- the tasks, from the log ------------------------------------------------------------------------

    def on_partitions_assigned(self, partitions: list[TopicPartition]) -> None:
        loop = self._loop
        if loop is None or not partitions:
            return
        records = self._read_events()
        loop.call_soon_threadsafe(self._fold_all, records)

    async def catch_up(self) -> None:
        """Folds what ``a2a.events`` holds now and this member has not read yet."""
        records = await asyncio.get_running_loop().run_in_executor(None, self._read_events)
        self._fold_all(records)

    def _read_events(self) -> list[Inbound]:
        """The pool's records of ``a2a.events`` since the last read, up to the end the topic has now (blocking)."""
        catalog = self.catalog
        if catalog is None:
            return []
        with self._view_lock:
            found = []
            for message in replay(
                self.transport,
                catalog,
                self.topics,
                start=dict(self._view_positions),
                topics=[self.topics.a2a_events],
                reader=f"{self.agent_id}-tasks",
            ):
                self._view_positions[(message.topic, message.partition)] = message.offset + 1
                if message.kind == KIND_A2A_EVENT and message.record.get("pool") == self.group_id:
                    found.append(message)
            return found

    def _fold_all(self, records: Iterable[Inbound]) -> None:
        for message in records:
            try:
                self._fold(message.record)
            except ProtocolError as error:  # a payload another writer broke: the rest of the log still counts
                log.warning(
                    "%s: %s[%s]@%s left out of the tasks: %s",
                    self.agent_id,
                    message.topic,
                    message.partition,
                    message.offset,
                    error,
                )

    def _fold(self, record: Mapping[str, Any]) -> None:
        """Brings a task up to one record of the log, unless it already knows as much (its own records)."""
        task_id = str(record["task_id"])
        if task_id in self.turns:
            return
        known = self.store.get(task_id)
        version = int(record.get("version") or 0)
        if known is not None and known.version >= version:
            return
        creator = known.creator if known is not None else str(record.get("request_id") or "")
        snapshot = record.get("task")
        if snapshot:
            self.store.put(StoredTask(decode(snapshot, Task, "task"), version, creator))
            return
        events = list(record.get("events") or ())
        if not events:
            return
        task = None
        if known is not None:
            task = Task()
            task.CopyFrom(known.task)
        first = version - len(events) + 1
        for position, payload in enumerate(events):
            if known is not None and first + position <= known.version:
                continue
            task = apply_event(task, decode(payload, StreamResponse, "event"))
        if task is not None and task.id:
            self.store.put(StoredTask(task, version, creator))

    # --- calls ------------------------------------------------------------------------------------------

    async def handle(self, message: Inbound) -> None:
        if message.kind != KIND_A2A_REQUEST:
            return
        reply = _Reply(self, message)
        try:
            method = METHODS.get(str(message.record["method"]))
            if method is None:
                raise MethodNotFoundError(f"{message.record['method']!r} is not an A2A method")
            record = self.handling()
            parameters = service_parameters(cast(Any, record.headers()) if record is not None else None)
            self._check_version(parameters)
            params = decode(message.record["params"], method.request, f"params of {method.name}")
            validate_required(params)
            context = self._call_context(params, parameters, reply.requester)
            await self._call(method, params, context, reply)
        except ProtocolError as error:
            await reply.fail(error)
        except Exception as error:
            log.exception("%s: %s of %s failed", self.agent_id, message.record.get("method"), message.task_id)
            await reply.fail(InternalError(f"{type(error).__name__}: {error}"))

    def _check_version(self, parameters: Mapping[str, str]) -> None:
        version = parameters.get(VERSION_PARAMETER) or "0.3"
        if version == A2A_VERSION:
            return
        if version.strip().split(".")[:2] != A2A_VERSION.split("."):
            raise VersionNotSupportedError(f"A2A version {version} is not supported: this agent speaks {A2A_VERSION}")

    def _call_context(self, params: ProtoMessage, parameters: Mapping[str, str], requester: str) -> ServerCallContext:
        listed = parameters.get(EXTENSIONS_PARAMETER)
        requested = {uri.strip() for uri in listed.split(",") if uri.strip()} if listed else set()
        required = self._required_extensions
        if required is None:
            extensions = self.agent_card.capabilities.extensions
            required = self._required_extensions = tuple(ext.uri for ext in extensions if ext.required)
        missing = [uri for uri in required if uri not in requested]
        if missing:
            raise ExtensionSupportRequiredError(f"the agent requires extension(s) {', '.join(missing)}")
        tenant = str(getattr(params, "tenant", "") or "")
        state = {"headers": dict(parameters), "requester": requester}
        return ServerCallContext(state=state, tenant=tenant, requested_extensions=requested)

    async def _call(self, method: Method, params: Any, context: ServerCallContext, reply: _Reply) -> None:
        name = method.name
        if method.sends:
            await self._send(params, context, reply, streaming=name == SEND_STREAMING_MESSAGE)
        elif name == "GetTask":
            await self._get_task(params, reply)
        elif name == "ListTasks":
            await self._list_tasks(params, reply)
        elif name == "CancelTask":
            await self._cancel(params, context, reply)
        elif name == "SubscribeToTask":
            await self._subscribe(params, reply)
        elif name == "GetExtendedAgentCard":
            if not self.agent_card.capabilities.extended_agent_card:
                raise UnsupportedOperationError("The agent does not support authenticated extended cards")
            if self.extended_card is None:
                raise ExtendedAgentCardNotConfiguredError
            await reply.send(reply=self.extended_card, final=True)
        else:
            raise PushNotificationNotSupportedError("Push notifications are not supported by the agent")

    def _stored(self, task_id: str) -> StoredTask:
        stored = self.store.get(task_id)
        if stored is None:
            raise TaskNotFoundError(f"Task {task_id} not found")
        return stored

    async def _get_task(self, params: GetTaskRequest, reply: _Reply) -> None:
        validate_history_length(params)
        stored = self._stored(params.id)
        await reply.send(reply=apply_history_length(stored.task, params), final=True, version=stored.version)

    async def _list_tasks(self, params: ListTasksRequest, reply: _Reply) -> None:
        await self.catch_up()
        await reply.send(reply=self.store.list(params), final=True)

    async def _subscribe(self, params: SubscribeToTaskRequest, reply: _Reply) -> None:
        if not self.agent_card.capabilities.streaming:
            raise UnsupportedOperationError("Streaming is not supported by the agent")
        stored = self._stored(params.id)
        if stored.terminal:
            raise UnsupportedOperationError(
                f"Task {params.id} is in terminal state: {state_name(stored.task.status.state)}"
            )
        await reply.send(reply=stored.task, final=True, version=stored.version, context_id=stored.task.context_id)

    async def _cancel(self, params: CancelTaskRequest, context: ServerCallContext, reply: _Reply) -> None:
        stored = self._stored(params.id)
        if stored.terminal:
            raise TaskNotCancelableError(
                f"Task {params.id} is in terminal state: {state_name(stored.task.status.state)}"
            )
        running = self.turns.get(params.id)
        if running is not None:
            await running.cancel(context)
            stored = self._stored(params.id)
            await reply.send(reply=stored.task, final=True, version=stored.version)
            return
        # Waiting for input, or left behind by a member that stopped: the cancel is a turn of its own.
        turn = _Turn(self, reply, stored.task.id, stored.task.context_id, None, stored, None)
        request = RequestContext(context, task_id=turn.task_id, context_id=turn.context_id, task=_copy(stored.task))
        self.turns[turn.task_id] = turn
        try:
            try:
                await self.executor.cancel(request, turn.queue)
            except ProtocolError:
                await turn.end_failed()
                raise
            except Exception as error:
                await turn.end_failed()
                raise InternalError(f"the agent's cancel failed: {type(error).__name__}: {error}") from None
            if not turn.terminal:
                turn.add(_status(turn, TaskState.TASK_STATE_CANCELED))
            self.counts["CANCELED"] += 1
            await turn.finish(reply_with=turn.task)
        finally:
            del self.turns[turn.task_id]
            turn.finished.set()

    async def _send(
        self, params: SendMessageRequest, context: ServerCallContext, reply: _Reply, *, streaming: bool
    ) -> None:
        if streaming and not self.agent_card.capabilities.streaming:
            raise UnsupportedOperationError("Streaming is not supported by the agent")
        if params.configuration.HasField("task_push_notification_config"):
            raise PushNotificationNotSupportedError("Push notifications are not supported by the agent")
        validate_history_length(params.configuration)
        message = params.message
        task_id = reply.task_id
        cancelling = self.turns.get(task_id)
        if cancelling is not None:
            await cancelling.finished.wait()  # a cancel of the task waiting for this answer ends first
        stored = self.store.get(task_id)
        if message.task_id:
            if message.task_id != task_id:
                raise InvalidRequestError(
                    f"record key {task_id!r} differs from the message's taskId {message.task_id!r}"
                )
            if stored is None:
                raise TaskNotFoundError(f"Task {task_id} not found")
            if message.context_id and message.context_id != stored.task.context_id:
                raise InvalidParamsError(
                    f"Context {message.context_id} does not match context {stored.task.context_id} of task {task_id}"
                )
            if any(earlier.message_id == message.message_id for earlier in stored.task.history):
                return  # a redelivered follow-up whose turn was answered before a restart
            if stored.terminal:
                raise UnsupportedOperationError(
                    f"Task {task_id} is in terminal state: {state_name(stored.task.status.state)}"
                )
            message.context_id = stored.task.context_id
        elif stored is not None:
            if stored.creator != reply.request_id:
                raise InvalidRequestError(f"task id {task_id} is taken: a new task needs an id no task has")
            if stored.terminal or stored.task.status.state in INTERRUPTED:
                return  # a redelivered call whose turn was answered before a restart
        context_id = message.context_id or (stored.task.context_id if stored else "") or new_id()
        turn = _Turn(self, reply, task_id, context_id, message, stored, params.configuration, streaming=streaming)
        request = RequestContext(
            context,
            request=params,
            task_id=task_id,
            context_id=context_id,
            task=_copy(stored.task) if stored is not None else None,
        )
        async with self._slots:
            self.turns[task_id] = turn
            try:
                await turn.run(request)
            finally:
                del self.turns[task_id]


class _Reply:
    """The records answering one call, addressed to its caller. An executor need not do the same thing twice, so
    a call handled again after a restart gets records of its own (fresh event ids), not copies of the first."""

    __slots__ = ("agent", "inbound", "method", "replied", "request_id", "requester", "sent", "task_id")

    def __init__(self, agent: A2AAgent, inbound: Inbound) -> None:
        record = inbound.record
        self.agent = agent
        self.inbound = inbound
        self.task_id = inbound.task_id
        self.request_id = str(record["request_id"])
        self.requester = str(record.get("requester_id") or inbound.source_agent)
        self.method = str(record["method"])
        self.sent = 0
        self.replied = False

    async def send(
        self,
        *,
        events: list[bytes] | None = None,
        reply: ProtoMessage | None = None,
        final: bool = False,
        error: ProtocolError | None = None,
        task: Task | None = None,
        version: int = 0,
        context_id: str | None = None,
        status: str | None = None,
        state: int | None = None,
        text: str | None = None,
    ) -> None:
        self.sent += 1
        record: dict[str, Any] = {
            "task_id": self.task_id,
            "request_id": self.request_id,
            "responder_id": self.agent.agent_id,
            "pool": self.agent.group_id,
            "method": self.method,
            "context_id": context_id or None,
            "events": events or [],
            "reply": encode(reply) if reply is not None else None,
            "error_code": None,
            "error_message": None,
            "error_details": None,
            "final": final,
            "state": _STATE_NAMES.get(state) if state else None,
            "status": status,
            "text": text[:TEXT_LIMIT] if text else None,
            "task": encode(task) if task is not None else None,
            "version": version,
            "timestamp": int(time.time() * 1000),
        }
        if error is not None:
            record.update(error_fields(error))
        if final:
            self.replied = True
        inbound = self.inbound
        await self.agent.publish(
            KIND_A2A_EVENT,
            record,
            target_agent=self.requester,
            collaboration_id=context_id or None,
            traceparent=continue_trace(inbound.traceparent),
            event_id=new_id(),
        )

    async def fail(self, error: ProtocolError) -> None:
        """Answers the call with ``error``; a message send refused before it made a task reads as REJECTED."""
        rejected = METHODS[self.method].sends if self.method in METHODS else False
        creates = rejected and self.agent.store.get(self.task_id) is None
        await self.send(
            final=True,
            error=error,
            status="REJECTED" if creates else None,
            text=error.message if creates else None,
        )


class _TurnEvents(EventQueue):
    """The event queue an executor writes to: every event joins the turn at once (see :class:`_Turn`)."""

    def __init__(self, turn: _Turn) -> None:
        self.turn = turn

    async def enqueue_event(self, event: Any) -> None:
        self.turn.add(event)


class _Turn:
    """One run of the executor for one task: checks each event as the SDK does, applies it to the task, and
    publishes the events in order, those enqueued together in one record, the last record final."""

    def __init__(
        self,
        agent: A2AAgent,
        reply: _Reply,
        task_id: str,
        context_id: str,
        message: Message | None,
        stored: StoredTask | None,
        configuration: Any,
        *,
        streaming: bool = False,
    ) -> None:
        self.agent = agent
        self.reply = reply
        self.task_id = task_id
        self.context_id = context_id
        self.message = message
        self.configuration = configuration
        self.streaming = streaming
        self.task: Task | None = _copy(stored.task) if stored is not None else None
        self.version = stored.version if stored is not None else 0
        self.creator = stored.creator if stored is not None else reply.request_id
        self.follow_up = stored is not None and message is not None
        self.answer: Message | None = None
        self.queue = _TurnEvents(self)
        self.pending: list[bytes] = []
        """The events not published yet, each a ``StreamResponse`` in its protobuf encoding."""
        self.said: Message | Any = None
        """The latest message or artifact of the turn: the record's ``text`` is read from it when published."""
        self.stored: StoredTask | None = None
        self.ended = False
        self.runner: asyncio.Task[None] | None = None
        self.cancelling = False
        self.cancel_error: BaseException | None = None
        self.finished = asyncio.Event()
        self.has_started = False
        """Whether the executor made its Task (or answered with a Message)."""
        self._started: asyncio.Event | None = None
        self._lock = asyncio.Lock()
        self._flush_soon = False
        self.eager = False
        """While ``execute`` runs its first step here: its events wait for that step's end."""
        self.silent_change = False
        """The task changed without an event (the SDK's way of failing a task the executor never made)."""

    @property
    def terminal(self) -> bool:
        return self.task is not None and self.task.status.state in TERMINAL

    def _store(self) -> None:
        """The task as it stands now, for the calls answered meanwhile (GetTask, SubscribeToTask...)."""
        task = self.task
        if task is None:
            return
        stored = self.stored
        if stored is None or stored.task is not task:
            self.stored = stored = StoredTask(task, self.version, self.creator)
            self.agent.store.put(stored)
        else:
            stored.version = self.version
            if stored.terminal:
                self.agent.store.put(stored)

    def _text(self) -> str | None:
        said = self.said
        if isinstance(said, Message):
            return get_message_text(said) or None
        if said is not None:
            return get_artifact_text(said) or None
        return None

    # --- events ---------------------------------------------------------------------------------------

    def add(self, event: Any) -> None:
        if self.ended:
            log.warning("%s: task %s: an event after the turn ended is dropped", self.agent.agent_id, self.task_id)
            return
        kind = _EVENT_KINDS.get(type(event)) or _event_kind(event)
        if kind == _MESSAGE:
            if self.task is not None:
                raise InvalidAgentResponseError(
                    "Received Message object in task mode. "
                    "Use TaskStatusUpdateEvent or TaskArtifactUpdateEvent instead."
                )
            if self.answer is not None:
                raise InvalidAgentResponseError("Multiple Message objects received.")
            self.answer = event
            self.said = event
            self._queue(_stream_response(_MESSAGE, event))
            if not self.has_started:
                self._start()
            return
        if self.answer is not None:
            raise InvalidAgentResponseError(
                f"Received {type(event).__name__} in message mode. Use Task with TaskStatusUpdateEvent and "
                "TaskArtifactUpdateEvent instead."
            )
        task = self.task
        if kind == _TASK:
            if event.id != self.task_id:
                raise InternalError("Task ID mismatch in agent response")
        elif kind == _STATUS:
            if task is None:
                raise InvalidAgentResponseError("Agent should enqueue Task before TaskStatusUpdateEvent event")
            if event.task_id != self.task_id:
                raise InternalError("Task ID mismatch in agent response")
            if event.status.HasField("message"):
                self.said = event.status.message
        elif kind == _ARTIFACT:
            if event.task_id != self.task_id:
                raise InternalError("Task ID mismatch in agent response")
            self.said = event.artifact
        else:
            raise InvalidAgentResponseError(f"an executor enqueues A2A events, not {type(event).__name__}")
        if task is not None and task.status.state in TERMINAL:
            raise InvalidAgentResponseError(
                f"{type(event).__name__} after the task reached {state_name(task.status.state)}"
            )
        if self.follow_up and task is not None and self.message is not None:
            add_user_message(task, self.message)
            self.follow_up = False
        # the event encoded as it is now, before the executor can change it
        wrapped = _stream_response(kind, event)
        if kind == _TASK:
            self.task = apply_task(task, event)
        elif kind == _STATUS:
            self.task = apply_status(task, event)
        else:
            self.task = apply_artifact(task, event)
            if task is None and self.message is not None:
                # an update before any Task makes the task, with the request's message as its history (as the SDK)
                self.task.history.append(self.message)
        self._queue(wrapped)
        if not self.has_started:
            self._start()

    def _start(self) -> None:
        self.has_started = True
        if self._started is not None:
            self._started.set()

    async def _wait_started(self) -> None:
        if not self.has_started:
            self._started = asyncio.Event()
            await self._started.wait()

    def _queue(self, event: bytes) -> None:
        """Counts the event into the task's version (the stored task says it) and has it published soon."""
        version = self.version = self.version + 1
        task = self.task
        if task is not None:
            stored = self.stored
            if stored is None or stored.task is not task:
                self.stored = stored = StoredTask(task, version, self.creator)
                self.agent.store.put(stored)
            else:
                stored.version = version
                if task.status.state in TERMINAL:
                    self.agent.store.put(stored)
        self.pending.append(event)
        if not self._flush_soon and not self.eager:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._schedule_flush)

    def _schedule_flush(self) -> None:
        self._flush_soon = False
        runner = self.runner
        if runner is None or runner.done():
            return  # the turn's last record takes them
        if self.pending and not self.ended:
            flush = asyncio.ensure_future(self.flush())
            flush.add_done_callback(self._flush_done)

    def _flush_done(self, flush: asyncio.Future[None]) -> None:
        if not flush.cancelled() and flush.exception() is not None:
            log.error("%s: task %s: publishing events failed: %r", self.agent.agent_id, self.task_id, flush.exception())

    async def flush(
        self, *, final: bool = False, reply_with: ProtoMessage | None = None, error: ProtocolError | None = None
    ) -> None:
        """Publishes the events not published yet; ``final`` ends the call (with its reply or error)."""
        async with self._lock:
            events, self.pending = self.pending, []
            if not events and not final:
                return
            task = self.task
            state = task.status.state if task is not None else None
            status = None
            if events or self.silent_change:
                status = MESH_OF_A2A.get(state) if state else ("COMPLETED" if self.answer is not None else None)
                self.silent_change = False
            early = self.reply.replied
            await self.reply.send(
                events=events,
                reply=None if early else reply_with,
                final=final and not early,
                error=None if early else error,
                task=task if final or self.terminal else None,
                version=self.version,
                context_id=self.context_id,
                status=status,
                state=state,
                text=self._text() if events else None,
            )

    # --- running ---------------------------------------------------------------------------------------

    async def run(self, request: RequestContext) -> None:
        """Runs ``execute`` to its end (or its cancel), then publishes the turn's last record.

        ``execute`` starts right here: an executor that never waits (the events of a quick task) finishes
        without a Task of its own, its events all in the turn's one record. One that waits goes on in a Task
        (so a cancel can stop it), and what it enqueued up to then is published as it starts waiting."""
        agent = self.agent
        failure: BaseException | None = None
        self.eager = True
        try:
            runner = start_eagerly(agent.executor.execute(request, self.queue))
        except Exception as error:
            runner, failure = None, error
        finally:
            self.eager = False
        if runner is not None:
            self.runner = runner
            try:
                failure = await self._wait(runner)
            except asyncio.CancelledError:
                self.ended = True
                self.finished.set()
                raise
        try:
            await self._end(failure)
        finally:
            self.ended = True
            self.finished.set()

    @property
    def _immediately(self) -> bool:
        """Whether a non-streaming send answers as soon as the task exists (``return_immediately``)."""
        return bool(not self.streaming and self.configuration is not None and self.configuration.return_immediately)

    async def _wait(self, runner: asyncio.Task[None]) -> BaseException | None:
        """Waits for the rest of ``execute``; what it raised (a cancel of our own is not a failure). Raises
        CancelledError when the handler itself is being stopped (the runner is then cancelled too)."""
        if self.pending:
            await self.flush()
        if self._immediately and not self.reply.replied:
            started: asyncio.Future[Any] = asyncio.ensure_future(self._wait_started())
            try:
                await asyncio.wait({runner, started}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                started.cancel()
            if not runner.done():
                await self.flush(final=True, reply_with=self._response())
        try:
            await runner
        except asyncio.CancelledError:
            if not self.cancelling:
                raise
            return None
        except Exception as error:
            return error
        return None

    async def _end(self, failure: BaseException | None) -> None:
        agent = self.agent
        if self.cancelling:
            failure = self.cancel_error
        if self.cancelling and failure is None:
            if not self.terminal:
                self.add(_status(self, TaskState.TASK_STATE_CANCELED))
            agent.counts[(mesh_state(self.task.status.state) if self.task is not None else None) or "CANCELED"] += 1
            await self.flush(final=True, reply_with=self._response())
            return
        if failure is not None:
            error = (
                failure if isinstance(failure, ProtocolError) else InternalError(f"{type(failure).__name__}: {failure}")
            )
            if not isinstance(failure, ProtocolError):
                log.warning("%s: task %s: execute raised %r", agent.agent_id, self.task_id, failure)
            await self.end_failed(error)
            return
        if self.task is None and self.answer is None:
            await self.end_failed(InvalidAgentResponseError("the agent returned without a Task or a Message"))
            return
        state = self.task.status.state if self.task is not None else None
        agent.counts[(mesh_state(state) if state else None) or "MESSAGE"] += 1
        await self.flush(final=True, reply_with=self._response())

    async def end_failed(self, error: ProtocolError | None = None) -> None:
        """Ends the turn FAILED (making the task FAILED, or creating it so, as the SDK does) and answers ``error``."""
        if self.answer is None:
            if self.task is None:
                self.task = new_task(self.task_id, self.context_id, self.message, TaskState.TASK_STATE_FAILED)
                self.task.status.timestamp.GetCurrentTime()
                self.version += 1
                self.silent_change = True
                self._store()
            elif not self.terminal:
                self.follow_up = False
                with contextlib.suppress(ProtocolError):
                    self.add(_status(self, TaskState.TASK_STATE_FAILED))
        self.agent.counts["FAILED"] += 1
        if error is None:
            await self.flush(final=True, reply_with=self.task)
        else:
            await self.flush(final=True, error=error)

    async def finish(self, reply_with: ProtoMessage | None) -> None:
        """Ends a cancel's own turn: its events and the call's reply in one record."""
        await self.flush(final=True, reply_with=reply_with)
        self.ended = True

    def _response(self) -> ProtoMessage | None:
        """The reply of a ``SendMessage``: the agent's message, or the task cut to the history length asked
        for. The whole task is in the record anyway (``task``), so a task answer with no cut is not repeated:
        the binding reads such a reply from ``task``."""
        if self.streaming:
            return None
        if self.answer is not None:
            return SendMessageResponse(message=self.answer)
        if self.task is None or not self.configuration.HasField("history_length"):
            return None
        return SendMessageResponse(task=apply_history_length(self.task, self.configuration))

    async def cancel(self, context: ServerCallContext) -> None:
        """Runs the executor's ``cancel`` into this turn's queue, stops ``execute`` and waits for the turn to end
        (CANCELED, unless the agent's cancel failed: then FAILED and its error raised)."""
        runner = self.runner
        if runner is None or runner.done() or self.terminal:
            raise TaskNotCancelableError(f"Task {self.task_id} is finishing and can no longer be canceled")
        self.cancelling = True
        task = _copy(self.task) if self.task is not None else None
        request = RequestContext(context, task_id=self.task_id, context_id=self.context_id, task=task)
        try:
            await self.agent.executor.cancel(request, self.queue)
        except ProtocolError as error:
            self.cancel_error = error
        except Exception as error:
            self.cancel_error = InternalError(f"the agent's cancel failed: {type(error).__name__}: {error}")
        finally:
            runner.cancel()
        await self.finished.wait()
        if isinstance(self.cancel_error, ProtocolError):
            raise self.cancel_error
        if self.task is None or self.task.status.state != TaskState.TASK_STATE_CANCELED:
            raise TaskNotCancelableError(f"Task {self.task_id} ended before it could be canceled")


def _status(turn: _Turn, state: TaskState) -> TaskStatusUpdateEvent:
    status = TaskStatus(state=state)
    status.timestamp.GetCurrentTime()
    return TaskStatusUpdateEvent(task_id=turn.task_id, context_id=turn.context_id, status=status)


def _copy(task: Task) -> Task:
    copy = Task()
    copy.CopyFrom(task)
    return copy
