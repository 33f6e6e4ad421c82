"""An in-memory twin of the broker and the schema registry, for unit tests that run agents without services.

:class:`MemoryTransport` hands out clients with the confluent-kafka interface this package uses, over one
:class:`MemoryBroker`: topics with partitions, records keyed to a partition by their key, consumer groups with
an eager rebalance (every member gives its partitions back, then the group's partitions are shared out by
range per topic), committed offsets per group, ``auto.offset.reset``, pause and resume, watermarks and
``offsets_for_times``; delivery reports come from ``poll``/``flush`` as they do from librdkafka. The registry is
confluent-kafka's own mock client with a shared store and compatibility levels kept, not checked.

Transactions as Kafka has them: a producer with a ``transactional.id`` registers it (``init_transactions``, which
fences an earlier producer of the id and aborts its open transaction), writes between ``begin_transaction`` and
``commit_transaction``/``abort_transaction``, and adds a group's offsets with ``send_offsets_to_transaction``
(committed with the transaction, dropped with it). Consumers read ``read_committed`` by default (librdkafka's
default): never past the first record of a transaction still open in a partition, never an aborted record;
``isolation.level=read_uncommitted`` reads everything.

What it leaves out: replication, compaction (a compacted topic keeps every record), the transaction timeout and
timing (a member leaves its group when it closes or is :meth:`MemoryConsumer.crash`-ed, not after a session
timeout). Integration tests run the same bodies on the real broker.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_INVALID,
    TIMESTAMP_CREATE_TIME,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import MockSchemaRegistryClient

from a2a_fast.errors import ServiceUnavailableError
from a2a_fast.transport.base import AdminClient, ConsumerClient, ProducerClient, RegistryClient

if TYPE_CHECKING:
    from a2a_fast.protocol.signing import RecordSigning

__all__ = ["MemoryBroker", "MemoryConsumer", "MemoryMessage", "MemoryProducer", "MemoryTransport"]


@dataclass
class _Transaction:
    """One producer's transaction: ``open``, then ``committed`` or ``aborted``; the group offsets it commits."""

    state: str = "open"
    offsets: dict[str, list[TopicPartition]] = field(default_factory=dict)


class MemoryMessage:
    """A record as consumed (``confluent_kafka.Message``'s accessors)."""

    __slots__ = ("_headers", "_key", "_offset", "_partition", "_timestamp", "_topic", "_transaction", "_value")

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None,
        timestamp: int,
    ) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._key, self._value, self._headers, self._timestamp = key, value, headers, timestamp
        self._transaction: _Transaction | None = None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return None if self._headers is None else list(self._headers)

    def timestamp(self) -> tuple[int, int]:
        return TIMESTAMP_CREATE_TIME, self._timestamp

    def error(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._value or b"")


@dataclass
class _Partition:
    records: list[MemoryMessage] = field(default_factory=list)


@dataclass
class _Topic:
    name: str
    partitions: list[_Partition]
    config: dict[str, str]


@dataclass
class _Member:
    consumer: MemoryConsumer
    topics: list[str]
    assigned: list[tuple[str, int]] = field(default_factory=list)
    revoked_generation: int = 0
    revoking: int = 0
    assigned_generation: int = 0


@dataclass
class _Group:
    name: str
    members: list[_Member] = field(default_factory=list)
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    generation: int = 0
    pending: dict[int, list[tuple[str, int]]] | None = None
    """Assignments of the generation being formed, by member id; None while the group is stable."""


class _PartitionMetadata:
    def __init__(self, number: int) -> None:
        self.id = number
        self.error = None


class _TopicMetadata:
    def __init__(self, name: str, count: int) -> None:
        self.topic = name
        self.partitions = {number: _PartitionMetadata(number) for number in range(count)}
        self.error = None


class _ClusterMetadata:
    def __init__(self, topics: dict[str, _TopicMetadata]) -> None:
        self.topics = topics
        self.brokers: dict[int, Any] = {}


