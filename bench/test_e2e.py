"""End to end over the local Kafka: the agent runtime beside a plain confluent-kafka loop and FastStream, task
lifecycles, and request→completion latency under offered load. Results go to ``bench/results/e2e.json``.

Each case runs once (``benchmark.pedantic``, one round) on its own topic namespace; counts are bounded so
the whole file takes about two minutes on the 2-core machine, most of it FastStream answering one message at
a time. The rates in ``e2e.json`` are from each case's own clock (start-up and group joins left out), which
pytest-benchmark's time of the whole call is not.

* **relay**: ``N`` TaskRequest records are preloaded; a relay consumes, decodes, handles (builds a
  TaskResponse), encodes and produces each one, acknowledged (``acks=all``, idempotent producer). One case
  per implementation, all in the same run on the same record count: the agent runtime (``a2a_fast``); a
  plain confluent-kafka loop that consumes the records and produces each value again with its key and
  headers (no decoding, no envelope, flushing at the end); and FastStream's confluent broker as its docs
  show it, once with its default subscriber (one message at a time, each response published and
  acknowledged before the next) and once with its batch subscriber (``batch=True``) publishing a batch's
  responses concurrently. The FastStream handlers decode and encode with a2a_fast's own ``Envelope`` (the
  same native batch decoder and encoder the runtime uses), so the difference measured is the transport and
  the framework around the handler. Every case's output is read back before its figure is kept: each input
  answered exactly once, and for the relays each answer a TaskResponse to its request.
* **lifecycles**: provider, executor and requester in one process; tasks accepted at once with a handler that
  reports half way and returns, each one five records (request, ACCEPTED, 2 x RUNNING, COMPLETED).
* **latency**: the requester submits tasks paced to an offered load of 1k and 10k messages per second
  (five messages per task) and records each task's request→COMPLETED latency; with the default
  ``linger_ms=1`` and, at 1k msg/s, also with ``linger_ms=0`` (each hop sent without waiting for a batch).

Each agent gets a consumer group of its own (named after the case's topics), as it gets topics of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from faststream.confluent import KafkaBroker, KafkaMessage

from a2a_fast.agents.base import Agent, AgentConfig
from a2a_fast.agents.requester import Requester
from a2a_fast.protocol.envelope import Envelope, Inbound
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST, KIND_TASK_RESPONSE
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints, ensure_up
from a2a_fast.transport.admin import ensure_topics
from a2a_fast.transport.registry import SchemaCatalog
from bench.processes import stop
from bench.roles import ROLES, config, role_agent

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "e2e.json"
RELAY_MESSAGES = 50_000
RELAY_BATCH = 2000
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
            response_record(message, self.agent_id),
            target_agent=message.source_agent,
            event_id=message.event_id,
        )


def preload(endpoints: Endpoints, topics: TopicNames, count: int) -> dict[str, str]:
    """Writes ``count`` TaskRequest records; returns each one's ``ce_id`` by task id."""
    ensure_topics(endpoints.kafka, topics.all())
    event_ids = {}
    with SchemaCatalog(endpoints.schema_registry, topics) as catalog:
        catalog.register()
        envelope = Envelope(catalog, topics, "loader")
        producer = Producer({"bootstrap.servers": endpoints.kafka, "linger.ms": 5, "enable.idempotence": True})
        for n in range(count):
            task_id = f"task-{n}"
            event_id = event_ids[task_id] = uuid.uuid4().hex
            out = envelope.encode(
                KIND_TASK_REQUEST,
                {
                    "task_id": task_id,
                    "requester_id": "loader",
                    "description": "Summarise the quarterly report",
                    "capability": "summarize",
                    "proposed_cost": 100.0,
                    "priority": 1,
                    "parameters": {"language": "en"},
                    "timestamp": 1_700_000_000_000,
                },
                event_id=event_id,
            )
            while True:
                try:
                    producer.produce(out.topic, out.value, out.key, headers=out.headers)
                    break
                except BufferError:
                    producer.poll(0.1)
        assert producer.flush(60) == 0
    return event_ids


def response_record(inbound: Inbound, responder_id: str) -> dict[str, Any]:
    """The TaskResponse every relay answers a TaskRequest with."""
    return {
        "task_id": inbound.task_id,
        "responder_id": responder_id,
        "status": "ACCEPTED",
        "agreed_cost": inbound.record["proposed_cost"],
        "capability": inbound.record["capability"],
        "round": 0,
        "timestamp": inbound.record["timestamp"],
    }


