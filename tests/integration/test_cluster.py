"""The replicated local cluster (``a2a-fast stack up --brokers 3``) on private ports: one broker killed with
SIGKILL under a bounded load loses no acknowledged record, and the agents carry on without a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from a2a_fast.agents.base import AgentConfig
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.config import ProtocolConfig, TopicConfig
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import LocalStack
from a2a_fast.stack.services import free_ports
from a2a_fast.transport.admin import ensure_topics
from tests.integration.test_agents import HANDLERS, SKILLS, run_strict

TASKS = 60
RECORDS = 3000
"""Records a plain producer writes with ``acks=all`` while the broker dies, each with its own key."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state: Path = tmp_path_factory.mktemp("cluster")
    stack = LocalStack(state, free_ports(3), free_ports(3), free_ports(), brokers=3)
    try:
        stack.up()
        yield stack
    finally:
        # The state is thrown away: a node that waits for a quorum already gone need not be waited for.
        stack.down(patience=5)


def _produce_acknowledged(bootstrap: str, topic: str, acknowledged: list[bytes], stop: threading.Event) -> None:
    """Writes ``RECORDS`` records, paced, noting the key of each one the cluster acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5})

    def report(error: KafkaError | None, message: Any) -> None:
        if error is None:
            acknowledged.append(message.key())

    for n in range(RECORDS):
        if stop.is_set():
            break
        while True:
            try:
                producer.produce(topic, b"v", f"k{n}".encode(), on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        time.sleep(0.003)
    producer.flush(120)


def _read_keys(bootstrap: str, topic: str) -> set[bytes]:
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex, "enable.auto.commit": False})
    try:
        partitions = reader.list_topics(topic, timeout=30).topics[topic].partitions
        ends = {n: reader.get_watermark_offsets(TopicPartition(topic, n), timeout=30)[1] for n in partitions}
        reader.assign([TopicPartition(topic, n, 0) for n in partitions])
        keys: set[bytes] = set()
        left = {n for n, end in ends.items() if end > 0}
        deadline = time.monotonic() + 60
        while left and time.monotonic() < deadline:
            for message in reader.consume(500, 0.5):
                if message.error() is None:
                    keys.add(message.key())
                    if message.offset() + 1 >= ends[message.partition()]:
                        left.discard(message.partition())
        return keys
    finally:
        reader.close()


def test_a_broker_killed_under_load_loses_no_acknowledged_record(cluster: LocalStack) -> None:
    endpoints = cluster.endpoints()
    topics = TopicNames(f"t-{uuid.uuid4().hex[:10]}.")
    protocol = ProtocolConfig(topics=TopicConfig(replication_factor=3))
    plain = f"{topics.prefix}acks"
    ensure_topics(endpoints.kafka, [plain], replication_factor=3)
    admin = AdminClient({"bootstrap.servers": endpoints.kafka})
    deadline = time.monotonic() + 30
    replicas: set[int] = set()
    while not replicas and time.monotonic() < deadline:  # metadata of a new topic takes a moment to spread
        replicas = {len(p.replicas) for p in admin.list_topics(plain, timeout=30).topics[plain].partitions.values()}
        time.sleep(0.2)
    assert replicas == {3}
    victim = cluster.brokers[1]
    acknowledged: list[bytes] = []
    at_kill: list[int] = []

    def config(agent_id: str) -> AgentConfig:
        return AgentConfig(agent_id, endpoints.kafka, endpoints.schema_registry, topics=topics, protocol=protocol)

    async def scenario() -> list[str]:
        agents = [Provider(config("provider-1"), SKILLS), Executor(config("executor-1"), HANDLERS, serve_steps=False)]
        requester = Requester(config("requester-1"))
        for agent in (*agents, requester):
            await agent.start()
        stop = threading.Event()
        loop = asyncio.get_running_loop()
        writer = loop.run_in_executor(None, _produce_acknowledged, endpoints.kafka, plain, acknowledged, stop)
        try:
            await asyncio.gather(*(agent.wait_assigned() for agent in (*agents, requester)))
            pending = []
            for n in range(TASKS):
                pending.append(
                    asyncio.ensure_future(
                        requester.request_task(f"task {n}", 120.0, capability="summarize", max_wait=180)
                    )
                )
                if n == TASKS // 3:
                    pid = victim.pid()
                    assert pid is not None
                    os.killpg(pid, signal.SIGKILL)
                    at_kill.append(len(acknowledged))
                await asyncio.sleep(0.05)
            outcomes = await asyncio.gather(*pending)
            await writer
            for agent in (*agents, requester):
                assert agent.failure is None and agent.is_running
            return [outcome.status for outcome in outcomes]
        finally:
            stop.set()
            for agent in (requester, *agents):
                await agent.stop()

    statuses = run_strict(scenario)
    assert victim.pid() is None
    assert statuses == ["COMPLETED"] * TASKS
    stored = _read_keys(endpoints.kafka, plain)
    lost = [key for key in acknowledged if key not in stored]
    after = len(acknowledged) - at_kill[0]
    print(f"acknowledged {len(acknowledged)} of {RECORDS} ({after} after the kill), lost {len(lost)}")
    assert after > 0 and len(acknowledged) > RECORDS // 2, (len(acknowledged), at_kill)
    assert not lost, (len(acknowledged), len(lost))
    requests = admin.list_topics(topics.requests, timeout=30).topics[topics.requests].partitions.values()
    assert {len(p.replicas) for p in requests} == {3}