class _Future:
    """What admin calls return per item: ``result(timeout)`` raises the item's error, if any."""

    def __init__(self, error: KafkaException | None = None) -> None:
        self._error = error

    def result(self, timeout: float | None = None) -> None:
        if self._error is not None:
            raise self._error


class MemoryBroker:
    """Topics, consumer groups and committed offsets, shared by every client of one :class:`MemoryTransport`.

    ``auto_create`` makes a topic (with ``default_partitions``) on first produce or subscribe, as a broker
    with ``auto.create.topics.enable`` does.
    """

    def __init__(self, default_partitions: int = 3, auto_create: bool = True) -> None:
        self.default_partitions = default_partitions
        self.auto_create = auto_create
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, _Group] = {}
        self._members = 0
        self._producers: dict[str, MemoryProducer] = {}
        """The producer holding each ``transactional.id``."""
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)

    # --- topics -------------------------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int | None = None, config: Mapping[str, str] | None = None) -> bool:
        """Creates ``name``; False when it exists."""
        with self._lock:
            if name in self._topics:
                return False
            count = partitions or self.default_partitions
            self._topics[name] = _Topic(name, [_Partition() for _ in range(count)], dict(config or {}))
            self._regroup(name)
            return True

    def add_partitions(self, name: str, total: int) -> None:
        """Grows ``name`` to ``total`` partitions; its consumer groups rebalance."""
        with self._lock:
            topic = self._topic(name)
            if total <= len(topic.partitions):
                raise KafkaException(
                    KafkaError(KafkaError.INVALID_PARTITIONS, f"{name} has {len(topic.partitions)} partitions")
                )
            topic.partitions.extend(_Partition() for _ in range(total - len(topic.partitions)))
            self._regroup(name)

    def delete_topic(self, name: str) -> bool:
        with self._lock:
            return self._topics.pop(name, None) is not None

    def topics(self) -> dict[str, int]:
        with self._lock:
            return {name: len(topic.partitions) for name, topic in self._topics.items()}

    def records(self, name: str) -> list[MemoryMessage]:
        """Every record of ``name``, partition by partition."""
        with self._lock:
            return [record for partition in self._topic(name).partitions for record in partition.records]

    def _topic(self, name: str, create: bool = False) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            if not (create and self.auto_create):
                raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, f"unknown topic {name}"))
            self.create_topic(name)
            topic = self._topics[name]
        return topic

    def metadata(self, name: str | None = None) -> _ClusterMetadata:
        with self._lock:
            chosen = [name] if name is not None else list(self._topics)
            found = {}
            for topic_name in chosen:
                topic = self._topics.get(topic_name)
                if topic is not None:
                    found[topic_name] = _TopicMetadata(topic_name, len(topic.partitions))
            return _ClusterMetadata(found)

    # --- records --------------------------------------------------------------------------------------

    def append(
        self,
        topic_name: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None,
        partition: int = -1,
        timestamp: int = 0,
        transaction: _Transaction | None = None,
    ) -> MemoryMessage:
        with self._lock:
            topic = self._topic(topic_name, create=True)
            count = len(topic.partitions)
            if partition < 0:
                partition = zlib.crc32(key) % count if key is not None else self._members % count
            log = topic.partitions[partition].records
            stamp = timestamp or int(time.time() * 1000)
            record = MemoryMessage(topic_name, partition, len(log), key, value, headers, stamp)
            record._transaction = transaction
            log.append(record)
            self.changed.notify_all()
            return record

    def watermarks(self, topic_name: str, partition: int) -> tuple[int, int]:
        with self._lock:
            return 0, len(self._topic(topic_name).partitions[partition].records)

    def offset_for_time(self, topic_name: str, partition: int, millis: int) -> int:
        with self._lock:
            for record in self._topic(topic_name).partitions[partition].records:
                if record.timestamp()[1] >= millis:
                    return record.offset()
            return OFFSET_END

    def read(self, topic_name: str, partition: int, offset: int, count: int) -> list[MemoryMessage]:
        with self._lock:
            topic = self._topics.get(topic_name)
            if topic is None or partition >= len(topic.partitions):
                return []
            return topic.partitions[partition].records[offset : offset + count]

    def read_committed(
        self, topic_name: str, partition: int, offset: int, count: int
    ) -> tuple[list[MemoryMessage], int]:
        """Up to ``count`` records from ``offset`` as a ``read_committed`` consumer sees them (none at or past a
        transaction still open, none aborted), and the offset to read from next."""
        with self._lock:
            topic = self._topics.get(topic_name)
            if topic is None or partition >= len(topic.partitions):
                return [], offset
            found: list[MemoryMessage] = []
            records = topic.partitions[partition].records
            while offset < len(records) and len(found) < count:
                transaction = records[offset]._transaction
                if transaction is not None and transaction.state == "open":
                    break
                if transaction is None or transaction.state == "committed":
                    found.append(records[offset])
                offset += 1
            return found, offset

    # --- transactions ------------------------------------------------------------------------------------

    def register_transactional(self, transactional_id: str, producer: MemoryProducer) -> None:
        """``producer`` takes ``transactional_id`` over: the one that held it is fenced, its open transaction
        aborted."""
        with self._lock:
            earlier = self._producers.get(transactional_id)
            if earlier is not None and earlier is not producer:
                earlier.fenced = True
                if earlier.transaction is not None:
                    self.end_transaction(earlier.transaction, commit=False)
                    earlier.transaction = None
            self._producers[transactional_id] = producer

    def end_transaction(self, transaction: _Transaction, commit: bool) -> None:
        with self._lock:
            transaction.state = "committed" if commit else "aborted"
            if commit:
                for group, offsets in transaction.offsets.items():
                    self.commit(group, offsets)
            self.changed.notify_all()

    # --- groups -----------------------------------------------------------------------------------------

    def join(self, group_name: str, consumer: MemoryConsumer, topics: list[str]) -> None:
        with self._lock:
            for name in topics:
                self._topic(name, create=True)
            group = self._groups.setdefault(group_name, _Group(group_name))
            member = next((m for m in group.members if m.consumer is consumer), None)
            if member is None:
                self._members += 1
                group.members.append(_Member(consumer, list(topics)))
            else:
                member.topics = list(topics)
            self._rebalance(group)

    def expire(self, group_name: str, consumer: MemoryConsumer) -> None:
        """The coordinator ends the member's session (its heartbeats stopped reaching it): the member is out of the
        group and its partitions go to the others, while it goes on reading them, unaware, until its own session
        timer runs out too (:meth:`MemoryConsumer.lose_session`)."""
        with self._lock:
            group = self._groups[group_name]
            group.members = [m for m in group.members if m.consumer is not consumer]
            self._rebalance(group)

    def drop(self, group_name: str, consumer: MemoryConsumer) -> None:
        """Takes ``consumer`` out of the group without a rebalance (the group went on without it already)."""
        with self._lock:
            group = self._groups.get(group_name)
            if group is not None:
                group.members = [m for m in group.members if m.consumer is not consumer]

    def leave(self, group_name: str, consumer: MemoryConsumer) -> None:
        with self._lock:
            group = self._groups.get(group_name)
            if group is None:
                return
            group.members = [m for m in group.members if m.consumer is not consumer]
            self._rebalance(group)

    def committed(self, group_name: str, topic: str, partition: int) -> int | None:
        with self._lock:
            group = self._groups.get(group_name)
            return None if group is None else group.committed.get((topic, partition))

    def commit(self, group_name: str, offsets: Sequence[TopicPartition]) -> None:
        with self._lock:
            group = self._groups.setdefault(group_name, _Group(group_name))
            for tp in offsets:
                if tp.offset >= 0:
                    group.committed[(tp.topic, tp.partition)] = tp.offset

    def _regroup(self, topic_name: str) -> None:
        for group in self._groups.values():
            if any(topic_name in member.topics for member in group.members):
                self._rebalance(group)

    def _rebalance(self, group: _Group) -> None:
        """Starts a new generation: each member gives its partitions back (on its next poll) before any
        member is given the new assignment, as the eager protocol does."""
        group.generation += 1
        shares: dict[int, list[tuple[str, int]]] = {id(member): [] for member in group.members}
        for topic_name in sorted({name for member in group.members for name in member.topics}):
            topic = self._topics.get(topic_name)
            if topic is None:
                continue
            subscribed = [member for member in group.members if topic_name in member.topics]
            count, members = len(topic.partitions), len(subscribed)
            for index, member in enumerate(subscribed):
                low = index * count // members
                high = (index + 1) * count // members
                shares[id(member)].extend((topic_name, number) for number in range(low, high))
        group.pending = shares
        self.changed.notify_all()

    def revoked(self, group_name: str, consumer: MemoryConsumer) -> None:
        """``consumer``'s revoke callback returned: the partitions it held are free for the new assignment."""
        with self._lock:
            group = self._groups.get(group_name)
            member = next((m for m in group.members if m.consumer is consumer), None) if group else None
            if member is not None:
                member.revoked_generation = max(member.revoked_generation, member.revoking)
            self.changed.notify_all()

    def group_step(self, group_name: str, consumer: MemoryConsumer) -> tuple[str, list[tuple[str, int]]] | None:
        """What ``consumer`` must do next for its group: ``("revoke", partitions)``, ``("assign", partitions)``
        or nothing (None)."""
        with self._lock:
            group = self._groups.get(group_name)
            if group is None:
                return None
            member = next((m for m in group.members if m.consumer is consumer), None)
            if member is None or group.pending is None:
                return None
            if member.revoked_generation < group.generation:
                # Given back once its revoke callback returned (:meth:`revoked`): until then no member is assigned.
                member.revoking = group.generation
                old, member.assigned = member.assigned, []
                return ("revoke", old)
            if any(m.revoked_generation < group.generation for m in group.members):
                return None  # others still hold partitions of the old generation
            if member.assigned_generation < group.generation:
                member.assigned_generation = group.generation
                member.assigned = list(group.pending.get(id(member), []))
                if all(m.assigned_generation == group.generation for m in group.members):
                    group.pending = None
                return ("assign", list(member.assigned))
            return None


