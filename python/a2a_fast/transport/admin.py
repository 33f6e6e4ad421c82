"""Topics: creating the missing ones and describing what is there."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from a2a_fast.errors import ServiceUnavailableError, StackError
from a2a_fast.transport import Transport, as_transport
from a2a_fast.transport.base import ConsumerClient
from a2a_fast.transport.kafka import BROKER_SETTING

__all__ = ["TopicInfo", "describe_topics", "ensure_topics", "watermark_offsets"]

# What a partition answers while its topic is being created or its leader moves; asked again, it answers.
_NOT_READY_YET = frozenset(
    {
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._TIMED_OUT,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
    }
)


def watermark_offsets(client: ConsumerClient, topic: str, partition: int, timeout: float) -> tuple[int, int]:
    """A partition's low and high watermarks, asked again while the partition is not ready yet (a topic
    created a moment ago, a leader being elected) until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            low, high = client.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=max(0.1, min(2.0, deadline - time.monotonic()))
            )
            return int(low), int(high)
        except KafkaException as error:
            if error.args[0].code() not in _NOT_READY_YET or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


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
        raise ServiceUnavailableError("Kafka", transport.bootstrap, BROKER_SETTING, error.args[0].str()) from error
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
            raise ServiceUnavailableError("Kafka", transport.bootstrap, BROKER_SETTING, error.args[0].str()) from error
        found = []
        for name in sorted(metadata.topics):
            if name.startswith("__") or not name.startswith(prefix):
                continue
            numbers = sorted(metadata.topics[name].partitions)
            marks = [watermark_offsets(consumer, name, n, timeout) for n in numbers]
            found.append(TopicInfo(name, len(numbers), [high for _, high in marks], [low for low, _ in marks]))
        return found
    finally:
        consumer.close()
