"""Topics: creating the missing ones and describing what is there."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicPartition

from a2a_fast.errors import StackError
from a2a_fast.transport import Transport, as_transport

__all__ = ["TopicInfo", "describe_topics", "ensure_topics"]


def ensure_topics(
    target: str | Transport,
    names: Iterable[str],
    partitions: int = 3,
    config: dict[str, str] | None = None,
    timeout: float = 30.0,
    replication_factor: int = 1,
) -> list[str]:
    """Creates the topics that do not exist yet (with ``partitions`` each); returns the names it created.

    A topic that exists keeps its own partition count."""
    from confluent_kafka import KafkaError
    from confluent_kafka.cimpl import NewTopic

    transport = as_transport(target)
    admin = transport.admin()
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as error:
        raise StackError(f"cannot reach Kafka at {transport.bootstrap}: {error}") from error
    wanted = [name for name in dict.fromkeys(names) if name not in existing]
    if not wanted:
        return []
    futures = admin.create_topics(
        [
            NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=config or {})
            for name in wanted
        ],
        operation_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout)
            created.append(name)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise StackError(f"creating topic {name!r} failed: {error}") from error
    return created


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    partitions: int
    end_offsets: list[int]
    start_offsets: list[int]

    @property
    def records(self) -> int:
        return sum(self.end_offsets) - sum(self.start_offsets)


def describe_topics(target: str | Transport, prefix: str = "", timeout: float = 15.0) -> list[TopicInfo]:
    """The topics whose names start with ``prefix`` (internal ones left out), with their offsets."""
    transport = as_transport(target)
    consumer = transport.consumer({"group.id": f"a2a-fast-topics-{uuid.uuid4().hex}"})  # never joined
    try:
        try:
            metadata = consumer.list_topics(timeout=timeout)
        except KafkaException as error:
            raise StackError(f"cannot reach Kafka at {transport.bootstrap}: {error}") from error
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