class MemoryConsumer:
    """A consumer of a :class:`MemoryBroker` (``confluent_kafka.Consumer``'s interface as this package uses it)."""

    def __init__(self, broker: MemoryBroker, config: Mapping[str, Any]) -> None:
        self.broker = broker
        self.group = str(config.get("group.id") or "")
        self.reset = str(config.get("auto.offset.reset", "latest"))
        self.read_committed = str(config.get("isolation.level", "read_committed")) == "read_committed"
        self._subscribed: list[str] = []
        self._callbacks: dict[str, Callable[..., None] | None] = {}
        self._positions: dict[tuple[str, int], int] = {}
        self._paused: set[tuple[str, int]] = set()
        self._closed = False
        self._turn = 0
        self._lost = False

    # --- group membership ----------------------------------------------------------------------------

    def subscribe(
        self,
        topics: list[str],
        on_assign: Callable[..., None] | None = None,
        on_revoke: Callable[..., None] | None = None,
        on_lost: Callable[..., None] | None = None,
    ) -> None:
        self._subscribed = list(topics)
        self._callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}
        self.broker.join(self.group, self, self._subscribed)

    def lose_session(self) -> None:
        """The member's own session timer ran out (no answer from the coordinator for ``session.timeout.ms``): at
        its next poll it is told it lost its partitions (``on_lost``, else ``on_revoke``) and joins again, as
        librdkafka's consumer does."""
        self._lost = True

    def _serve_group(self) -> None:
        if self._lost and self._subscribed and not self._closed:
            self._lost = False
            self.broker.drop(self.group, self)
            callback = self._callbacks.get("lost") or self._callbacks.get("revoke")
            if callback is not None:
                callback(self, self.assignment())
            self.unassign()
            self.broker.join(self.group, self, self._subscribed)
        while self._subscribed and not self._closed:
            step = self.broker.group_step(self.group, self)
            if step is None:
                return
            action, partitions = step
            tps = [TopicPartition(topic, number) for topic, number in partitions]
            if action == "revoke":
                try:
                    callback = self._callbacks.get("revoke")
                    if callback is not None:
                        callback(self, tps)
                    self.unassign()
                finally:
                    self.broker.revoked(self.group, self)
            else:
                callback = self._callbacks.get("assign")
                if callback is not None:
                    callback(self, tps)
                else:
                    self.assign(tps)

    def assign(self, partitions: list[TopicPartition]) -> None:
        self._positions = {}
        for tp in partitions:
            self._positions[(tp.topic, tp.partition)] = self._start(tp)

    def unassign(self) -> None:
        # A partition's pause outlives its assignment, as in librdkafka: given back later, it is still paused.
        self._positions = {}

    def _start(self, tp: TopicPartition) -> int:
        if tp.offset >= 0:
            return int(tp.offset)
        low, high = self.broker.watermarks(tp.topic, tp.partition)
        if tp.offset == OFFSET_BEGINNING:
            return low
        if tp.offset == OFFSET_END:
            return high
        committed = self.broker.committed(self.group, tp.topic, tp.partition) if self.group else None
        if committed is not None:
            return committed
        return low if self.reset in ("earliest", "beginning", "smallest") else high

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(topic, number) for topic, number in self._positions]

    # --- reading ------------------------------------------------------------------------------------------

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[MemoryMessage]:
        deadline = time.monotonic() + (timeout if timeout >= 0 else 3600.0)
        while True:
            self._serve_group()
            found = self._take(num_messages)
            if found or self._closed:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            with self.broker.changed:
                self.broker.changed.wait(min(remaining, 0.05))

    def poll(self, timeout: float = -1) -> MemoryMessage | None:
        found = self.consume(1, timeout)
        return found[0] if found else None

    def _take(self, count: int) -> list[MemoryMessage]:
        found: list[MemoryMessage] = []
        partitions = [where for where in self._positions if where not in self._paused]
        if not partitions:
            return found
        self._turn = (self._turn + 1) % len(partitions)
        for where in partitions[self._turn :] + partitions[: self._turn]:
            if len(found) >= count:
                break
            if self.read_committed:
                batch, self._positions[where] = self.broker.read_committed(
                    where[0], where[1], self._positions[where], count - len(found)
                )
                found.extend(batch)
                continue
            batch = self.broker.read(where[0], where[1], self._positions[where], count - len(found))
            if batch:
                self._positions[where] += len(batch)
                found.extend(batch)
        return found

    # --- offsets ---------------------------------------------------------------------------------------

    def commit(
        self, message: Any = None, offsets: list[TopicPartition] | None = None, asynchronous: bool = True
    ) -> list[TopicPartition] | None:
        if not self.group:
            raise KafkaException(KafkaError(KafkaError._INVALID_ARG, "commit without a group.id"))
        chosen = offsets
        if chosen is None:
            chosen = [TopicPartition(topic, number, offset) for (topic, number), offset in self._positions.items()]
        self.broker.commit(self.group, chosen)
        return None if asynchronous else chosen

    def committed(self, partitions: list[TopicPartition], timeout: float = -1) -> list[TopicPartition]:
        found = []
        for tp in partitions:
            offset = self.broker.committed(self.group, tp.topic, tp.partition)
            found.append(TopicPartition(tp.topic, tp.partition, OFFSET_INVALID if offset is None else offset))
        return found

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self._positions.get((tp.topic, tp.partition), OFFSET_INVALID))
            for tp in partitions
        ]

    def pause(self, partitions: list[TopicPartition]) -> None:
        self._paused |= {(tp.topic, tp.partition) for tp in partitions}

    def seek(self, partition: TopicPartition) -> None:
        where = (partition.topic, partition.partition)
        if where not in self._positions:
            raise KafkaException(KafkaError(KafkaError._STATE, f"{where} is not assigned"))
        self._positions[where] = self._start(partition)

    def resume(self, partitions: list[TopicPartition]) -> None:
        self._paused -= {(tp.topic, tp.partition) for tp in partitions}

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]:
        return self.broker.watermarks(partition.topic, partition.partition)

    def offsets_for_times(self, partitions: list[TopicPartition], timeout: float = -1) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self.broker.offset_for_time(tp.topic, tp.partition, tp.offset))
            for tp in partitions
        ]

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> _ClusterMetadata:
        return self.broker.metadata(topic)

    def consumer_group_metadata(self) -> str:
        """What ``send_offsets_to_transaction`` needs of the group: here, its name."""
        return self.group

    def close(self) -> None:
        if self._closed:
            return
        if self._subscribed:
            callback = self._callbacks.get("revoke")
            if callback is not None and self._positions:
                callback(self, self.assignment())
            self.broker.leave(self.group, self)
        self._closed = True

    def crash(self) -> None:
        """Leaves the group at once without giving partitions back in order, as a killed process does."""
        self._closed = True
        if self._subscribed:
            self.broker.leave(self.group, self)


