"""Test bodies written once and run on both transports: the in-memory twin (tests/unit) and the real broker
and registry (tests/integration).

A scenario is an ``async def scenario(mesh: Mesh) -> None``; :class:`Mesh` gives it agent configs, topic
admin and the log on whichever transport the runner chose.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import uvloop
from confluent_kafka.admin import NewPartitions

from a2a_fast.agents.base import AgentConfig
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport import Transport
from a2a_fast.transport.admin import ensure_topics
from a2a_fast.transport.log import replay
from a2a_fast.transport.registry import SchemaCatalog

T = TypeVar("T")
Scenario = Callable[["Mesh"], Awaitable[None]]


class Mesh:
    """One test's topic namespace on one transport."""

    def __init__(self, transport: Transport, topics: TopicNames) -> None:
        self.transport = transport
        self.topics = topics

    def config(self, agent_id: str, **overrides: Any) -> AgentConfig:
        return AgentConfig(
            agent_id,
            self.transport.bootstrap,
            self.transport.schema_registry_url,
            topics=self.topics,
            transport=self.transport,
            **overrides,
        )

    def create_topics(self, partitions: int) -> None:
        ensure_topics(self.transport, self.topics.all(), partitions=partitions)

    def add_partitions(self, topic: str, total: int) -> None:
        admin = self.transport.admin()  # held until the futures resolve: a collected client cancels them
        for future in admin.create_partitions([NewPartitions(topic, total)]).values():
            future.result(30)

    def partitions(self, topic: str) -> int:
        return len(self.transport.admin().list_topics(topic, timeout=10).topics[topic].partitions)

    def log(self, topic: str) -> list[Inbound]:
        """Every decodable message of ``topic``, read from the start."""
        catalog = SchemaCatalog(self.transport, self.topics)
        try:
            catalog.register()
            return list(replay(self.transport, catalog, self.topics, topics=[topic]))
        finally:
            catalog.close()

    def records(self, topic: str) -> int:
        """How many records ``topic`` holds (0 when it does not exist)."""
        consumer = self.transport.consumer({"group.id": f"count-{uuid.uuid4().hex}"})
        try:
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is None or metadata.error is not None:
                return 0
            from confluent_kafka import TopicPartition

            total = 0
            for number in metadata.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, number), timeout=10)
                total += high - low
            return total
        finally:
            consumer.close()

    def delete_topics(self) -> None:
        names = [*self.topics.all(), self.topics.agents, self.topics.messages]
        admin = self.transport.admin()
        for future in admin.delete_topics(names, operation_timeout=10).values():
            with contextlib.suppress(Exception):  # a topic the test never created
                future.result(15)


@contextlib.contextmanager
def fresh_mesh(transport: Transport) -> Iterator[Mesh]:
    """A mesh on a fresh topic namespace of ``transport``; its topics are deleted afterwards."""
    mesh = Mesh(transport, TopicNames(f"t-{uuid.uuid4().hex[:10]}."))
    try:
        yield mesh
    finally:
        mesh.delete_topics()


def run_strict(scenario: Callable[[], Awaitable[T]]) -> T:
    """Runs ``scenario`` under uvloop and fails on any exception the loop reports but nobody awaited."""
    unhandled: list[dict[str, Any]] = []

    async def main() -> T:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: unhandled.append(context))
        return await scenario()

    result = uvloop.run(main())
    assert not unhandled, f"unhandled loop exceptions: {unhandled}"
    return result


async def eventually(condition: Callable[[], bool], within: float, what: str) -> None:
    """Waits until ``condition()`` holds, checking every 50 ms; fails naming ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.05)
