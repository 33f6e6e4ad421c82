"""End to end over the local Kafka: the agent runtime beside a plain confluent-kafka loop, task lifecycles,
and request→completion latency under offered load. Results go to ``bench/results/e2e.json``.

Each case runs once (``benchmark.pedantic``, one round) on its own topic namespace; counts are bounded so
the whole file takes well under a minute on the 2-core machine.

* **relay**: ``N`` TaskRequest records are preloaded; an agent consumes, decodes, handles (builds a
  TaskResponse), encodes and produces each one, acknowledged (``acks=all``). The baseline in the same run
  consumes the same records and produces the same number of bytes with a plain confluent-kafka loop
  (no decoding, no envelope), flushing at the end.
* **lifecycles**: provider, executor and requester in one process; tasks accepted at once with a no-op
  handler, each one five records (request, ACCEPTED, 2 x RUNNING, COMPLETED).
* **latency**: the requester submits tasks paced to an offered load of 1k and 10k messages per second
  (five messages per task) and records each task's request→COMPLETED latency; with the default
  ``linger_ms=1`` and, at 1k msg/s, also with ``linger_ms=0`` (each hop sent without waiting for a batch).

Each agent gets a consumer group of its own (named after the case's topics), as it gets topics of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from a2a_fast.agents.base import Agent, AgentConfig
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.agents.tasks import TaskContext
from a2a_fast.protocol.catalog import SchemaCatalog
from a2a_fast.protocol.envelope import Envelope, Inbound
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST, KIND_TASK_RESPONSE
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints, ensure_up
from a2a_fast.transport.admin import ensure_topics

RESULTS = Path(__file__).resolve().parent / "results" / "e2e.json"
RELAY_MESSAGES = 50_000
LIFECYCLES = 1_000
MESSAGES_PER_TASK = 5
_results: dict[str, Any] = {}


@pytest.fixture(scope="module")
def endpoints() -> Endpoints:
    found, _ = ensure_up()
    return found


@pytest.fixture
def topics(endpoints: Endpoints) -> Iterator[TopicNames]:
    names = TopicNames(f"bench-{uuid.uuid4().hex[:8]}.")
    yield names
    for future in AdminClient({"bootstrap.servers": endpoints.kafka}).delete_topics(list(names.all())).values():
        with contextlib.suppress(Exception):  # a topic the case never created
            future.result(15)


def config(endpoints: Endpoints, topics: TopicNames, agent_id: str, **overrides: Any) -> AgentConfig:
    # consumer groups of the case's own, as its topics are: a shared group name would be rebalanced by
    # whoever else runs agents of that role on the same broker
    overrides.setdefault("group_id", f"{topics.prefix}{agent_id}")
    return AgentConfig(agent_id, endpoints.kafka, endpoints.schema_registry, topics=topics, **overrides)


class Relay(Agent):
    """Answers every TaskRequest with a TaskResponse: the runtime's full path with a trivial handler.

    The clock runs from the first record handed to the handler until the last record counts as handled,
    i.e. its response was acknowledged by the broker (the observer is told only then).
    """

    role = "relay"

    def __init__(self, cfg: AgentConfig, expected: int) -> None:
        super().__init__(cfg)
        self.expected = expected
        self.done = asyncio.Event()
        self.count = 0
        self.started = 0.0
        self.finished = 0.0
        self.observers.append(self._handled)

    def _handled(self, event: str, _message: Inbound | None) -> None:
        if event == "handled":
            self.count += 1
            if self.count == self.expected:
                self.finished = time.perf_counter()
                self.done.set()

    def subscriptions(self) -> list[str]:
        return [self.topics.requests]

    async def handle(self, message: Inbound) -> None:
        self.started = self.started or time.perf_counter()
        await self.publish(
            KIND_TASK_RESPONSE,
            {
                "task_id": message.task_id,
                "responder_id": self.agent_id,
                "status": "ACCEPTED",
                "agreed_cost": message.record["proposed_cost"],
                "capability": message.record["capability"],
                "round": 0,
                "timestamp": message.record["timestamp"],
            },
            target_agent=message.source_agent,
            event_id=message.event_id,
        )


def preload(endpoints: Endpoints, topics: TopicNames, count: int) -> int:
    """Writes ``count`` TaskRequest records; returns their total value size in bytes."""
    ensure_topics(endpoints.kafka, topics.all())
    with SchemaCatalog(endpoints.schema_registry, topics) as catalog:
        catalog.register()
        envelope = Envelope(catalog, topics, "loader")
        producer = Producer({"bootstrap.servers": endpoints.kafka, "linger.ms": 5, "enable.idempotence": True})
        total = 0
        for n in range(count):
            out = envelope.encode(
                KIND_TASK_REQUEST,
                {
                    "task_id": f"task-{n}",
                    "requester_id": "loader",
                    "description": "Summarise the quarterly report",
                    "capability": "summarize",
                    "proposed_cost": 100.0,
                    "priority": 1,
                    "parameters": {"language": "en"},
                    "timestamp": 1_700_000_000_000,
                },
            )
            total += len(out.value)
            while True:
                try:
                    producer.produce(out.topic, out.value, out.key, headers=out.headers)
                    break
                except BufferError:
                    producer.poll(0.1)
        assert producer.flush(60) == 0
    return total


def plain_loop(endpoints: Endpoints, source: str, target: str, count: int) -> float:
    """Consume ``count`` records and produce each value again: the baseline; returns seconds."""
    consumer = Consumer(
        {"bootstrap.servers": endpoints.kafka, "group.id": f"plain-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    producer = Producer(
        {"bootstrap.servers": endpoints.kafka, "linger.ms": 1, "enable.idempotence": True, "acks": "all"}
    )
    consumer.subscribe([source])
    moved = 0
    started = 0.0
    try:
        while moved < count:
            batch = consumer.consume(500, 1.0)
            if batch and not started:
                started = time.perf_counter()
            for message in batch:
                if message.error() is not None:
                    continue
                while True:
                    try:
                        producer.produce(target, message.value(), message.key(), headers=message.headers())
                        break
                    except BufferError:
                        producer.poll(0.01)
                moved += 1
            producer.poll(0)
        assert producer.flush(60) == 0
        consumer.commit(asynchronous=False)
        return time.perf_counter() - started
    finally:
        consumer.close()


def test_relay_throughput_beside_plain_loop(benchmark: Any, endpoints: Endpoints, topics: TopicNames) -> None:
    benchmark.group = "e2e relay"
    benchmark.extra_info.update(impl="a2a_fast", items=RELAY_MESSAGES)
    size = preload(endpoints, topics, RELAY_MESSAGES)

    async def relay() -> float:
        agent = Relay(config(endpoints, topics, "relay", max_in_flight=5000, batch_size=2000), RELAY_MESSAGES)
        async with agent:
            await asyncio.wait_for(agent.done.wait(), 120)
            return agent.finished - agent.started

    agent_seconds = benchmark.pedantic(lambda: uvloop.run(relay()), rounds=1, iterations=1)
    plain_seconds = plain_loop(endpoints, topics.requests, topics.negotiations, RELAY_MESSAGES)
    _results["relay"] = {
        "messages": RELAY_MESSAGES,
        "bytes_per_message": round(size / RELAY_MESSAGES, 1),
        "agent_runtime_msgs_per_s": round(RELAY_MESSAGES / agent_seconds),
        "plain_confluent_kafka_msgs_per_s": round(RELAY_MESSAGES / plain_seconds),
        "ratio_to_plain": round(plain_seconds / agent_seconds, 3),
    }
    _save()


async def noop(task: TaskContext) -> str:
    return task.task_id


def mesh(endpoints: Endpoints, topics: TopicNames, **overrides: Any) -> list[Agent]:
    return [
        Provider(config(endpoints, topics, "provider", max_in_flight=4000, **overrides), {"summarize": 1.0}),
        Executor(
            config(endpoints, topics, "executor", max_in_flight=4000, **overrides), {"summarize": noop}, max_tasks=2000
        ),
    ]


def test_task_lifecycles_per_second(benchmark: Any, endpoints: Endpoints, topics: TopicNames) -> None:
    benchmark.group = "e2e lifecycles"
    benchmark.extra_info.update(impl="a2a_fast", items=LIFECYCLES)

    async def lifecycles() -> tuple[float, list[str]]:
        agents = mesh(endpoints, topics)
        requester = Requester(config(endpoints, topics, "requester", max_in_flight=4000))
        for agent in (*agents, requester):
            await agent.start()
        try:
            await asyncio.gather(*(agent.wait_assigned() for agent in (*agents, requester)))
            started = time.perf_counter()
            outcomes = await asyncio.gather(
                *(requester.request_task("t", 5.0, capability="summarize", max_wait=120) for _ in range(LIFECYCLES))
            )
            return time.perf_counter() - started, [outcome.status for outcome in outcomes]
        finally:
            for agent in (requester, *agents):
                await agent.stop()

    seconds, statuses = benchmark.pedantic(lambda: uvloop.run(lifecycles()), rounds=1, iterations=1)
    assert statuses == ["COMPLETED"] * LIFECYCLES
    _results["lifecycles"] = {
        "tasks": LIFECYCLES,
        "lifecycles_per_s": round(LIFECYCLES / seconds, 1),
        "messages_per_s": round(LIFECYCLES * MESSAGES_PER_TASK / seconds),
    }
    _save()


@pytest.mark.parametrize(("offered", "linger_ms"), [(1_000, 1), (10_000, 1), (1_000, 0)])
def test_latency_under_offered_load(
    benchmark: Any, endpoints: Endpoints, topics: TopicNames, offered: int, linger_ms: int
) -> None:
    benchmark.group = f"e2e latency {offered} msg/s, linger.ms {linger_ms}"
    tasks_per_second = offered / MESSAGES_PER_TASK
    count = int(tasks_per_second * (3 if offered <= 1000 else 1))
    benchmark.extra_info.update(impl="a2a_fast", items=count)

    async def paced() -> list[float]:
        agents = mesh(endpoints, topics, linger_ms=linger_ms)
        requester = Requester(config(endpoints, topics, "requester", max_in_flight=4000, linger_ms=linger_ms))
        for agent in (*agents, requester):
            await agent.start()
        try:
            await asyncio.gather(*(agent.wait_assigned() for agent in (*agents, requester)))
            # warm-up: first fetches and schema look-ups are not part of the steady state
            await requester.request_task("warm", 5.0, capability="summarize", max_wait=60)
            pending = []
            started = time.perf_counter()
            for n in range(count):
                due = started + n / tasks_per_second
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(
                    asyncio.ensure_future(requester.request_task("t", 5.0, capability="summarize", max_wait=120))
                )
            outcomes = await asyncio.gather(*pending)
            assert [outcome.status for outcome in outcomes] == ["COMPLETED"] * count
            return sorted(outcome.latency for outcome in outcomes)
        finally:
            for agent in (requester, *agents):
                await agent.stop()

    latencies = benchmark.pedantic(lambda: uvloop.run(paced()), rounds=1, iterations=1)

    def ms(q: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    name = f"latency_{offered}_msgs_per_s" + ("" if linger_ms == 1 else f"_linger_{linger_ms}_ms")
    _results[name] = {
        "offered_msgs_per_s": offered,
        "linger_ms": linger_ms,
        "tasks": count,
        "p50_ms": ms(0.50),
        "p99_ms": ms(0.99),
        "max_ms": round(1000 * latencies[-1], 2),
    }
    _save()


def _save() -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**previous, **_results}, indent=2, sort_keys=True) + "\n")