class MemoryProducer:
    """A producer of a :class:`MemoryBroker`: records are appended at once, delivery reports are served by
    :meth:`poll` and :meth:`flush` as librdkafka serves them."""

    def __init__(self, broker: MemoryBroker, config: Mapping[str, Any]) -> None:
        self.broker = broker
        self._reports: list[tuple[Callable[[Any, Any], None], MemoryMessage]] = []
        self._default = config.get("on_delivery")
        self._lock = threading.Lock()
        self.transactional_id = str(config.get("transactional.id") or "")
        self.transaction: _Transaction | None = None
        self.fenced = False
        """Another producer took this one's ``transactional.id`` over: every transactional call fails."""
        self._registered = False
        self.fail_next: KafkaError | None = None
        """Set to make the next produced record fail delivery with this error (tests of lost outputs)."""
        self.fail_offsets: list[KafkaError] = []
        """Errors the next calls of ``send_offsets_to_transaction`` raise, one each (a coordinator that moved)."""
        self.fail_commits: list[KafkaError] = []
        """Errors the next calls of ``commit_transaction`` raise, one each; after one, the commit is under way and
        adding offsets fails with ``_CONFLICT`` until it is called again, as librdkafka has it."""
        self._committing = False

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | str | None = None,
        partition: int = -1,
        on_delivery: Callable[[Any, Any], None] | None = None,
        timestamp: int = 0,
        headers: Any = None,
        callback: Callable[[Any, Any], None] | None = None,
    ) -> None:
        raw_key = key.encode() if isinstance(key, str) else key
        raw_value = value.encode() if isinstance(value, str) else value
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        encoded = [(name, v.encode() if isinstance(v, str) else v) for name, v in pairs]
        report = on_delivery or callback or self._default
        if self.transactional_id:
            self._check_transactions(open_one=True)
        error, self.fail_next = self.fail_next, None
        if error is not None:
            record = MemoryMessage(topic, max(partition, 0), -1, raw_key, raw_value, encoded, int(time.time() * 1000))
            if report is not None:
                with self._lock:
                    self._reports.append((lambda _e, m, r=report, e=error: r(e, m), record))  # type: ignore[misc]
            return
        record = self.broker.append(topic, raw_key, raw_value, encoded or None, partition, timestamp, self.transaction)
        if report is not None:
            with self._lock:
                self._reports.append((report, record))

    def poll(self, timeout: float = -1) -> int:
        with self._lock:
            reports, self._reports = self._reports, []
        for report, record in reports:
            report(None, record)
        if not reports and timeout and timeout > 0:
            time.sleep(min(timeout, 0.005))
        return len(reports)

    def flush(self, timeout: float = -1) -> int:
        self.poll(0)
        return 0

    def purge(self, in_queue: bool = True, in_flight: bool = True, blocking: bool = True) -> None:
        """Reports every record not reported yet as failed (``_PURGE_INFLIGHT``), as librdkafka does for records
        it had sent: whether they were written is not known (here they were, in whatever transaction was open)."""
        with self._lock:
            reports, self._reports = self._reports, []
            error = KafkaError(KafkaError._PURGE_INFLIGHT, "purged")
            self._reports = [
                (lambda _e, m, r=report: r(error, m), record)  # type: ignore[misc]
                for report, record in reports
            ]

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> _ClusterMetadata:
        return self.broker.metadata(topic)

    # --- transactions ---------------------------------------------------------------------------------------

    def _check_transactions(self, open_one: bool | None = None) -> None:
        """Raises as librdkafka does for a transactional call out of turn: ``open_one`` True needs an open
        transaction, False needs none."""
        if not self.transactional_id:
            raise KafkaException(KafkaError(KafkaError._NOT_CONFIGURED, "the producer has no transactional.id"))
        if self.fenced:
            raise KafkaException(
                KafkaError(
                    KafkaError._FENCED, f"producer fenced by a newer instance of {self.transactional_id}", fatal=True
                )
            )
        if not self._registered:
            raise KafkaException(KafkaError(KafkaError._STATE, "init_transactions() has not been called"))
        if open_one is not None and (self.transaction is not None) != open_one:
            state = "InTransaction" if self.transaction is not None else "Ready"
            raise KafkaException(KafkaError(KafkaError._STATE, f"operation not valid in state {state}"))

    def init_transactions(self, timeout: float = -1) -> None:
        if not self.transactional_id:
            raise KafkaException(KafkaError(KafkaError._NOT_CONFIGURED, "the producer has no transactional.id"))
        self.broker.register_transactional(self.transactional_id, self)
        self._registered = True

    def begin_transaction(self) -> None:
        self._check_transactions(open_one=False)
        self.transaction = _Transaction()

    def send_offsets_to_transaction(
        self, positions: list[TopicPartition], group_metadata: Any, timeout: float = -1
    ) -> None:
        self._check_transactions(open_one=True)
        assert self.transaction is not None
        if self._committing:
            raise KafkaException(
                KafkaError(KafkaError._CONFLICT, "Conflicting commit_transaction API call is already in progress")
            )
        if self.fail_offsets:
            raise KafkaException(self.fail_offsets.pop(0))
        self.transaction.offsets.setdefault(str(group_metadata), []).extend(positions)

    def commit_transaction(self, timeout: float = -1) -> None:
        self._check_transactions(open_one=True)
        assert self.transaction is not None
        if self.fail_commits:
            self._committing = True
            raise KafkaException(self.fail_commits.pop(0))
        self._committing = False
        self.flush(timeout)
        transaction, self.transaction = self.transaction, None
        self.broker.end_transaction(transaction, commit=True)

    def abort_transaction(self, timeout: float = -1) -> None:
        self._check_transactions(open_one=True)
        assert self.transaction is not None
        transaction, self.transaction = self.transaction, None
        self.broker.end_transaction(transaction, commit=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._reports)


