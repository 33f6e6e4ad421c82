"""Reading the log without joining a consumer group: replaying partitions to their end, and following topics.

:func:`replay` is how state is rebuilt from the log (event sourcing): agents at start-up, ``a2a-fast replay``
and ``tasks``. :class:`LogReader` follows topics from their beginning or from now on, as ``a2a-fast tail``
does. Neither commits offsets or takes partitions from anyone. Where the transport checks record signatures
(:attr:`Transport.signing`), a record that proves nothing is left out of the replay, and the reader shows it as
refused, so history is folded from what its senders may say only.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaException, Message, TopicPartition

from a2a_fast.errors import A2AError, ServiceUnavailableError, StackError
from a2a_fast.protocol.envelope import Envelope, Inbound
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport import Transport, as_transport
from a2a_fast.transport.admin import watermark_offsets
from a2a_fast.transport.base import ConsumerClient
from a2a_fast.transport.kafka import BROKER_SETTING
from a2a_fast.transport.registry import SchemaCatalog

__all__ = ["LogReader", "Observed", "event_ids", "replay"]


def replay(
    target: str | Transport,
    catalog: SchemaCatalog,
    names: TopicNames,
    start: Mapping[tuple[str, int], int] | None = None,
    topics: Sequence[str] = (),
    timeout: float = 30.0,
    reader: str = "a2a-fast",
) -> Iterator[Inbound]:
    """Reads partitions from given offsets (or whole ``topics`` from the beginning) up to their current
    end and yields the decodable messages; undecodable ones are skipped (the live path dead-letters them).

    ``names`` are the mesh's topics, ``reader`` names the reading agent. Blocking: call it from a thread.
    """
    transport = as_transport(target)
    consumer = transport.consumer(
        {
            "group.id": f"{reader}-replay",  # required by the client; never joined
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    try:
        positions = dict(start or {})
        for topic in topics:
            metadata = consumer.list_topics(topic, timeout=timeout)
            for number in metadata.topics[topic].partitions:
                positions.setdefault((topic, number), -2)  # OFFSET_BEGINNING
        ends = {}
        for (topic, number), offset in positions.items():
            low, high = watermark_offsets(consumer, topic, number, timeout)
            first = low if offset < 0 else offset
            if high > first:
                ends[(topic, number)] = high
                positions[(topic, number)] = first
        if not ends:
            return
        consumer.assign([TopicPartition(topic, number, positions[(topic, number)]) for topic, number in ends])
        envelope = Envelope(catalog, names, reader)
        signing = transport.signing if transport.signing is not None and transport.signing.checks else None
        deadline = time.monotonic() + timeout
        remaining = dict(ends)
        while remaining and time.monotonic() < deadline:
            batch = consumer.consume(500, 0.5)
            catalog.fetch(Envelope.schema_ids(message.value() for message in batch if message.error() is None))
            for message in batch:
                if message.error() is not None:
                    continue
                where = (message.topic() or "", message.partition() or 0)
                offset = message.offset() or 0
                if where in remaining and offset + 1 >= remaining[where]:
                    del remaining[where]
                try:
                    found = envelope.decode(message.key(), message.headers(), message.value(), *where, offset)
                except (A2AError, ValueError):
                    continue
                if signing is None or signing.check_one(message, found) is None:
                    yield found
            _drop_passed(consumer, remaining)
    finally:
        consumer.close()


def event_ids(
    target: str | Transport,
    start: Mapping[tuple[str, int], int],
    timeout: float = 10.0,
    reader: str = "a2a-fast",
    committed: bool = True,
) -> list[tuple[str, int]]:
    """``(ce_id, timestamp in epoch milliseconds)`` of every record of the partitions in ``start`` from that
    offset (or, for a negative one, the first record at or after the time ``-offset`` milliseconds) up to their
    current end, read from the headers alone (no registry needed); with ``committed`` False, the records of
    aborted and open transactions too. Blocking."""
    transport = as_transport(target)
    consumer = transport.consumer(
        {
            "group.id": f"{reader}-ids",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "isolation.level": "read_committed" if committed else "read_uncommitted",
        }
    )
    try:
        by_time = [TopicPartition(topic, number, -offset) for (topic, number), offset in start.items() if offset < 0]
        positions = {where: offset for where, offset in start.items() if offset >= 0}
        for found in consumer.offsets_for_times(by_time, timeout=timeout) if by_time else []:
            if found.offset >= 0:
                positions[(found.topic, found.partition)] = found.offset
        ends = {}
        for (topic, number), offset in positions.items():
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, number), timeout=timeout)
            first = max(low, offset)
            if high > first:
                ends[(topic, number)] = high
                positions[(topic, number)] = first
        if not ends:
            return []
        consumer.assign([TopicPartition(topic, number, positions[(topic, number)]) for topic, number in ends])
        found_ids: list[tuple[str, int]] = []
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.2):
                if message.error() is not None:
                    continue
                where = (message.topic() or "", message.partition() or 0)
                offset = message.offset() or 0
                if where in ends and offset + 1 >= ends[where]:
                    del ends[where]
                for name, value in message.headers() or []:
                    if name == "ce_id" and value is not None:
                        found_ids.append((value.decode(errors="replace"), message.timestamp()[1]))
                        break
            _drop_passed(consumer, ends)
        if ends:
            raise TimeoutError(f"reading {', '.join(f'{t}/{n}' for t, n in ends)} to its end took over {timeout}s")
        return found_ids
    finally:
        consumer.close()


def _drop_passed(consumer: ConsumerClient, remaining: dict[tuple[str, int], int]) -> None:
    """Drops from ``remaining`` (partition → end offset) the partitions the consumer's position has passed: one
    written in transactions ends in a commit marker, which takes an offset but is never delivered."""
    if not remaining:
        return
    wanted = [TopicPartition(topic, number) for topic, number in remaining]
    for tp in consumer.position(wanted):
        if tp.offset >= remaining.get((tp.topic, tp.partition), tp.offset + 1):
            del remaining[(tp.topic, tp.partition)]


@dataclass(frozen=True, slots=True)
class Observed:
    """One record as read: decoded into ``message``, or ``error`` saying why it could not be."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    """The broker's timestamp, epoch milliseconds."""
    key: str | None
    headers: dict[str, str]
    message: Inbound | None
    error: str | None