def a2a_fast_relay(endpoints: Endpoints, topics: TopicNames, count: int) -> float:
    """The agent runtime answers ``count`` requests on ``topics.responses``; returns seconds."""

    async def relay() -> float:
        agent = Relay(config(endpoints, topics, "relay", max_in_flight=5000, batch_size=RELAY_BATCH), count)
        async with agent:
            await asyncio.wait_for(agent.done.wait(), 240)
            return agent.finished - agent.started

    return uvloop.run(relay())


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


class Stopwatch:
    """From the first record a handler sees until ``expected`` of them were answered."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.started = 0.0
        self.finished = 0.0
        self.error: ValueError | None = None
        self.done = asyncio.Event()

    def start(self) -> None:
        self.started = self.started or time.perf_counter()

    def answered(self, count: int) -> None:
        self.count += count
        if self.count >= self.expected and not self.done.is_set():
            self.finished = time.perf_counter()
            self.done.set()

    def failed(self, error: ValueError) -> None:
        """Stops the clock on a record that did not decode: the case fails with that error."""
        self.error = self.error or error
        self.done.set()


def faststream_relay(endpoints: Endpoints, topics: TopicNames, count: int, *, batch: bool) -> float:
    """FastStream's confluent broker answers ``count`` requests on ``topics.responses``; returns seconds.

    Written as FastStream's docs show it: a ``KafkaBroker``, a subscriber decorator and a publisher made by
    ``broker.publisher``, whose ``publish`` carries the key and headers and returns once the broker
    acknowledged the record. Settings are FastStream's defaults but for what the other relays also have:
    ``acks=all`` with idempotence, batches of ``RELAY_BATCH`` records for the batch subscriber, a consumer
    group of the case's own reading from the earliest offset, and per-message logs at DEBUG (the broker's
    documented switch; the agent runtime logs nothing per record either). ``linger.ms`` stays at
    FastStream's 0: with one response in flight at a time, the others' 1 ms would be added to every
    message. Offsets are committed the default way (``AckPolicy.ACK_FIRST``: the client's auto-commit), a
    weaker guarantee and less work than the runtime's commit after handling. The handlers skip the size and
    age limits the runtime checks.

    The batch variant publishes a batch's responses concurrently, each with ``publish``: FastStream's
    batch publisher (``broker.publisher(..., batch=True)``, ``publish_batch``) sends one set of headers for
    the whole batch and drops the per-message headers of ``KafkaPublishMessage`` (FastStream 0.7.8), so it
    cannot write one CloudEvent per record.
    """

    async def relay() -> float:
        broker = KafkaBroker(endpoints.kafka, acks="all", enable_idempotence=True, log_level=logging.DEBUG)
        responses = broker.publisher(topics.responses)
        catalog = SchemaCatalog(endpoints.schema_registry, topics)
        catalog.register()
        envelope = Envelope(catalog, topics, "relay")
        clock = Stopwatch(count)

        async def answer(inbound: Inbound | ValueError) -> None:
            if isinstance(inbound, ValueError):
                clock.failed(inbound)
                return
            record = envelope.encode(
                KIND_TASK_RESPONSE,
                response_record(inbound, envelope.agent_id),
                target_agent=inbound.source_agent,
                event_id=inbound.event_id,
            )
            await responses.publish(
                record.value, key=record.key, headers={name: value.decode() for name, value in record.headers}
            )

        group = f"{topics.prefix}faststream"
        if batch:

            @broker.subscriber(
                topics.requests, group_id=group, auto_offset_reset="earliest", batch=True, max_records=RELAY_BATCH
            )
            async def relay_batch(body: list[bytes], msg: KafkaMessage) -> None:
                clock.start()
                await asyncio.gather(*(answer(inbound) for inbound in envelope.decode_many(msg.raw_message)))
                clock.answered(len(body))

        else:

            @broker.subscriber(topics.requests, group_id=group, auto_offset_reset="earliest")
            async def relay_one(body: bytes, msg: KafkaMessage) -> None:
                clock.start()
                await answer(envelope.decode_many([msg.raw_message])[0])
                clock.answered(1)

        try:
            async with broker:
                await broker.start()
                await asyncio.wait_for(clock.done.wait(), 240)
        finally:
            catalog.close()
        if clock.error is not None:
            raise clock.error
        return clock.finished - clock.started

    return uvloop.run(relay())


def check_answers(
    endpoints: Endpoints, topics: TopicNames, topic: str, event_ids: dict[str, str], *, responses: bool
) -> dict[str, float]:
    """Reads ``topic`` to its end and asserts it holds one answer per request, nothing more.

    With ``responses`` each answer must be a TaskResponse to its request (key and ``task_id`` the
    request's, ``ce_id`` the request's ``ce_id``); the plain loop's answers are copies of the requests.
    Returns the mean value and header sizes in bytes.
    """
    consumer = Consumer(
        {"bootstrap.servers": endpoints.kafka, "group.id": f"check-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    partitions = consumer.list_topics(topic, 15).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), 15) for p in partitions}
    consumer.assign([TopicPartition(topic, p, low) for p, (low, high) in ends.items() if high > low])
    remaining = {p: high for p, (low, high) in ends.items() if high > low}
    records: list[Any] = []
    deadline = time.monotonic() + 60
    try:
        while remaining and time.monotonic() < deadline:
            for message in consumer.consume(5000, 1.0):
                assert message.error() is None, message.error()
                records.append(message)
                if message.offset() + 1 >= remaining.get(message.partition(), 0):
                    remaining.pop(message.partition(), None)
    finally:
        consumer.close()
    assert not remaining, f"{topic} was not read to its end in 60 s"
    keys = sorted(message.key().decode() for message in records)
    assert keys == sorted(event_ids), f"{len(records)} answers for {len(event_ids)} requests, or other keys"
    if responses:
        with SchemaCatalog(endpoints.schema_registry, topics) as catalog:
            catalog.register()
            envelope = Envelope(catalog, topics, "checker")
            for message, inbound in zip(records, envelope.decode_many(records), strict=True):
                assert not isinstance(inbound, ValueError), inbound
                assert inbound.kind == KIND_TASK_RESPONSE, f"{inbound.task_id} answered with a {inbound.kind}"
                assert inbound.task_id == message.key().decode(), f"key {message.key()!r} on {inbound.task_id}"
                assert inbound.event_id == event_ids[inbound.task_id], f"{inbound.task_id} answered another ce_id"
    return {
        "value_bytes": round(sum(len(message.value()) for message in records) / len(records), 1),
        "header_bytes": round(
            sum(len(name) + len(value or b"") for message in records for name, value in message.headers() or ())
            / len(records),
            1,
        ),
    }


RELAY_IMPLS = ("a2a_fast", "plain_confluent_kafka", "faststream", "faststream_batch")


@pytest.fixture
def runtime_gc() -> Iterator[None]:
    """The collector threshold the agent runtime raises the process's to, for every relay case alike.

    The runtime raises it when an agent starts and leaves it; without this, a case's figure would depend
    on whether an agent ran before it in the process (FastStream's batch relay moves about 1.5x with it).
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], AgentConfig.gc_threshold or 0), *before[1:])
    yield
    gc.set_threshold(*before)