class _MemoryAdmin:
    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> _ClusterMetadata:
        return self.broker.metadata(topic)

    def create_topics(self, new_topics: list[Any], **kwargs: Any) -> dict[str, Any]:
        futures = {}
        for new in new_topics:
            created = self.broker.create_topic(new.topic, new.num_partitions, getattr(new, "config", None))
            error = None if created else KafkaException(KafkaError(KafkaError.TOPIC_ALREADY_EXISTS, new.topic))
            futures[new.topic] = _Future(error)
        return futures

    def create_partitions(self, new_partitions: list[Any], **kwargs: Any) -> dict[str, Any]:
        futures = {}
        for new in new_partitions:
            try:
                self.broker.add_partitions(new.topic, new.new_total_count)
                futures[new.topic] = _Future()
            except KafkaException as error:
                futures[new.topic] = _Future(error)
        return futures

    def delete_topics(self, topics: list[str], **kwargs: Any) -> dict[str, Any]:
        return {name: _Future() for name in topics if self.broker.delete_topic(name) or True}


class _MemoryRegistry(MockSchemaRegistryClient):
    """confluent-kafka's mock registry, shared by a transport's catalogs, with compatibility levels kept."""

    def __init__(self, url: str) -> None:
        super().__init__({"url": url})
        self._levels: dict[str | None, str] = {}

    def set_compatibility(self, subject_name: str | None = None, level: str | None = None) -> Any:
        self._levels[subject_name] = str(level)
        return {"compatibility": level}

    def get_compatibility(self, subject_name: str | None = None) -> Any:
        return self._levels.get(subject_name, self._levels.get(None, "BACKWARD"))

    def close(self) -> None:
        """Shared by every catalog of the transport: closing one catalog leaves it to the others."""


