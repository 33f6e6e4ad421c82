"""The A2A SDK's client over Kafka: :class:`KafkaClientTransport`, a ``ClientTransport`` for the Kafka binding.

Register it with the SDK's factory under :data:`~a2a_fast.a2a.binding.KAFKA_BINDING` and the factory picks it for
any card with a Kafka interface (our agents' cards, read from the mesh directory with
:func:`~a2a_fast.a2a.cards.find_card`)::

    factory = ClientFactory(ClientConfig(supported_protocol_bindings=[KAFKA_BINDING]))
    factory.register(KAFKA_BINDING, KafkaClientTransport)
    client = factory.create(await find_card("echo"))

The SDK's request and response types go in and come out unchanged. Each call is one ``A2ARequest`` record on
``a2a.requests`` addressed to the agent's pool (the consumer group in the interface URL), keyed by its task;
what answers it comes back on ``a2a.events`` addressed to this client. A :class:`KafkaCaller` (a mesh agent
of role ``a2a-client`` with one producer and one consumer) does the Kafka side; a transport made by the factory
has one of its own, connected from the interface URL, and :func:`register` lets many transports share one.

* ``send_message`` waits for the task to end or to ask for input (or, with ``return_immediately``, for the
  task to exist); ``send_message_streaming`` yields the task's events as the agent's records arrive and ends
  with the turn.
* ``subscribe`` re-attaches to a running task from anywhere, a restarted client included: the agent answers
  with the task as it stands and its version, and every later event of the task is then read from the log
  (the task's partition of ``a2a.events``), events the snapshot already holds skipped by version, until the
  task ends. No gap, no duplicate.
* ``get_extended_agent_card`` reads the card from the mesh directory; the push-notification calls are answered
  by the agent with ``PushNotificationNotSupportedError`` (the binding's updates are the log: subscribe).

Calls that answer at once (get, list, cancel, subscribe's snapshot, push configs) wait ``timeout`` seconds
(default 30) for an answer, message sends as long as the task takes; ``ClientCallContext.timeout`` overrides
both. Service parameters (``ClientCallContext.service_parameters``) travel as Kafka headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, Callable
from functools import partial
from typing import Any, ClassVar, TypeVar

from a2a.client import ClientCallContext, ClientConfig, ClientFactory
from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.client.transports.base import ClientTransport
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    SendMessageRequest,
    SendMessageResponse,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
)
from confluent_kafka import KafkaError, KafkaException
from google.protobuf.message import Message as ProtoMessage

from a2a_fast.a2a.binding import (
    KAFKA_BINDING,
    PRODUCE_SETTINGS,
    SEND_MESSAGE,
    SEND_STREAMING_MESSAGE,
    TEXT_LIMIT,
    decode,
    decode_into,
    encode,
    error_from,
    new_id,
    service_parameter_headers,
)
from a2a_fast.a2a.cards import a2a_card, parse_address
from a2a_fast.a2a.states import TERMINAL
from a2a_fast.agents.base import Agent, AgentConfig
from a2a_fast.errors import ConfigError
from a2a_fast.observability.tracing import continue_trace
from a2a_fast.protocol.envelope import TARGET_AGENT_HEADER, Inbound, KafkaRecord
from a2a_fast.protocol.kinds import KIND_A2A_REQUEST

__all__ = ["KafkaCaller", "KafkaClientTransport", "register"]

M = TypeVar("M", bound=ProtoMessage)
_CLOCK_MARGIN = 60.0
_PARTITION_KEY_HEADER = "ce_partitionkey"
_CLOSED = object()
_QUICK = object()


class _Inbox:
    """The records for one call (or one followed task), in the order they were read."""

    __slots__ = ("_records", "_waiter")

    def __init__(self) -> None:
        self._records: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def deliver(self, item: Any) -> None:
        self._records.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def waiter(self) -> asyncio.Future[None]:
        """A future done once a record is delivered (to await while :attr:`records` is empty)."""
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        return waiter

    @property
    def records(self) -> deque[Any]:
        return self._records

    async def next(self, timeout: float | None) -> Any:  # noqa: ASYNC109 (a wait bound, raised as the SDK's timeout)
        while not self._records:
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await waiter
                else:
                    async with asyncio.timeout(timeout):
                        await waiter
            finally:
                self._waiter = None
        return self._records.popleft()


class _Unsent:
    """What a call's inbox gets when its request could not be delivered."""

    __slots__ = ("error",)

    def __init__(self, error: KafkaException) -> None:
        self.error = error


