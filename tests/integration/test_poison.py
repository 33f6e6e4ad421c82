"""Poison records on every topic an agent reads, on the real broker and registry.

Each topic gets random bytes, JSON without CloudEvents headers, a record naming a schema id the registry does
not have, a truncated Avro body, an oversized record, a message past its ttl and a repeated message id. The
first six end in the dead letters, once each, with the reason and the original topic, partition and offset in
``dlq.*`` headers and the original key, value and headers kept; a repeated id is not a dead letter but a
duplicate: dropped before its handler runs, counted, and its first copy has its effect once. The directory
topic, which every agent reads in full, skips its poison (each reader would write its own copy of a dead
letter) and counts it. None of it stops an agent: real tasks sent after the poison complete.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from a2a.types import GetTaskRequest
from confluent_kafka import Consumer, Producer

from a2a_fast.a2a import A2AAgent
from a2a_fast.a2a.builtin import EchoExecutor, echo_card
from a2a_fast.agents.base import Agent
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.config import MessageConfig, ProtocolConfig
from a2a_fast.protocol.envelope import Envelope, Inbound, KafkaRecord
from a2a_fast.protocol.kinds import (
    KIND_A2A_REQUEST,
    KIND_NEGOTIATION,
    KIND_STEP_REQUEST,
    KIND_TASK_REQUEST,
    KIND_TASK_RESPONSE,
)
from a2a_fast.stack import Endpoints
from a2a_fast.transport.admin import ensure_topics
from a2a_fast.transport.registry import SchemaCatalog
from tests.integration.test_agents import HANDLERS, SKILLS, Mesh, fresh_mesh, run_strict

MAX_BYTES = 64 * 1024
"""The agents' ``max_message_bytes`` here: the oversized poison is larger, yet small enough for the broker."""

DEAD = ("random", "json", "schema", "truncated", "oversized", "expired")
"""The poison that must end in the dead letters; ``duplicate`` must not."""

STAGES = {
    "random": ("decode", "a2a_fast.errors.DecodeError"),
    "json": ("validation", "a2a_fast.errors.ValidationError"),
    "schema": ("validation", "a2a_fast.errors.SchemaError"),
    "truncated": ("decode", "a2a_fast.errors.DecodeError"),
    "oversized": ("limits", "a2a_fast.errors.MessageTooLargeError"),
    "expired": ("limits", "a2a_fast.errors.MessageExpiredError"),
}

AGENT_TOPICS = ("requests", "negotiations", "responses", "collaborations", "a2a_requests")
"""The topics agents read in consumer groups, by :class:`TopicNames` property."""


@pytest.fixture
def mesh(endpoints: Endpoints) -> Iterator[Mesh]:
    with fresh_mesh(endpoints) as fresh:
        yield fresh


