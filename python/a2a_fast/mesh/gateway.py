"""A2A JSON messages at the mesh's edges, carried as CloudEvents through the native core.

:class:`MeshGateway` takes A2A messages (the JSON format of :mod:`a2a_fast.codecs.cloudevents`: ``protocol``,
``version``, ``messageId``, ``timestamp``, ``sourceAgent``, ``targetAgent``, ``messageType``, ``payload``,
``metadata``), one or a batch, and

1. validates and converts the whole batch in one native call (:func:`~a2a_fast.codecs.cloudevents.from_a2a_many`):
   an invalid message raises :class:`~a2a_fast.errors.ValidationError` naming it and the field
   (``[2].metadata.ttl: ...``) and nothing of the batch is sent;
2. routes each one (:class:`~a2a_fast.mesh.router.MeshRouter`): a ``targetAgent`` must be a live agent;
   a message without one goes where the routing rules or the ``capability`` argument send it, and its
   ``targetAgent`` is filled in with that agent's card; :class:`~a2a_fast.errors.RoutingError` otherwise.
   A ``targetAgent`` may name only ``agentId`` and ``agentType`` (EventMesh-style messages do): its
   ``capabilities`` are then the live agent's, from the directory, or none;
3. checks ``messages.max_message_bytes`` and produces them in Kafka binary content mode on
   ``a2a.messages`` (with the mesh's prefix), keyed by the target agent, and returns once acknowledged.

:class:`MeshInbox` is one agent's reader: it keeps the messages addressed to it and ignores the others
(each inbox reads the whole topic in its own consumer group), and gives them back as A2A dicts. A record
that is not a valid A2A CloudEvent, is too large or has outlived its ``ttl`` goes to the dead-letter topic
with the same ``dlq.*`` headers the agents write. A CloudEvent that names its target agent without the
``targetagentcapabilities`` extension is read as a target with no capabilities listed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException, Message

from a2a_fast.codecs.cloudevents import from_a2a_many, from_kafka, to_a2a, to_kafka_many
from a2a_fast.config import ProtocolConfig
from a2a_fast.errors import A2AError, LimitError, MessageTooLargeError, RoutingError
from a2a_fast.mesh.router import MeshRouter
from a2a_fast.observability.protocol_metrics import ProtocolMetrics
from a2a_fast.protocol.limits import MessageLimits
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport import Transport, as_transport
from a2a_fast.transport.admin import ensure_topics
from a2a_fast.transport.base import ConsumerClient, ProducerClient

__all__ = ["MeshGateway", "MeshInbox"]

A2AMessage = Mapping[str, Any]


class MeshGateway:
    """Publishes A2A messages, routed by ``router`` (required for messages without a ``targetAgent``)."""

    def __init__(
        self,
        kafka: str | Transport,
        topics: TopicNames | None = None,
        router: MeshRouter | None = None,
        config: ProtocolConfig | None = None,
        metrics: ProtocolMetrics | None = None,
        patience: float = 30.0,
    ) -> None:
        self.transport = as_transport(kafka)
        self.kafka = self.transport.bootstrap
        self.topics = topics or TopicNames()
        self.router = router
        self.config = config or (router.directory.config if router and router.directory else ProtocolConfig())
        self.metrics = metrics or (router.metrics if router is not None else ProtocolMetrics())
        self.patience = patience
        self._producer: ProducerClient | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, ensure_topics, self.transport, [self.topics.messages, self.topics.dlq])
        self._producer = self.transport.producer({"acks": "all", "linger.ms": 2})

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await asyncio.get_running_loop().run_in_executor(None, producer.flush, self.patience)

    async def __aenter__(self) -> MeshGateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def publish_a2a(
        self, messages: A2AMessage | Sequence[A2AMessage], capability: str | None = None
    ) -> list[str]:
        """Validates, routes and produces ``messages``; the agent each one was sent to, in order.

        ``capability`` routes the messages that have no ``targetAgent`` and match no routing rule.
        """
        producer = self._producer
        if producer is None:
            raise RuntimeError("gateway not started")
        batch = [messages] if isinstance(messages, Mapping) else list(messages)
        started = time.perf_counter()
        try:
            events = from_a2a_many([self._with_target_capabilities(message) for message in batch])
            targets = [self._route(index, event, capability) for index, event in enumerate(events)]
            records = to_kafka_many(events)
            limits = MessageLimits(self.config.messages)
            for index, (_, _, value) in enumerate(records):
                try:
                    limits.check_size(len(value or b""))
                except MessageTooLargeError as error:
                    raise MessageTooLargeError(f"[{index}]: {error}") from None
            await asyncio.get_running_loop().run_in_executor(
                None,
                partial(_produce_all, producer, self.topics.messages, records, targets, self.patience),
            )
        except BaseException:
            self.metrics.record_failure("a2a", "publish_a2a", time.perf_counter() - started)
            raise
        self.metrics.record_success("a2a", "publish_a2a", time.perf_counter() - started)
        return targets

    def _with_target_capabilities(self, message: A2AMessage) -> dict[str, Any]:
        """``message`` itself, or a copy whose ``targetAgent`` without ``capabilities`` gets the live agent's
        (none when the directory does not know it)."""
        target = message.get("targetAgent") if isinstance(message, Mapping) else None
        if not isinstance(target, Mapping) or "capabilities" in target:
            return cast(dict[str, Any], message)
        directory = self.router.directory if self.router is not None else None
        info = directory.get_agent(str(target.get("agentId"))) if directory is not None else None
        known = list(info.card.capabilities) if info is not None and info.alive else []
        return {**message, "targetAgent": {**target, "capabilities": known}}

    def _route(self, index: int, event: dict[str, Any], capability: str | None) -> str:
        router = self.router
        directory = router.directory if router is not None else None
        target = event.get("targetagent") or ""
        if target:
            if directory is not None and not directory.is_agent_alive(target):
                raise RoutingError(f"[{index}].targetAgent.agentId: {target!r} is not a live agent of the mesh")
            return str(target)
        if router is None:
            raise RoutingError(f"[{index}].targetAgent: a message without a target needs a gateway with a router")
        query = dict(event)
        query.pop("targetagent", None)
        if capability:
            query[router.table.capability_attribute] = capability.strip().lower()
        chosen = router.route_message(query)
        if chosen is None:
            wanted = f"capability {capability!r}" if capability else "its attributes"
            raise RoutingError(f"[{index}].targetAgent: no routing rule or live agent for {wanted}")
        info = directory.get_agent(chosen) if directory is not None else None
        event["targetagent"] = chosen
        event["targetagenttype"] = info.card.agent_type if info is not None else ""
        event["targetagentcapabilities"] = ",".join(info.card.capabilities) if info is not None else ""
        return chosen


def _produce_all(producer: ProducerClient, topic: str, records: list[Any], keys: list[str], patience: float) -> None:
    failures: list[KafkaError] = []
    delivered = 0

    def done(error: KafkaError | None, _message: Message) -> None:
        nonlocal delivered
        delivered += 1
        if error is not None:
            failures.append(error)

    for (_, headers, value), key in zip(records, keys, strict=True):
        while True:
            try:
                producer.produce(topic, value, key.encode(), headers=headers, on_delivery=done)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(patience)
    if failures:
        raise KafkaException(failures[0])
    if delivered < len(records):
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"{len(records) - delivered} messages unacknowledged"))


class MeshInbox:
    """The A2A messages addressed to ``agent_id``, read from the mesh's ``a2a.messages`` topic.

    Reads from the beginning of the topic the first time (its consumer group is ``a2a-inbox-<agent id>``)
    and commits after each :meth:`receive`. ``ignored`` counts messages addressed to other agents.
    """

    def __init__(
        self,
        kafka: str | Transport,
        agent_id: str,
        topics: TopicNames | None = None,
        config: ProtocolConfig | None = None,
        metrics: ProtocolMetrics | None = None,
    ) -> None:
        self.transport = as_transport(kafka)
        self.kafka = self.transport.bootstrap
        self.agent_id = agent_id
        self.topics = topics or TopicNames()
        self.limits = MessageLimits((config or ProtocolConfig()).messages)
        self.metrics = metrics or ProtocolMetrics()
        self.ignored = 0
        self.dead_letters = 0
        self._consumer: ConsumerClient | None = None
        self._producer: ProducerClient | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"{agent_id}-inbox")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, ensure_topics, self.transport, [self.topics.messages, self.topics.dlq])
        consumer = self.transport.consumer(
            {"group.id": f"a2a-inbox-{self.agent_id}", "auto.offset.reset": "earliest", "enable.auto.commit": False}
        )
        await loop.run_in_executor(self._thread, consumer.subscribe, [self.topics.messages])
        self._consumer = consumer
        self._producer = self.transport.producer({"acks": "all"})

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await loop.run_in_executor(self._thread, consumer.close)
        producer, self._producer = self._producer, None
        if producer is not None:
            await loop.run_in_executor(None, producer.flush, 10.0)
        self._thread.shutdown(wait=True)

    async def __aenter__(self) -> MeshInbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def receive(self, max_messages: int = 500, timeout: float = 1.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """The next messages addressed to this agent (possibly none after ``timeout`` seconds)."""
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("inbox not started")
        loop = asyncio.get_running_loop()
        records = await loop.run_in_executor(self._thread, consumer.consume, max_messages, timeout)
        received = []
        for record in records:
            failure = record.error()
            if failure is not None:
                if failure.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(failure)
                continue
            started = time.perf_counter()
            stage = "decode"
            try:
                self.limits.check_size(len(record.value() or b""))
                event = from_kafka(record.headers() or [], record.value(), record.key())
                if (event.get("targetagent") or "") != self.agent_id:
                    self.ignored += 1
                    continue
                stage = "limits"
                self.limits.check_age(event.get("time"), event.get("ttl"))
                stage = "validation"
                event.setdefault("targetagentcapabilities", "")  # a target named without its capabilities
                received.append(to_a2a(event))
                self.metrics.record_success("a2a", "receive_a2a", time.perf_counter() - started)
            except (A2AError, ValueError) as error:
                self.metrics.record_failure("a2a", "receive_a2a", time.perf_counter() - started)
                await self._dead_letter(record, error, "limits" if isinstance(error, LimitError) else stage)
        if records:
            with contextlib.suppress(KafkaException):  # uncommitted records come back: at least once
                await loop.run_in_executor(self._thread, partial(consumer.commit, asynchronous=False))
        return received

    async def _dead_letter(self, record: Message, error: BaseException, stage: str) -> None:
        producer = self._producer
        assert producer is not None
        topic = record.topic() or ""
        headers = cast(list[tuple[str, bytes]], list(record.headers() or []))
        headers += [
            ("dlq.reason", (str(error) or repr(error)).encode(errors="replace")[:4000]),
            ("dlq.error.class", f"{type(error).__module__}.{type(error).__qualname__}".encode()),
            ("dlq.stage", stage.encode()),
            ("dlq.original.topic", topic.encode()),
            ("dlq.original.partition", str(record.partition()).encode()),
            ("dlq.original.offset", str(record.offset()).encode()),
            ("dlq.agent", self.agent_id.encode()),
            ("dlq.time", dt.datetime.now(dt.UTC).isoformat().encode()),
        ]
        key = record.key() or uuid.uuid4().hex.encode()
        await asyncio.get_running_loop().run_in_executor(
            None,
            partial(
                _produce_all,
                producer,
                self.topics.dlq,
                [(None, headers, record.value())],
                [key.decode(errors="replace")],
                30.0,
            ),
        )
        self.dead_letters += 1