class KafkaCaller(Agent):
    """The Kafka side of A2A clients in one process: sends their calls and reads what answers them.

    It reads ``a2a.events`` in a consumer group of its own (``a2a-clients.<id>``) and keeps the records addressed to
    it (``ce_targetagent``) and those of the tasks it follows (``subscribe``), skipping the rest unread. It reads
    the mesh directory (for extended cards) without joining it.
    """

    role: ClassVar[str] = "a2a-client"
    reads_directory = True

    def __init__(self, config: AgentConfig) -> None:
        super().__init__(config)
        self._calls: dict[str, _Inbox] = {}
        self._following: dict[str, list[_Inbox]] = {}
        self._me = self.agent_id.encode()
        self._starting: asyncio.Lock | None = None

    @classmethod
    def connect(
        cls,
        kafka: str,
        schema_registry: str,
        topic_prefix: str = "",
        client_id: str | None = None,
        **options: Any,
    ) -> KafkaCaller:
        """A caller for the mesh on ``kafka`` (``topic_prefix``), with the client id ``client_id`` (default a new
        one); ``options`` are further :class:`~a2a_fast.agents.base.AgentConfig` fields."""
        from a2a_fast.protocol.topics import TopicNames

        options.setdefault("join_mesh", False)
        client_id = client_id or f"a2a-client-{uuid.uuid4().hex[:8]}"
        return cls(AgentConfig(client_id, kafka, schema_registry, topics=TopicNames(topic_prefix), **options))

    def default_group(self) -> str:
        return f"{self.topics.prefix}a2a-clients.{self.agent_id}"

    def subscriptions(self) -> list[str]:
        return [self.topics.a2a_events]

    def produce_settings(self) -> dict[str, Any]:
        return dict(PRODUCE_SETTINGS)

    def consume_from(self) -> float | None:
        # A new client's group starts shortly before the client did: what answers its calls comes later.
        return time.time() - _CLOCK_MARGIN

    def expires(self, message: Inbound) -> bool:
        return False

    def addressed(self, headers: Any) -> str | bool:
        target = key = None
        for name, value in headers or ():
            if name == TARGET_AGENT_HEADER:
                target = value
            elif name == _PARTITION_KEY_HEADER:
                key = value
        if target == self._me:
            return True
        return bool(self._following) and key is not None and key.decode(errors="replace") in self._following

    async def handle(self, message: Inbound) -> None:
        inbox = self._calls.get(message.record.get("request_id") or "")
        if inbox is not None:
            inbox.deliver(message.record)
        for follower in self._following.get(message.task_id, ()):
            follower.deliver(message.record)

    async def ensure_started(self) -> None:
        """Starts the caller once (concurrent callers wait for the same start)."""
        if self._running:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if not self._running:
                await self.start()
                await self.wait_assigned()

    # --- calls --------------------------------------------------------------------------------------------

    def open_call(self, request_id: str) -> _Inbox:
        inbox = self._calls[request_id] = _Inbox()
        return inbox

    def close_call(self, request_id: str) -> None:
        self._calls.pop(request_id, None)

    def follow(self, task_id: str) -> _Inbox:
        """Delivers every record of ``task_id`` read from now on, whoever it is addressed to."""
        inbox = _Inbox()
        self._following.setdefault(task_id, []).append(inbox)
        return inbox

    def unfollow(self, task_id: str, inbox: _Inbox) -> None:
        followers = self._following.get(task_id, [])
        with contextlib.suppress(ValueError):
            followers.remove(inbox)
        if not followers:
            self._following.pop(task_id, None)

    async def send_call(self, record: dict[str, Any], pool: str, headers: list[tuple[str, bytes]]) -> None:
        """Produces one call to the pool ``pool``, opened with :meth:`open_call`. Unsigned and outside
        transactions it returns once the producer has it, and a delivery that fails reaches the call's inbox (the
        caller's wait for the answer raises it): the answer cannot come before the broker has the call, so
        waiting for its acknowledgement first only costs a wake-up. Otherwise it returns once the broker has it.
        Raises KafkaException."""
        if not self.send_now(record, pool, headers):
            await self.produce_record(KafkaRecord(*self._encode(record, pool, headers)))

    def send_now(self, record: dict[str, Any], pool: str, headers: list[tuple[str, bytes]]) -> bool:
        """:meth:`send_call` when it need not wait (unsigned, outside transactions, room in the producer's
        queue): True once the producer has the call, False when :meth:`send_call` is the way. Raises
        KafkaException."""
        producer = self.producer
        if producer is None or self.signing is not None or producer.transactional:
            return False
        topic, key, all_headers, value = self._encode(record, pool, headers)
        request_id = record["request_id"]
        try:
            producer.send_reported(topic, key, all_headers, value, partial(self._reported, request_id))
        except BufferError:
            return False  # the slow path waits for room
        return True

    def _encode(
        self, record: dict[str, Any], pool: str, headers: list[tuple[str, bytes]]
    ) -> tuple[str, bytes, list[tuple[str, bytes]], bytes]:
        assert self.envelope is not None, "caller not started"
        topic, key, all_headers, value = self.envelope.encode_parts(
            KIND_A2A_REQUEST,
            record,
            target_group=pool,
            collaboration_id=record.get("context_id"),
            traceparent=continue_trace(None),
            event_id=record["request_id"],
        )
        all_headers.extend(headers)
        return topic, key, all_headers, value

    def _reported(self, request_id: str, error: KafkaError | None) -> None:
        if error is not None:
            inbox = self._calls.get(request_id)
            if inbox is not None:
                inbox.deliver(_Unsent(KafkaException(error)))

    async def stop(self) -> None:
        for inbox in [*self._calls.values(), *(f for group in self._following.values() for f in group)]:
            inbox.deliver(_CLOSED)
        await super().stop()

    def extended_card(self, pool: str) -> AgentCard | None:
        """The extended card a live member of ``pool`` publishes in the directory, None when none does."""
        directory = self.mesh.directory if self.mesh is not None else None
        if directory is None:
            return None
        for info in directory.get_all_agents():
            if info.alive and info.card.resources.get("group") == pool:
                card = a2a_card(info, extended=True)
                if card is not None:
                    return card
        return None