def _valid(role: str, task_id: str, executor_group: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A harmless, valid message of the kind ``role``'s topic carries, and how to address it, so that its
    reader acts on it (a ttl applies only to what a reader would act on)."""
    now = int(time.time() * 1000)
    if role == "requests":
        record = {
            "task_id": task_id,
            "requester_id": "nobody",
            "description": "poison",
            "capability": "no-such-skill",  # answered REJECTED: no task runs
            "proposed_cost": 1.0,
            "priority": 1,
            "parameters": {},
            "timestamp": now,
        }
        return KIND_TASK_REQUEST, record, {}
    if role == "negotiations":
        record = {
            "task_id": task_id,
            "round": 0,
            "from_agent": "nobody",
            "to_agent": "provider-1",
            "action": "REJECT",
            "offer": None,
            "reason": "poison",
            "capability": "summarize",
            "description": "poison",
            "parameters": {},
            "timestamp": now,
        }
        return KIND_NEGOTIATION, record, {}
    if role == "responses":
        record = {
            "task_id": task_id,
            "responder_id": "nobody",
            "status": "ACCEPTED",
            "agreed_cost": 1.0,
            "capability": "no-such-handler",  # run to FAILED at once, should it run
            "description": "poison",
            "parameters": {},
            "round": 0,
            "timestamp": now,
        }
        return KIND_TASK_RESPONSE, record, {"target_group": executor_group}
    if role == "collaborations":
        record = {
            "task_id": task_id,
            "coordinator_id": "nobody",
            "workflow_id": "poison",
            "step_index": 0,
            "step_name": "poison",
            "attempt": 1,
            "agent_id": "executor-1",
            "capability": "no-such-handler",
            "description": "poison",
            "parameters": {},
            "input": None,
            "timeout_ms": 60_000,
            "timestamp": now,
        }
        return KIND_STEP_REQUEST, record, {"target_agent": "executor-1"}
    assert role == "a2a_requests"
    record = {
        "task_id": task_id,
        "request_id": task_id,
        "requester_id": "nobody",
        "method": "GetTask",  # answered with a task-not-found error
        "agent": "echo",
        "context_id": None,
        "continues": False,
        "text": None,
        "params": GetTaskRequest(id=task_id).SerializeToString(),
        "timestamp": now,
    }
    return KIND_A2A_REQUEST, record, {}


def _replace(headers: list[tuple[str, bytes]], name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [(key, value if key == name else old) for key, old in headers]


def poison_for(envelope: Envelope, topic: str, role: str, executor_group: str) -> list[tuple[str, KafkaRecord]]:
    """The seven poison records of one topic, as ``(poison kind, record)``; each key names the topic and kind."""

    def valid(name: str, **extra: Any) -> KafkaRecord:
        kind, record, address = _valid(role, f"poison-{role}-{name}", executor_group)
        return envelope.encode(kind, record, **address, **extra)

    def raw(name: str, headers: list[tuple[str, bytes]], value: bytes) -> KafkaRecord:
        return KafkaRecord(topic, f"poison-{role}-{name}".encode(), headers, value)

    schema = valid("schema")
    truncated = valid("truncated")
    oversized = valid("oversized")
    expired = valid("expired", ttl=1)
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC).isoformat().replace("+00:00", "Z").encode()
    duplicate = valid("duplicate")
    extra = []
    if role == "collaborations":
        # past its ttl too, but addressed to another agent: not this step runner's to act on, so no dead letter
        kind, record, _ = _valid(role, "poison-collaborations-elsewhere", executor_group)
        elsewhere = envelope.encode(kind, {**record, "agent_id": "executor-2"}, target_agent="executor-2", ttl=1)
        extra.append(
            (
                "elsewhere",
                KafkaRecord(topic, elsewhere.key, _replace(elsewhere.headers, "ce_time", old), elsewhere.value),
            )
        )
    return [
        *extra,
        ("random", raw("random", [], os.urandom(200))),
        ("json", raw("json", [("content-type", b"application/json")], json.dumps({"task_id": "x"}).encode())),
        ("schema", KafkaRecord(topic, schema.key, schema.headers, b"\x00\x7f\xff\xff\xf0" + schema.value[5:])),
        (
            "truncated",
            KafkaRecord(topic, truncated.key, truncated.headers, truncated.value[: len(truncated.value) // 2]),
        ),
        ("oversized", KafkaRecord(topic, oversized.key, oversized.headers, oversized.value + b"\x00" * MAX_BYTES)),
        ("expired", KafkaRecord(topic, expired.key, _replace(expired.headers, "ce_time", old), expired.value)),
        ("duplicate", duplicate),
        ("duplicate", duplicate),
    ]


def directory_poison(envelope: Envelope, topic: str) -> list[KafkaRecord]:
    """The same poison on the directory topic (its records are JSON CloudEvents, not Avro)."""
    valid = envelope.encode(KIND_TASK_REQUEST, _valid("requests", "poison-agents", "")[1])
    headers = [*valid.headers, ("ce_ttl", b"1")]
    card = json.dumps({"card": {"agentId": "mallory"}, "state": [1]}).encode()
    return [
        KafkaRecord(topic, b"poison-random", [], os.urandom(200)),
        KafkaRecord(topic, b"poison-json", [("content-type", b"application/json")], b'{"task_id": "x"}'),
        KafkaRecord(topic, b"poison-schema", valid.headers, b"\x00\x7f\xff\xff\xf0" + valid.value[5:]),
        KafkaRecord(topic, b"poison-truncated", valid.headers, valid.value[:9]),
        KafkaRecord(topic, b"poison-oversized", valid.headers, b"{" * (MAX_BYTES * 2)),
        KafkaRecord(topic, b"poison-expired", headers, valid.value),
        KafkaRecord(topic, b"poison-card", _replace(valid.headers, "ce_type", b"a2a.agent.register"), card),
    ]


def send(endpoints: Endpoints, records: list[KafkaRecord]) -> list[tuple[str, int, int]]:
    """Produces ``records`` in order; their ``(topic, partition, offset)``."""
    placed: list[tuple[str, int, int] | None] = [None] * len(records)
    producer = Producer({"bootstrap.servers": endpoints.kafka, "enable.idempotence": True})

    def report(index: int, error: Any, message: Any) -> None:
        assert error is None, error
        placed[index] = (message.topic(), message.partition(), message.offset())

    for index, record in enumerate(records):
        producer.produce(
            record.topic,
            record.value,
            record.key,
            headers=record.headers,
            on_delivery=lambda error, message, index=index: report(index, error, message),
        )
    assert producer.flush(30) == 0
    assert all(place is not None for place in placed)
    return [place for place in placed if place is not None]


def read_dead_letters(endpoints: Endpoints, topic: str, expected: int, patience: float) -> list[Any]:
    """The dead letters of ``topic``, read until ``expected`` came and no more for a while (or ``patience``)."""
    reader = Consumer(
        {"bootstrap.servers": endpoints.kafka, "group.id": f"dlq-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    reader.subscribe([topic])
    letters: list[Any] = []
    deadline = time.monotonic() + patience
    quiet = 0
    try:
        while time.monotonic() < deadline:
            message = reader.poll(0.5)
            if message is None:
                quiet += 1
                if len(letters) >= expected and quiet >= 6:  # 3 s with nothing more
                    break
                continue
            quiet = 0
            if message.error() is None:
                letters.append(message)
    finally:
        reader.close()
    return letters


def test_poison_on_every_topic_ends_in_the_dead_letters_and_no_agent_stops(mesh: Mesh, endpoints: Endpoints) -> None:
    protocol = ProtocolConfig(messages=MessageConfig(max_message_bytes=MAX_BYTES))
    events: Counter[tuple[str, str]] = Counter()
    """``(ce_id, event)`` of the poison records' observer events, over every agent."""
    sent: list[tuple[str, str, KafkaRecord]] = []
    placed: list[tuple[str, int, int]] = []
    runners: list[Agent] = []
    counted: dict[str, dict[str, Any]] = {}
    """Each agent's ``/status`` once stopped (its outputs flushed)."""

    def watch(agent: Agent) -> Agent:
        def note(event: str, message: Inbound | None) -> None:
            if message is not None and message.task_id.startswith("poison-"):
                events[(message.event_id, event)] += 1

        agent.observers.append(note)
        return agent

    async def scenario() -> None:
        executor = Executor(mesh.config("executor-1", protocol=protocol), HANDLERS)
        provider = Provider(mesh.config("provider-1", protocol=protocol), SKILLS)
        echo = A2AAgent(mesh.config("echo-1", protocol=protocol), EchoExecutor(), echo_card())
        requester = Requester(mesh.config("requester-1", protocol=protocol))
        agents: list[Agent] = [executor, provider, echo, requester]
        for agent in agents:
            watch(agent)
        await asyncio.gather(*(agent.start() for agent in agents))
        try:
            await asyncio.gather(*(agent.wait_assigned() for agent in agents))
            assert executor.steps is not None
            watch(executor.steps)
            await executor.steps.wait_assigned()

            def produce_poison() -> None:
                ensure_topics(endpoints.kafka, mesh.topics.all())
                with SchemaCatalog(endpoints.schema_registry, mesh.topics) as catalog:
                    catalog.register()
                    envelope = Envelope(catalog, mesh.topics, "poisoner")
                    for role in AGENT_TOPICS:
                        topic = getattr(mesh.topics, role)
                        for name, record in poison_for(envelope, topic, role, executor.group_id):
                            sent.append((role, name, record))
                    agents_topic = [("agents", "directory", r) for r in directory_poison(envelope, mesh.topics.agents)]
                placed.extend(send(endpoints, [record for *_, record in [*sent, *agents_topic]]))

            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, produce_poison)
            # Real work after the poison: every agent carries on.
            for number in range(3):
                outcome = await requester.request_task(
                    f"after poison {number}", 120.0, capability="summarize", max_wait=60
                )
                assert outcome.status == "COMPLETED", outcome
            directory = provider.mesh.router.directory if provider.mesh and provider.mesh.router else None
            assert directory is not None
            deadline = time.monotonic() + 30
            while directory.skipped < 7:
                assert time.monotonic() < deadline, f"the directory skipped {directory.skipped} of 7 poison records"
                await asyncio.sleep(0.2)
            assert directory.skipped == 7
            assert directory.is_agent_alive("executor-1") and directory.is_agent_alive("provider-1")
            for agent in agents:
                assert agent.failure is None and agent.is_running
            runners.append(executor.steps)
        finally:
            for agent in reversed(agents):
                await agent.stop()
            counted.update({f"{agent.role} {agent.agent_id}": agent.status() for agent in [*agents, *runners]})

    run_strict(scenario)

    dead_sent = [(role, name, record) for role, name, record in sent if name in DEAD]
    letters = read_dead_letters(endpoints, mesh.topics.dlq, len(dead_sent), 90)
    by_key = Counter(letter.key() for letter in letters)
    # Counts: every poison record that must be a dead letter is one exactly once, and nothing else is.
    assert len(letters) == len(dead_sent) == len(AGENT_TOPICS) * len(DEAD), sorted(by_key)
    assert set(by_key) == {record.key for *_, record in dead_sent}
    assert set(by_key.values()) == {1}
    assert sum(status["dead_letters"] for status in counted.values()) == len(dead_sent), {
        name: status["dead_letters"] for name, status in counted.items()
    }
    assert sum(status["duplicates"] for status in counted.values()) == len(AGENT_TOPICS)
    where = {record.key: place for (_, _, record), place in zip(sent, placed, strict=False)}
    for letter in letters:
        headers = {name: value or b"" for name, value in letter.headers() or []}
        role, name, record = next(item for item in dead_sent if item[2].key == letter.key())
        topic, partition, offset = where[record.key]
        stage, error_class = STAGES[name]
        assert (headers["dlq.stage"].decode(), headers["dlq.error.class"].decode()) == (stage, error_class), (
            role,
            name,
            headers,
        )
        assert headers["dlq.reason"], (role, name)
        assert headers["dlq.original.topic"].decode() == topic
        assert (int(headers["dlq.original.partition"]), int(headers["dlq.original.offset"])) == (partition, offset)
        assert (letter.key(), letter.value()) == (record.key, record.value)
        originals = [(key, value) for key, value in letter.headers() or [] if not key.startswith("dlq.")]
        assert originals == list(record.headers)
    # A repeated id is a duplicate, not a dead letter: its first copy handled, the second dropped.
    for role in AGENT_TOPICS:
        first, second = (record for kind, name, record in sent if kind == role and name == "duplicate")
        assert first == second
        event_id = dict(first.headers)["ce_id"].decode()
        assert (events[(event_id, "handled")], events[(event_id, "duplicate")]) == (1, 1), (role, events)