@pytest.mark.parametrize("impl", RELAY_IMPLS)
@pytest.mark.usefixtures("runtime_gc")
@pytest.mark.timeout(300)
def test_relay_throughput(benchmark: Any, endpoints: Endpoints, topics: TopicNames, impl: str) -> None:
    benchmark.group = "e2e relay"
    benchmark.extra_info.update(impl=impl, items=RELAY_MESSAGES)
    event_ids = preload(endpoints, topics, RELAY_MESSAGES)
    runs = {
        "a2a_fast": (topics.responses, lambda: a2a_fast_relay(endpoints, topics, RELAY_MESSAGES)),
        "plain_confluent_kafka": (
            topics.negotiations,
            lambda: plain_loop(endpoints, topics.requests, topics.negotiations, RELAY_MESSAGES),
        ),
        "faststream": (topics.responses, lambda: faststream_relay(endpoints, topics, RELAY_MESSAGES, batch=False)),
        "faststream_batch": (
            topics.responses,
            lambda: faststream_relay(endpoints, topics, RELAY_MESSAGES, batch=True),
        ),
    }
    target, run = runs[impl]
    seconds = benchmark.pedantic(run, rounds=1, iterations=1)
    sizes = check_answers(endpoints, topics, target, event_ids, responses=impl != "plain_confluent_kafka")
    relay = _results.setdefault("relay", {"messages": RELAY_MESSAGES, "msgs_per_s": {}, "bytes_per_answer": {}})
    relay["msgs_per_s"][impl] = round(RELAY_MESSAGES / seconds)
    relay["bytes_per_answer"][impl] = sizes
    rates = relay["msgs_per_s"]
    if "a2a_fast" in rates:
        relay["ratio_a2a_fast_to"] = {
            other: round(rates["a2a_fast"] / rate, 3) for other, rate in rates.items() if other != "a2a_fast"
        }
    _save()


