"""The runtime's own guarantees on the real broker: a record counts as handled only once its outputs are
acknowledged, a lost output sends its record to the dead letters, and records of one key stay in order even
when a handler suspends."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from a2a_fast.agents.base import Agent
from a2a_fast.protocol.envelope import Envelope, Inbound, KafkaRecord
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST
from a2a_fast.stack import Endpoints
from a2a_fast.transport.admin import ensure_topics
from a2a_fast.transport.registry import SchemaCatalog
from tests.integration.test_agents import Mesh, fresh_mesh, run_strict


@pytest.fixture
def mesh(endpoints: Endpoints) -> Iterator[Mesh]:
    with fresh_mesh(endpoints) as fresh:
        yield fresh


def send_requests(mesh: Mesh, requests: list[tuple[str, str]]) -> None:
    """Writes a TaskRequest per ``(task id, description)``, in this order."""
    ensure_topics(mesh.endpoints.kafka, mesh.topics.all())
    with SchemaCatalog(mesh.endpoints.schema_registry, mesh.topics) as catalog:
        catalog.register()
        envelope = Envelope(catalog, mesh.topics, "sender")
        producer = Producer({"bootstrap.servers": mesh.endpoints.kafka, "enable.idempotence": True})
        for task_id, description in requests:
            record = {
                "task_id": task_id,
                "requester_id": "sender",
                "description": description,
                "capability": "summarize",
                "proposed_cost": 1.0,
                "priority": 1,
                "parameters": {},
                "timestamp": 1_700_000_000_000,
            }
            out = envelope.encode(KIND_TASK_REQUEST, record)
            producer.produce(out.topic, out.value, out.key, headers=out.headers)
        assert producer.flush(30) == 0


def committed(mesh: Mesh, group: str) -> int:
    """The sum of the committed offsets of the requests topic for ``group`` (0 when none)."""
    reader = Consumer({"bootstrap.servers": mesh.endpoints.kafka, "group.id": group})
    try:
        metadata = reader.list_topics(mesh.topics.requests, timeout=10)
        partitions = [TopicPartition(mesh.topics.requests, n) for n in metadata.topics[mesh.topics.requests].partitions]
        return sum(max(0, tp.offset) for tp in reader.committed(partitions, timeout=10))
    finally:
        reader.close()


class Forwarder(Agent):
    """Copies each request's value to ``target`` (raw), then records the description it handled."""

    role = "forwarder"

    def __init__(self, *args: Any, target: str, size: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.target = target
        self.size = size
        self.handled: list[str] = []
        self.called = asyncio.Event()

    def subscriptions(self) -> list[str]:
        return [self.topics.requests]

    async def handle(self, message: Inbound) -> None:
        value = b"x" * self.size if self.size else message.task_id.encode()
        await self.produce_record(KafkaRecord(self.target, message.task_id.encode(), [], value))
        self.handled.append(message.record["description"])
        self.called.set()


def test_a_record_is_committed_only_once_its_output_is_acknowledged(mesh: Mesh) -> None:
    target = f"{mesh.topics.prefix}late-topic"
    group = f"forwarders-{uuid.uuid4().hex[:6]}"

    async def scenario() -> None:
        # the output's topic does not exist yet, so its delivery waits until the test creates it
        config = mesh.config(
            "forwarder-1", group_id=group, producer_config={"allow.auto.create.topics": False}, commit_interval=0.05
        )
        agent = Forwarder(config, target=target)
        handled = asyncio.Event()
        agent.observers.append(lambda event, _message: handled.set() if event == "handled" else None)
        loop = asyncio.get_running_loop()
        async with agent:
            await agent.wait_assigned()
            await loop.run_in_executor(None, send_requests, mesh, [("task-1", "one")])
            await asyncio.wait_for(agent.called.wait(), 30)
            await asyncio.sleep(1.0)  # many commit intervals
            assert not handled.is_set() and agent.status()["in_flight"] == 1
            assert await loop.run_in_executor(None, committed, mesh, group) == 0
            await loop.run_in_executor(None, ensure_topics, mesh.endpoints.kafka, [target])
            await asyncio.wait_for(handled.wait(), 30)
            deadline = time.monotonic() + 20
            while await loop.run_in_executor(None, committed, mesh, group) != 1:
                assert time.monotonic() < deadline, "the handled record was never committed"
                await asyncio.sleep(0.2)
        assert agent.handled == ["one"]

    try:
        run_strict(scenario)
    finally:
        AdminClient({"bootstrap.servers": mesh.endpoints.kafka}).delete_topics([target], operation_timeout=10)


def test_a_lost_output_sends_its_record_to_the_dead_letters_and_the_agent_carries_on(mesh: Mesh) -> None:
    target = f"{mesh.topics.prefix}small-topic"
    admin = AdminClient({"bootstrap.servers": mesh.endpoints.kafka})
    admin.create_topics([NewTopic(target, 1, 1, config={"max.message.bytes": "1000"})])[target].result(30)
    group = f"forwarders-{uuid.uuid4().hex[:6]}"

    async def scenario() -> None:
        agent = Forwarder(mesh.config("forwarder-1", group_id=group), target=target, size=5000)
        dead = asyncio.Event()
        agent.observers.append(lambda event, _message: dead.set() if event == "dead_letter" else None)
        loop = asyncio.get_running_loop()
        async with agent:
            await agent.wait_assigned()
            await loop.run_in_executor(None, send_requests, mesh, [("task-1", "too big")])
            await asyncio.wait_for(dead.wait(), 60)
            deadline = time.monotonic() + 20
            while await loop.run_in_executor(None, committed, mesh, group) != 1:
                assert time.monotonic() < deadline, "the dead-lettered record was never committed"
                await asyncio.sleep(0.2)
        assert agent.metrics.counter("dead_letters_total", topic=mesh.topics.requests) == 1

    try:
        run_strict(scenario)
    finally:
        admin.delete_topics([target], operation_timeout=10)
    reader = Consumer(
        {"bootstrap.servers": mesh.endpoints.kafka, "group.id": uuid.uuid4().hex, "auto.offset.reset": "earliest"}
    )
    reader.subscribe([mesh.topics.dlq])
    try:
        letter = None
        for _ in range(30):
            letter = reader.poll(1.0)
            if letter is not None and letter.error() is None:
                break
        assert letter is not None and letter.error() is None
        headers = dict(letter.headers() or [])
    finally:
        reader.close()
    assert headers["dlq.stage"] == b"produce"
    assert headers["dlq.error.class"] == b"cimpl.KafkaException"
    assert b"MSG_SIZE_TOO_LARGE" in headers["dlq.reason"]
    assert letter.key() == b"task-1"


class Ordered(Agent):
    """Suspends on records whose description starts with ``slow``; notes when each record starts and ends."""

    role = "ordered"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[str] = []
        self.done = asyncio.Event()

    def subscriptions(self) -> list[str]:
        return [self.topics.requests]

    async def handle(self, message: Inbound) -> None:
        description = message.record["description"]
        self.events.append(f"start {description}")
        if description.startswith("slow"):
            await asyncio.sleep(0.5)
        self.events.append(f"end {description}")
        if description == "last":
            self.done.set()


def test_records_of_one_key_stay_in_order_when_a_handler_suspends(mesh: Mesh) -> None:
    async def scenario() -> None:
        agent = Ordered(mesh.config("ordered-1"))
        loop = asyncio.get_running_loop()
        async with agent:
            await agent.wait_assigned()
            requests = [("task-a", "slow a1"), ("task-a", "a2"), ("task-a", "slow a3"), ("task-a", "a4")]
            await loop.run_in_executor(None, send_requests, mesh, [*requests, ("task-b", "b1")])
            await asyncio.sleep(2.0)
            await loop.run_in_executor(None, send_requests, mesh, [("task-b", "last")])
            await asyncio.wait_for(agent.done.wait(), 30)
        events = agent.events
        order = ["slow a1", "a2", "slow a3", "a4"]
        assert [event for event in events if " a" in event] == [
            f"{edge} {d}" for d in order for edge in ("start", "end")
        ]
        # a record of another key does not wait behind the suspended one
        assert events.index("end b1") < events.index("end slow a1")

    run_strict(scenario)