class KafkaClientTransport(ClientTransport):
    """A ``ClientTransport`` over Kafka for the agent of ``card`` at the Kafka interface ``url``.

    Its signature is the SDK's transport producer's, so ``factory.register(KAFKA_BINDING, KafkaClientTransport)`` is all
    it takes. Without ``caller`` it connects a :class:`KafkaCaller` of its own from the URL (``KAFKA_BROKER`` and
    ``SCHEMA_REGISTRY_URL`` win when set) and closes it with the transport; a given ``caller`` is shared and
    stays open. ``timeout`` bounds the wait for calls that the agent answers at once.
    """

    def __init__(
        self,
        card: AgentCard,
        url: str,
        config: ClientConfig | None = None,
        *,
        caller: KafkaCaller | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.card = card
        self.url = url
        self.config = config
        self.timeout = timeout
        address = parse_address(url, connection=caller is None)
        self.pool = address.pool
        if caller is None:
            caller = KafkaCaller.connect(address.bootstrap, address.schema_registry, address.topic_prefix)
            self._owns_caller = True
        else:
            self._owns_caller = False
            if caller.topics.prefix != address.topic_prefix:
                raise ConfigError(
                    f"A2A interface {url!r} is on topic prefix {address.topic_prefix!r}, the caller on "
                    f"{caller.topics.prefix!r}"
                )
        self.caller = caller
        self._closed = False

    # --- the operations -------------------------------------------------------------------------------------

    async def send_message(
        self, request: SendMessageRequest, *, context: ClientCallContext | None = None
    ) -> SendMessageResponse:
        record = await self._call(SEND_MESSAGE, request, _task_of(request), context, None)
        if record["reply"] is None and record["task"] is not None:
            # the task, not repeated as a reply when it is not cut to a history length
            response = SendMessageResponse()
            decode_into(response.task, record["task"], "task")
            return response
        return decode(record["reply"], SendMessageResponse, "reply")

    async def send_message_streaming(
        self, request: SendMessageRequest, *, context: ClientCallContext | None = None
    ) -> AsyncGenerator[StreamResponse]:
        request_id, inbox = await self._open(SEND_STREAMING_MESSAGE, request, _task_of(request), context)
        try:
            while True:
                record = await self._next(inbox, SEND_STREAMING_MESSAGE, _wait(context, None))
                for payload in record["events"]:
                    yield decode(payload, StreamResponse, "event")
                _raise_error(record)
                if record["final"]:
                    return
        finally:
            self.caller.close_call(request_id)

    async def get_task(self, request: GetTaskRequest, *, context: ClientCallContext | None = None) -> Task:
        return await self._unary("GetTask", request, request.id, context, Task)

    async def list_tasks(
        self, request: ListTasksRequest, *, context: ClientCallContext | None = None
    ) -> ListTasksResponse:
        return await self._unary("ListTasks", request, None, context, ListTasksResponse)

    async def cancel_task(self, request: CancelTaskRequest, *, context: ClientCallContext | None = None) -> Task:
        return await self._unary("CancelTask", request, request.id, context, Task)

    async def create_task_push_notification_config(
        self, request: TaskPushNotificationConfig, *, context: ClientCallContext | None = None
    ) -> TaskPushNotificationConfig:
        return await self._unary(
            "CreateTaskPushNotificationConfig", request, request.task_id, context, TaskPushNotificationConfig
        )

    async def get_task_push_notification_config(
        self, request: GetTaskPushNotificationConfigRequest, *, context: ClientCallContext | None = None
    ) -> TaskPushNotificationConfig:
        return await self._unary(
            "GetTaskPushNotificationConfig", request, request.task_id, context, TaskPushNotificationConfig
        )

    async def list_task_push_notification_configs(
        self, request: ListTaskPushNotificationConfigsRequest, *, context: ClientCallContext | None = None
    ) -> ListTaskPushNotificationConfigsResponse:
        return await self._unary(
            "ListTaskPushNotificationConfigs",
            request,
            request.task_id,
            context,
            ListTaskPushNotificationConfigsResponse,
        )

    async def delete_task_push_notification_config(
        self, request: DeleteTaskPushNotificationConfigRequest, *, context: ClientCallContext | None = None
    ) -> None:
        from google.protobuf.empty_pb2 import Empty

        await self._unary("DeleteTaskPushNotificationConfig", request, request.task_id, context, Empty)

    async def subscribe(
        self, request: SubscribeToTaskRequest, *, context: ClientCallContext | None = None
    ) -> AsyncGenerator[StreamResponse]:
        await self._ready()
        follower = self.caller.follow(request.id)
        try:
            request_id, inbox = await self._open("SubscribeToTask", request, request.id, context)
            try:
                record = await self._next_final(inbox, "SubscribeToTask", _wait(context, self.timeout))
            finally:
                self.caller.close_call(request_id)
            task = decode(record["reply"], Task, "reply")
            seen = int(record["version"])
            yield StreamResponse(task=task)
            if task.status.state in TERMINAL:
                return
            while True:
                later = await self._next(follower, "SubscribeToTask", _wait(context, None))
                events = later["events"]
                first = int(later["version"]) - len(events) + 1
                for position, payload in enumerate(events):
                    if first + position <= seen:
                        continue  # the snapshot already holds it
                    seen = first + position
                    event = decode(payload, StreamResponse, "event")
                    yield event
                    if _ends(event):
                        return
        finally:
            self.caller.unfollow(request.id, follower)

    async def get_extended_agent_card(
        self, request: GetExtendedAgentCardRequest, *, context: ClientCallContext | None = None
    ) -> AgentCard:
        if not self.card.capabilities.extended_agent_card:
            return self.card
        await self._ready()
        card = self.caller.extended_card(self.pool)
        if card is not None:
            return card
        return await self._unary("GetExtendedAgentCard", request, None, context, AgentCard)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_caller:
            await self.caller.stop()

    # --- how a call travels ---------------------------------------------------------------------------------

    async def _ready(self) -> None:
        if self._closed:
            raise A2AClientError("the Kafka transport is closed")
        try:
            await self.caller.ensure_started()
        except KafkaException as error:
            raise A2AClientError(f"cannot reach Kafka at {self.caller.config.kafka}: {error}") from None

    async def _open(
        self, method: str, params: ProtoMessage, task_id: str | None, context: ClientCallContext | None
    ) -> tuple[str, _Inbox]:
        caller = self.caller
        if self._closed or not caller.is_running:
            await self._ready()
        headers = service_parameter_headers(context.service_parameters if context is not None else None)
        request_id = new_id()
        message = params.message if isinstance(params, SendMessageRequest) else None
        text = _text_of(message)[:TEXT_LIMIT] if message is not None else None
        record = {
            "task_id": task_id or request_id,
            "request_id": request_id,
            "requester_id": self.caller.agent_id,
            "method": method,
            "agent": self.card.name,
            "context_id": (message.context_id or None) if message is not None else None,
            "continues": bool(message is not None and message.task_id),
            "text": text or None,
            "params": encode(params),
            "timestamp": int(time.time() * 1000),
        }
        inbox = caller.open_call(request_id)
        try:
            if not caller.send_now(record, self.pool, headers):
                await caller.send_call(record, self.pool, headers)
        except KafkaException as error:
            caller.close_call(request_id)
            raise self._unsent(method, error) from None
        except BaseException:
            caller.close_call(request_id)
            raise
        return request_id, inbox

    def _unsent(self, method: str, error: KafkaException) -> A2AClientError:
        return A2AClientError(
            f"{method} to {self.pool} could not be sent (KAFKA_BROKER {self.caller.config.kafka}): {error}"
        )

    async def _unary(
        self,
        method: str,
        params: ProtoMessage,
        task_id: str | None,
        context: ClientCallContext | None,
        response: type[M],
        default_timeout: float | object | None = _QUICK,
    ) -> M:
        record = await self._call(method, params, task_id, context, default_timeout)
        return decode(record["reply"], response, "reply")

    async def _call(
        self,
        method: str,
        params: ProtoMessage,
        task_id: str | None,
        context: ClientCallContext | None,
        default_timeout: float | object | None = _QUICK,
    ) -> dict[str, Any]:
        """The record that ends a call (its error raised)."""
        wait = self.timeout if default_timeout is _QUICK else default_timeout
        request_id, inbox = await self._open(method, params, task_id, context)
        try:
            return await self._next_final(inbox, method, _wait(context, wait))  # type: ignore[arg-type]
        finally:
            self.caller.close_call(request_id)

    async def _next(self, inbox: _Inbox, method: str, timeout: float | None) -> dict[str, Any]:  # noqa: ASYNC109
        try:
            record = await inbox.next(timeout)
        except TimeoutError:
            raise A2AClientTimeoutError(f"{method}: no answer from {self.pool} within {timeout}s") from None
        return self._answer(record, method)

    def _answer(self, record: Any, method: str) -> dict[str, Any]:
        """What an inbox gave, as a record; raises when the transport closed or the call was not delivered."""
        if record is _CLOSED:
            raise A2AClientError(f"{method}: the Kafka transport was closed while waiting for {self.pool}")
        if isinstance(record, _Unsent):
            raise self._unsent(method, record.error)
        result: dict[str, Any] = record
        return result

    async def _next_final(self, inbox: _Inbox, method: str, timeout: float | None) -> dict[str, Any]:  # noqa: ASYNC109
        if timeout is None:
            # No bound (a message send): the inbox's future is awaited here, with no coroutine per record.
            records = inbox.records
            while True:
                while not records:
                    await inbox.waiter()
                record = self._answer(records.popleft(), method)
                _raise_error(record)
                if record["final"]:
                    return record
        deadline = time.monotonic() + timeout
        while True:
            record = await self._next(inbox, method, max(0.0, deadline - time.monotonic()))
            _raise_error(record)
            if record["final"]:
                return record


def register(factory: ClientFactory, caller: KafkaCaller | None = None, *, timeout: float = 30.0) -> None:
    """Registers :class:`KafkaClientTransport` with ``factory`` under :data:`KAFKA_BINDING`; every transport it makes
    shares ``caller`` when one is given (its owner starts and stops it), else connects its own."""
    producer: Callable[[AgentCard, str, ClientConfig], ClientTransport] = partial(
        KafkaClientTransport, caller=caller, timeout=timeout
    )
    factory.register(KAFKA_BINDING, producer)


def _text_of(message: Message) -> str:
    """The message's text parts, one a line (the SDK's ``get_message_text``)."""
    return "\n".join([part.text for part in message.parts if part.HasField("text")])


def _task_of(request: SendMessageRequest) -> str:
    """The record key of a message send: the task it continues, else the id the new task will have."""
    return request.message.task_id or new_id()


def _wait(context: ClientCallContext | None, default: float | None) -> float | None:
    if context is not None and context.timeout is not None:
        return context.timeout
    return default


def _raise_error(record: dict[str, Any]) -> None:
    code = record.get("error_code")
    if code is not None:
        raise error_from(int(code), record.get("error_message"), record.get("error_details"))


def _ends(event: StreamResponse) -> bool:
    kind = event.WhichOneof("payload")
    if kind == "message":
        return True
    if kind == "status_update":
        return event.status_update.status.state in TERMINAL
    if kind == "task":
        return event.task.status.state in TERMINAL
    return False