def mesh(endpoints: Endpoints, topics: TopicNames, **overrides: Any) -> list[Agent]:
    return [role_agent(role, endpoints, topics, **overrides) for role in ROLES]


def records_on(endpoints: Endpoints, topics: list[str]) -> int:
    """How many records ``topics`` hold (their partitions' end offsets added up)."""
    admin = AdminClient({"bootstrap.servers": endpoints.kafka})
    consumer = Consumer({"bootstrap.servers": endpoints.kafka, "group.id": f"bench-count-{uuid.uuid4().hex}"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                total = 0
                for topic in topics:
                    for number in admin.list_topics(topic, timeout=15).topics[topic].partitions:
                        total += consumer.get_watermark_offsets(TopicPartition(topic, number), 15)[1]
                return total
            except KafkaException:  # topics just created: their leaders may not be known yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()


def measure_lifecycles(
    benchmark: Any, endpoints: Endpoints, topics: TopicNames, impl: str, roles_here: tuple[str, ...]
) -> dict[str, float]:
    """``LIFECYCLES`` tasks requested at once by a requester in this process, beside agents of ``roles_here``
    (the others run elsewhere, ready); the clock runs from the first request until every outcome came."""
    benchmark.group = "e2e lifecycles"
    benchmark.extra_info.update(impl=impl, items=LIFECYCLES)

    async def lifecycles() -> tuple[float, list[str]]:
        agents = [role_agent(role, endpoints, topics) for role in roles_here]
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

    lifecycle_topics = [topics.requests, topics.negotiations, topics.responses]
    ensure_topics(endpoints.kafka, lifecycle_topics)
    before = records_on(endpoints, lifecycle_topics)
    seconds, statuses = benchmark.pedantic(lambda: uvloop.run(lifecycles()), rounds=1, iterations=1)
    assert statuses == ["COMPLETED"] * LIFECYCLES
    written = records_on(endpoints, lifecycle_topics) - before
    assert written == LIFECYCLES * MESSAGES_PER_TASK, f"{written} records for {LIFECYCLES} lifecycles"
    return {
        "tasks": LIFECYCLES,
        "lifecycles_per_s": round(LIFECYCLES / seconds, 1),
        "messages_per_s": round(LIFECYCLES * MESSAGES_PER_TASK / seconds),
    }


def test_task_lifecycles_per_second(benchmark: Any, endpoints: Endpoints, topics: TopicNames) -> None:
    _results["lifecycles"] = measure_lifecycles(benchmark, endpoints, topics, "a2a_fast", ROLES)
    _save()


def test_task_lifecycles_per_second_each_role_in_its_own_process(
    benchmark: Any, endpoints: Endpoints, topics: TopicNames
) -> None:
    """The same lifecycles with the provider and the executor each in a process of its own (``bench/roles.py``)
    and the requester in this one, as a mesh is deployed."""
    ensure_topics(endpoints.kafka, list(topics.all()))
    command = [sys.executable, "-m", "bench.roles"]
    where = [endpoints.kafka, endpoints.schema_registry, topics.prefix]
    roles = [subprocess.Popen([*command, role, *where], cwd=REPO, stdout=subprocess.PIPE, text=True) for role in ROLES]
    try:
        for process in roles:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "READY", f"{process.args} did not start"
        figures = measure_lifecycles(benchmark, endpoints, topics, "a2a_fast_processes", ())
    finally:
        stop(roles)
    _results["lifecycles_each_role_in_its_own_process"] = figures
    _save()


PLAIN_VALUE_BYTES = 400  # about a TaskRequest's Avro body and CloudEvents headers together


def plain_chain(
    endpoints: Endpoints, topics: TopicNames, tasks_per_second: float, count: int, linger_ms: int
) -> list[float]:
    """The three hops on a task's critical path in plain confluent-kafka, each its own thread; sorted latencies.

    Caller → ``requests`` → hop 1 (the provider's place) → ``negotiations`` → hop 2 (the executor's place) →
    three records (two RUNNING and the outcome, five records per task as in the mesh) → ``responses`` → the
    caller, who times each task to its last record. Producers as the agents' (``acks=all``, idempotent, the
    same ``linger.ms``); each reader takes what is ready, else waits for the first record, as the runtime's
    fetch does. No decoding, no envelope, no state: what the broker and the client cost alone, paced like
    the agents' case on the same machine a moment later.
    """
    ensure_topics(endpoints.kafka, [topics.requests, topics.negotiations, topics.responses])
    kafka = {"bootstrap.servers": endpoints.kafka}
    producing = {**kafka, "linger.ms": linger_ms, "enable.idempotence": True, "acks": "all"}

    def reader(topic: str) -> Consumer:
        consumer = Consumer({**kafka, "group.id": f"plain-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])
        return consumer

    def records(consumer: Consumer) -> list[Any]:
        first = consumer.poll(0.05)
        if first is None:
            return []
        return [message for message in (first, *consumer.consume(500, 0)) if message.error() is None]

    stop = threading.Event()
    readers = {topic: reader(topic) for topic in (topics.requests, topics.negotiations, topics.responses)}

    def hop(source: str, target: str, fanout: int) -> None:
        producer = Producer(producing)
        while not stop.is_set():
            for message in records(readers[source]):
                for answer in range(fanout):
                    producer.produce(target, message.value() + bytes([answer, fanout]), message.key())
            producer.poll(0)
        producer.flush(10)

    caller = Producer(producing)
    latencies: list[float] = []

    def collect() -> None:
        while not stop.is_set():
            for message in records(readers[topics.responses]):
                value = message.value()
                if value[-2] == value[-1] - 1:  # the last of a task's three answers: its outcome
                    latencies.append(time.perf_counter() - struct.unpack_from("<d", value)[0])

    def call(task: int) -> None:
        value = struct.pack("<d", time.perf_counter()).ljust(PLAIN_VALUE_BYTES, b".")
        caller.produce(topics.requests, value, b"%d" % task)
        caller.poll(0)

    def wait_for(expected: int, patience: float) -> None:
        deadline = time.monotonic() + patience
        while len(latencies) < expected and time.monotonic() < deadline:
            time.sleep(0.01)

    threads = [
        threading.Thread(target=hop, args=(topics.requests, topics.negotiations, 1), daemon=True),
        threading.Thread(target=hop, args=(topics.negotiations, topics.responses, 3), daemon=True),
        threading.Thread(target=collect, daemon=True),
    ]
    try:
        for thread in threads:
            thread.start()
        # warm-up, as in the agents' case: every reader has its partitions and one task went through
        call(-1)
        wait_for(1, 60)
        assert latencies, "the plain chain did not answer its warm-up task within 60 s"
        latencies.clear()
        started = time.perf_counter()
        for task in range(count):
            delay = started + task / tasks_per_second - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            call(task)
        wait_for(count, 120)
        assert len(latencies) == count, f"the plain chain answered {len(latencies)} of {count} tasks"
        return sorted(latencies)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        caller.flush(10)
        for consumer in readers.values():
            consumer.close()
        deleted = AdminClient(kafka).delete_topics([topics.requests, topics.negotiations, topics.responses])
        for future in deleted.values():
            with contextlib.suppress(Exception):
                future.result(15)


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
    plain = plain_chain(endpoints, TopicNames(f"{topics.prefix}plain."), tasks_per_second, count, linger_ms)
    name = f"latency_{offered}_msgs_per_s" + ("" if linger_ms == 1 else f"_linger_{linger_ms}_ms")
    _results[name] = {
        "offered_msgs_per_s": offered,
        "linger_ms": linger_ms,
        "tasks": count,
        **percentiles(latencies),
        "plain_confluent_kafka": percentiles(plain),
    }
    _save()


def percentiles(latencies: list[float]) -> dict[str, float]:
    """p50, p99 and the maximum of sorted latencies in seconds, as milliseconds."""

    def ms(q: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    return {"p50_ms": ms(0.50), "p99_ms": ms(0.99), "max_ms": round(1000 * latencies[-1], 2)}


def _save() -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**previous, **_results}, indent=2, sort_keys=True) + "\n")