class LogReader:
    """Reads ``topics`` from their beginning (or only what arrives from now on) without joining a group.

    Blocking: use it from a thread. ``open`` before ``read``; ``close`` when done.
    """

    def __init__(
        self,
        target: str | Transport,
        schema_registry: str,
        topics: TopicNames,
        names: Sequence[str],
        from_beginning: bool = True,
    ) -> None:
        transport = as_transport(target, schema_registry)
        self.kafka = transport.bootstrap
        signing = transport.signing
        self.signing = signing if signing is not None and signing.checks else None
        self.names = list(names)
        self.from_beginning = from_beginning
        self.catalog = SchemaCatalog(transport, topics)
        self.catalog.load_readers()
        self.envelope = Envelope(self.catalog, topics, "observer")
        self.ends: dict[tuple[str, int], int] = {}
        """Each partition's end offset when the reader opened: what "caught up" means."""
        self._consumer = transport.consumer(
            {
                "group.id": f"a2a-fast-observer-{uuid.uuid4().hex}",  # required by the client; never joined
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            }
        )

    def open(self, timeout: float = 15.0) -> None:
        """Assigns every partition of the topics; raises StackError naming a topic that does not exist."""
        assignment = []
        try:
            metadata = self._consumer.list_topics(timeout=timeout)
        except KafkaException as error:
            raise ServiceUnavailableError("Kafka", self.kafka, BROKER_SETTING, error.args[0].str()) from error
        for name in self.names:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None or not topic.partitions:
                known = sorted(t for t in metadata.topics if not t.startswith("__"))
                raise StackError(f"topic {name!r} does not exist (topics: {', '.join(known) or 'none'})")
            for number in sorted(topic.partitions):
                _, high = watermark_offsets(self._consumer, name, number, timeout)
                self.ends[(name, number)] = high
                start = OFFSET_BEGINNING if self.from_beginning else OFFSET_END
                assignment.append(TopicPartition(name, number, start))
        self._consumer.assign(assignment)

    def read(self, timeout: float, count: int = 500) -> list[Observed]:
        """The records that arrive within ``timeout`` seconds (at most ``count``), decoded where possible."""
        batch = [m for m in self._consumer.consume(count, timeout) if m.error() is None]
        if batch:
            self.catalog.fetch(Envelope.schema_ids(m.value() for m in batch))
        return [self._observe(m) for m in batch]

    def _observe(self, record: Message) -> Observed:
        topic, partition, offset = record.topic() or "", record.partition() or 0, record.offset() or 0
        raw = cast(list[tuple[str, bytes | None]], record.headers() or [])
        headers = {name: (value or b"").decode(errors="replace") for name, value in raw}
        message: Inbound | None = None
        error: str | None = None
        try:
            message = self.envelope.decode(record.key(), record.headers(), record.value(), topic, partition, offset)
        except (A2AError, ValueError) as problem:
            error = str(problem)
        if message is not None and self.signing is not None:
            refused = self.signing.check_one(record, message)
            if refused is not None:
                message, error = None, f"refused: {refused}"
        key = record.key()
        return Observed(
            topic=topic,
            partition=partition,
            offset=offset,
            timestamp=record.timestamp()[1],
            key=key.decode(errors="replace") if key is not None else None,
            headers=headers,
            message=message,
            error=error,
        )

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._consumer.close()
        self.catalog.close()
