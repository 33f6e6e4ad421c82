"""Reading the mesh's topics as an onlooker: ``a2a-fast tail``, ``tasks``, ``replay`` and the MCP server.

:class:`LogReader` assigns itself every partition of the topics it reads (no consumer group membership, so
the agents' groups never rebalance because of it), commits nothing and dead-letters nothing: a record it
cannot decode is shown with the reason instead. It decodes with the package's schemas and fetches writer
schemas by id, and never registers a schema.

:class:`MeshView` keeps a :class:`~a2a_fast.history.TaskLog` of the task topics up to date on the event loop,
for the MCP server: reads run in a worker thread, folding happens on the loop, and waiters are woken on
every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, Message, TopicPartition

from a2a_fast.envelope import Envelope, Inbound, TopicNames
from a2a_fast.errors import A2AError, StackError
from a2a_fast.history import AgentActivity, TaskHistory, TaskLog, format_time
from a2a_fast.registry import SchemaCatalog

if TYPE_CHECKING:
    from a2a_fast.mesh.directory import AgentInfo

__all__ = [
    "LogReader",
    "MeshView",
    "Observed",
    "TopicInfo",
    "agent_rows",
    "describe_topics",
    "resolve_topic",
]

TOPIC_ALIASES: Final = {
    "requests": "requests",
    "task-requests": "requests",
    "responses": "responses",
    "task-responses": "responses",
    "negotiations": "negotiations",
    "collaborations": "collaborations",
    "dlq": "dlq",
    "a2a.dlq": "dlq",
}


def resolve_topic(name: str, topics: TopicNames) -> str:
    """``task-requests`` (or ``requests``) → the prefixed topic name; any other name is taken as it is."""
    role = TOPIC_ALIASES.get(name)
    return str(getattr(topics, role)) if role else name


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
        self, kafka: str, schema_registry: str, topics: TopicNames, names: Sequence[str], from_beginning: bool = True
    ) -> None:
        self.kafka = kafka
        self.names = list(names)
        self.from_beginning = from_beginning
        self.catalog = SchemaCatalog(schema_registry, topics)
        self.catalog.load_readers()
        self.envelope = Envelope(self.catalog, topics, "observer")
        self.ends: dict[tuple[str, int], int] = {}
        """Each partition's end offset when the reader opened: what "caught up" means."""
        self._consumer = Consumer(
            {
                "bootstrap.servers": kafka,
                "group.id": f"a2a-fast-observer-{uuid.uuid4().hex}",  # required by the client; never joined
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "log_level": 3,
            }
        )

    def open(self, timeout: float = 15.0) -> None:
        """Assigns every partition of the topics; raises StackError naming a topic that does not exist."""
        assignment = []
        try:
            metadata = self._consumer.list_topics(timeout=timeout)
        except KafkaException as error:
            raise StackError(f"cannot reach Kafka at {self.kafka}: {error}") from error
        for name in self.names:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None or not topic.partitions:
                known = sorted(t for t in metadata.topics if not t.startswith("__"))
                raise StackError(f"topic {name!r} does not exist (topics: {', '.join(known) or 'none'})")
            for number in sorted(topic.partitions):
                _, high = self._consumer.get_watermark_offsets(TopicPartition(name, number), timeout=timeout)
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


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    partitions: int
    end_offsets: list[int]
    start_offsets: list[int]

    @property
    def records(self) -> int:
        return sum(self.end_offsets) - sum(self.start_offsets)


def describe_topics(kafka: str, prefix: str = "", timeout: float = 15.0) -> list[TopicInfo]:
    """The topics whose names start with ``prefix`` (internal ones left out), with their offsets."""
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": f"a2a-fast-topics-{uuid.uuid4().hex}"})
    try:
        try:
            metadata = consumer.list_topics(timeout=timeout)
        except KafkaException as error:
            raise StackError(f"cannot reach Kafka at {kafka}: {error}") from error
        found = []
        for name in sorted(metadata.topics):
            if name.startswith("__") or not name.startswith(prefix):
                continue
            numbers = sorted(metadata.topics[name].partitions)
            marks = [consumer.get_watermark_offsets(TopicPartition(name, n), timeout=timeout) for n in numbers]
            found.append(TopicInfo(name, len(numbers), [high for _, high in marks], [low for low, _ in marks]))
        return found
    finally:
        consumer.close()


class MeshView:
    """A :class:`TaskLog` of the task topics kept current on the loop. ``start`` returns once the log as
    it stood then is folded; :meth:`wait_for` awaits a condition on one task. ``retained_finished`` bounds
    how many ended tasks it keeps (all when None)."""

    def __init__(
        self, kafka: str, schema_registry: str, topics: TopicNames, retained_finished: int | None = None
    ) -> None:
        self.log = TaskLog(retained_finished=retained_finished)
        self.dead_letters = 0
        self._reader = LogReader(
            kafka, schema_registry, topics, [topics.requests, topics.responses, topics.negotiations]
        )
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="mesh-view")
        self._changed = asyncio.Condition()
        self._caught_up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._positions: dict[tuple[str, int], int] = {}

    async def start(self, patience: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._reader.open)
        self._task = loop.create_task(self._follow(), name="mesh-view")
        await asyncio.wait_for(self._caught_up.wait(), patience)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.get_running_loop().run_in_executor(self._thread, self._reader.close)
        self._thread.shutdown(wait=True)

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await loop.run_in_executor(self._thread, self._reader.read, 0.2)
            for observed in batch:
                self._positions[(observed.topic, observed.partition)] = observed.offset + 1
                if observed.message is not None:
                    self.log.fold(observed.message)
            if batch:
                async with self._changed:
                    self._changed.notify_all()
            if not self._caught_up.is_set() and all(
                self._positions.get(where, 0) >= end for where, end in self._reader.ends.items() if end > 0
            ):
                self._caught_up.set()

    async def wait_for(
        self,
        task_id: str,
        condition: Callable[[TaskHistory], bool],
        on_change: Callable[[TaskHistory], Any] | None = None,
    ) -> TaskHistory:
        """Returns the task once ``condition`` holds for it; ``on_change`` (sync or async) sees every change."""
        seen = -1
        async with self._changed:
            while True:
                task = self.log.get(task_id)
                if task is not None and len(task.timeline) != seen:
                    seen = len(task.timeline)
                    reported = on_change(task) if on_change is not None else None
                    if asyncio.iscoroutine(reported):
                        await reported
                    if condition(task):
                        return task
                await self._changed.wait()


def agent_rows(registered: Iterable[AgentInfo], activity: Mapping[str, AgentActivity]) -> list[dict[str, Any]]:
    """One row per agent, by id: what the mesh directory holds (card, liveness, state; ``registered`` False
    for an agent that never joined it) and under ``log`` what the task topics show of it (or None)."""
    directory = {info.agent_id: info for info in registered}
    rows = []
    for name in sorted(set(directory) | set(activity)):
        row: dict[str, Any] = {"agent_id": name, "registered": name in directory}
        info = directory.get(name)
        if info is not None:
            row.update(
                alive=info.alive,
                type=info.card.agent_type,
                capabilities=list(info.card.capabilities),
                status=info.status,
                current_task=info.current_task,
                progress=info.progress,
                load=info.load,
                last_seen=format_time(int(info.last_seen * 1000)),
                endpoints=dict(info.card.endpoints),
            )
        seen = activity.get(name)
        row["log"] = seen.to_dict() if seen is not None else None
        rows.append(row)
    return rows