class MemoryTransport:
    """Clients of one :class:`MemoryBroker` and one in-memory registry, behaving as the Kafka transport's do
    (see :class:`~a2a_fast.transport.base.Transport` for the methods): agents, handlers and workflows run on it
    in unit tests without a broker."""

    def __init__(self, broker: MemoryBroker | None = None, signing: RecordSigning | None = None) -> None:
        self.broker = broker or MemoryBroker()
        self.signing = signing
        """Record signing of the processes this transport stands for (see :mod:`a2a_fast.protocol.signing`)."""
        self._registry = _MemoryRegistry(self.schema_registry_url)
        self.unreachable: set[str] = set()
        """``"broker"`` and/or ``"registry"``: what :meth:`check_reachable` reports down, to test outages."""

    @property
    def bootstrap(self) -> str:
        """A name for the in-memory broker, in messages."""
        return "memory://broker"

    @property
    def schema_registry_url(self) -> str:
        """A name for the in-memory registry, in messages and ``ce_dataschema`` URIs."""
        return "mock://registry"

    def consumer(self, config: Mapping[str, Any]) -> ConsumerClient:
        """A consumer of the in-memory broker."""
        return MemoryConsumer(self.broker, config)

    def producer(self, config: Mapping[str, Any]) -> ProducerClient:
        """A producer to the in-memory broker."""
        return MemoryProducer(self.broker, config)

    def admin(self) -> AdminClient:
        """An admin client of the in-memory broker."""
        return _MemoryAdmin(self.broker)

    def registry(self) -> RegistryClient:
        """The in-memory registry, shared by every catalog of this transport."""
        registry: RegistryClient = self._registry
        return registry

    def describe(self) -> Sequence[tuple[str, str]]:
        """What this transport connects to."""
        return (("broker", self.bootstrap), ("registry", self.schema_registry_url))

    def check_reachable(self, timeout: float = 0.0, registry: bool = True) -> None:
        """Raises ServiceUnavailableError for a service named in :attr:`unreachable`."""
        for service, address in (("broker", self.bootstrap), ("registry", self.schema_registry_url)):
            if service in self.unreachable and (registry or service == "broker"):
                raise ServiceUnavailableError(f"the in-memory {service}", address, service, "marked unreachable")
