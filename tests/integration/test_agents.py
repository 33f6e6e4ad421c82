"""Requester, provider and executor agents on the real broker and registry, each test on its own topics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from a2a_fast.agents.base import AgentConfig, pool_group
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.policies import BudgetPolicy
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.agents.tasks import TaskContext
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST, KIND_TASK_RESPONSE
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints
from a2a_fast.transport.log import replay
from a2a_fast.transport.registry import SchemaCatalog
from tests.scenarios import run_strict

SKILLS = {"summarize": 100.0, "translate": 60.0, "classify": 40.0, "analyze": 80.0}


@contextlib.contextmanager
def fresh_mesh(endpoints: Endpoints) -> Iterator[Mesh]:
    """A mesh on a fresh topic namespace; its topics are deleted afterwards."""
    names = TopicNames(f"t-{uuid.uuid4().hex[:10]}.")
    try:
        yield Mesh(endpoints, names)
    finally:
        admin = AdminClient({"bootstrap.servers": endpoints.kafka})
        for future in admin.delete_topics([*names.all(), names.agents, names.messages], operation_timeout=10).values():
            with contextlib.suppress(Exception):  # a topic the test never created
                future.result(15)


class Mesh:
    """Builds agent configs for one test's namespace."""

    def __init__(self, endpoints: Endpoints, topics: TopicNames) -> None:
        self.endpoints = endpoints
        self.topics = topics

    def config(self, agent_id: str, **overrides: Any) -> AgentConfig:
        return AgentConfig(
            agent_id, self.endpoints.kafka, self.endpoints.schema_registry, topics=self.topics, **overrides
        )

    def log(self, topic: str) -> list[Inbound]:
        """Every decodable message of ``topic``, read from the start."""
        catalog = SchemaCatalog(self.endpoints.schema_registry, self.topics)
        try:
            catalog.register()
            return list(replay(self.endpoints.kafka, catalog, self.topics, topics=[topic]))
        finally:
            catalog.close()


@pytest.fixture
def mesh(endpoints: Endpoints) -> Iterator[Mesh]:
    with fresh_mesh(endpoints) as fresh:
        yield fresh


async def demo_work(task: TaskContext) -> dict[str, Any]:
    await task.progress(0.5, "half-way")
    if task.parameters.get("fail") == "true":
        raise RuntimeError("input data is corrupt")
    return {"echo": task.description}


HANDLERS = {name: demo_work for name in SKILLS}


def test_full_lifecycle(mesh: Mesh) -> None:
    async def scenario() -> None:
        async with (
            Provider(mesh.config("provider-1"), SKILLS),
            Executor(mesh.config("executor-1"), HANDLERS),
            Requester(mesh.config("requester-1")) as requester,
        ):
            assert isinstance(requester, Requester)
            outcome = await requester.request_task("Summarise the report", 120.0, capability="summarize", max_wait=60)
            assert outcome.status == "COMPLETED", outcome
            assert (outcome.rounds, outcome.agreed_cost, outcome.result) == (0, 120.0, {"echo": "Summarise the report"})
            assert (outcome.provider, outcome.executor) == ("provider-1", "executor-1")
            assert requester.get_pending_requests() == []

        states = [m.record["status"] for m in mesh.log(mesh.topics.responses) if m.task_id == outcome.task_id]
        assert states == ["ACCEPTED", "RUNNING", "RUNNING", "COMPLETED"]

    run_strict(scenario)


def test_records_are_cloudevents_in_wire_format(mesh: Mesh, endpoints: Endpoints) -> None:
    async def scenario() -> str:
        async with Requester(mesh.config("requester-1")) as requester:
            assert isinstance(requester, Requester)
            return await requester.submit("Classify the tickets", 10.0, capability="classify")

    task_id = run_strict(scenario)
    consumer = Consumer(
        {"bootstrap.servers": endpoints.kafka, "group.id": f"check-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([mesh.topics.requests])
    try:
        message = None
        for _ in range(30):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None
        headers = {name: (value or b"").decode() for name, value in message.headers() or []}
        value = message.value() or b""
    finally:
        consumer.close()
    catalog = SchemaCatalog(endpoints.schema_registry, mesh.topics)
    try:
        registered = catalog._client.get_latest_version(f"{mesh.topics.requests}-value").schema_id
    finally:
        catalog.close()
    assert message.key() == task_id.encode()
    assert headers["ce_specversion"] == "1.0" and headers["ce_type"] == KIND_TASK_REQUEST
    assert headers["ce_source"] == "a2a://agents/requester-1" and headers["ce_sourceagent"] == "requester-1"
    assert headers["ce_protocol"] == "A2A" and headers["ce_messagetype"] == "TaskRequest"
    assert headers["content-type"] == "application/avro" and headers["ce_collaborationid"] == task_id
    assert headers["ce_dataschema"].endswith(f"/schemas/ids/{registered}?subject={mesh.topics.requests}-value")
    assert headers["ce_traceparent"].startswith("00-") and headers["ce_id"]
    assert value[0] == 0 and int.from_bytes(value[1:5], "big") == registered


def test_multi_round_negotiation(mesh: Mesh) -> None:
    async def scenario() -> None:
        async with (
            Provider(mesh.config("provider-1"), SKILLS),
            Executor(mesh.config("executor-1"), HANDLERS),
            Requester(mesh.config("requester-1"), BudgetPolicy(max_rounds=4)) as requester,
        ):
            assert isinstance(requester, Requester)
            # minimum 60, asks 90 then 75; the requester offers 20, then 55, then accepts 75
            outcome = await requester.request_task(
                "Translate the notes", 20.0, capability="translate", budget=75.0, max_wait=60
            )
        assert outcome.status == "COMPLETED", outcome
        assert (outcome.rounds, outcome.agreed_cost) == (2, 75.0)
        turns = [(m.record["action"], m.record["offer"]) for m in mesh.log(mesh.topics.negotiations)]
        assert turns == [("COUNTER", 55.0), ("ACCEPT", 75.0)]

    run_strict(scenario)


def test_rejections(mesh: Mesh) -> None:
    async def scenario() -> None:
        async with (
            Provider(mesh.config("provider-1"), SKILLS),
            Requester(mesh.config("requester-1"), BudgetPolicy(max_rounds=3)) as requester,
        ):
            assert isinstance(requester, Requester)
            missing, stingy = await asyncio.gather(
                requester.request_task("Teleport the crate", 500.0, capability="teleport", max_wait=60),
                requester.request_task("Classify tickets", 5.0, capability="classify", budget=20.0, max_wait=60),
            )
        assert missing.status == "REJECTED" and "no live provider offers capability 'teleport'" in (missing.error or "")
        assert stingy.status == "REJECTED" and stingy.rounds == 3 and "gave up after 3 rounds" in (stingy.error or "")
        assert requester.get_pending_requests() == []

    run_strict(scenario)


def test_execution_failure(mesh: Mesh) -> None:
    async def scenario() -> None:
        async with (
            Provider(mesh.config("provider-1"), SKILLS),
            Executor(mesh.config("executor-1"), HANDLERS),
            Requester(mesh.config("requester-1")) as requester,
        ):
            assert isinstance(requester, Requester)
            outcome = await requester.request_task(
                "Analyze the export", 90.0, capability="analyze", parameters={"fail": "true"}, max_wait=60
            )
        assert outcome.status == "FAILED"
        assert outcome.error == "RuntimeError: input data is corrupt"
        assert outcome.executor == "executor-1"

    run_strict(scenario)


def test_two_providers_three_executors_run_each_task_once(mesh: Mesh) -> None:
    effects: Counter[str] = Counter()

    async def count(task: TaskContext) -> str:
        effects[task.task_id] += 1
        await asyncio.sleep(0.01)  # work that takes a moment, so tasks overlap on each executor
        return task.task_id

    handlers = {"summarize": count}

    async def scenario() -> None:
        agents = [
            Provider(mesh.config("provider-1"), SKILLS),
            Provider(mesh.config("provider-2"), SKILLS),
            *(Executor(mesh.config(f"executor-{n}"), handlers, max_tasks=4) for n in range(3)),
        ]
        for agent in agents:
            await agent.start()
        try:
            async with Requester(mesh.config("requester-1")) as requester:
                assert isinstance(requester, Requester)
                outcomes = await asyncio.gather(
                    *(
                        requester.request_task(f"task {n}", 150.0, capability="summarize", max_wait=90)
                        for n in range(40)
                    )
                )
        finally:
            for agent in agents:
                await agent.stop()
        assert [outcome.status for outcome in outcomes] == ["COMPLETED"] * 40
        assert sorted(effects) == sorted(outcome.task_id for outcome in outcomes)
        assert set(effects.values()) == {1}
        completed = Counter(m.task_id for m in mesh.log(mesh.topics.responses) if m.record["status"] == "COMPLETED")
        assert set(completed.values()) == {1} and len(completed) == 40

    run_strict(scenario)


def test_garbage_goes_to_the_dead_letter_topic_and_agents_carry_on(mesh: Mesh, endpoints: Endpoints) -> None:
    garbage = [
        (mesh.topics.requests, b"k1", None, b"\x00\x01garbage"),
        (mesh.topics.negotiations, b"k2", [("ce_id", b"x")], b"not avro at all"),
        (
            mesh.topics.responses,
            b"k3",
            [
                ("ce_specversion", b"1.0"),
                ("ce_id", b"e3"),
                ("ce_source", b"a2a://agents/mallory"),
                ("ce_type", KIND_TASK_RESPONSE.encode()),
                ("ce_protocol", b"A2A"),
                ("ce_sourceagent", b"mallory"),
                ("content-type", b"application/avro"),
            ],
            b"\x00\x7f\xff\xff\xf0\xff\xfe",  # wire format naming a schema id the registry does not have
        ),
    ]

    async def scenario() -> None:
        agents = [Provider(mesh.config("provider-1"), SKILLS), Executor(mesh.config("executor-1"), HANDLERS)]
        requester = Requester(mesh.config("requester-1"))
        for agent in (*agents, requester):
            await agent.start()
        try:
            await asyncio.gather(*(agent.wait_assigned() for agent in (*agents, requester)))
            producer = Producer({"bootstrap.servers": endpoints.kafka})
            for topic, key, headers, value in garbage:
                producer.produce(topic, value, key, headers=headers)
            assert producer.flush(30) == 0
            outcome = await requester.request_task("Summarise", 120.0, capability="summarize", max_wait=60)
            assert outcome.status == "COMPLETED"
        finally:
            for agent in (requester, *agents):
                await agent.stop()

    run_strict(scenario)
    consumer = Consumer(
        {"bootstrap.servers": endpoints.kafka, "group.id": f"dlq-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([mesh.topics.dlq])
    dead: dict[str, dict[str, bytes]] = {}
    try:
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                if len(dead) >= 3:
                    break
                continue
            headers = {name: value or b"" for name, value in message.headers() or []}
            dead[f"{headers['dlq.original.topic'].decode()}/{headers['dlq.agent'].decode()}"] = {
                **headers,
                "key": message.key() or b"",
                "value": message.value() or b"",
            }
    finally:
        consumer.close()
    # garbage on task-responses is the executors' to dead-letter: it is addressed to no requester, and a
    # requester reads only what is addressed to it, so each bad record makes one dead letter
    assert sorted(dead) == sorted(
        [
            f"{mesh.topics.requests}/provider-1",
            f"{mesh.topics.negotiations}/provider-1",
            f"{mesh.topics.responses}/executor-1",
        ]
    )
    request = dead[f"{mesh.topics.requests}/provider-1"]
    # no ce_ headers: read as a structured-mode CloudEvent, which garbage bytes are not
    assert request["dlq.stage"] == b"decode" and request["dlq.error.class"] == b"a2a_fast.errors.DecodeError"
    assert request["dlq.reason"] == b"at byte 0: expected value"
    assert (request["key"], request["value"], request["dlq.original.offset"]) == (b"k1", b"\x00\x01garbage", b"0")
    assert request["dlq.original.partition"].isdigit()
    negotiation = dead[f"{mesh.topics.negotiations}/provider-1"]
    assert negotiation["ce_id"] == b"x"  # the original headers are kept
    response = dead[f"{mesh.topics.responses}/executor-1"]
    assert response["dlq.error.class"] == b"a2a_fast.errors.SchemaError"
    assert response["dlq.reason"] == b"schema id 2147483632 is unknown to the registry"


def test_redelivered_record_has_no_second_effect(mesh: Mesh, endpoints: Endpoints) -> None:
    def copy_first_request() -> None:
        reader = Consumer(
            {
                "bootstrap.servers": endpoints.kafka,
                "group.id": f"copy-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
            }
        )
        reader.subscribe([mesh.topics.requests])
        try:
            original = None
            for _ in range(30):
                original = reader.poll(1.0)
                if original is not None and original.error() is None:
                    break
            assert original is not None and original.error() is None
        finally:
            reader.close()
        # the same record (same ce_id) again, as a producer retry or a replay would deliver it
        producer = Producer({"bootstrap.servers": endpoints.kafka})
        producer.produce(original.topic() or "", original.value(), original.key(), headers=original.headers())
        assert producer.flush(30) == 0

    async def scenario() -> None:
        provider = Provider(mesh.config("provider-1"), SKILLS)
        duplicate = asyncio.Event()
        provider.observers.append(lambda event, _message: duplicate.set() if event == "duplicate" else None)
        async with (
            provider,
            Executor(mesh.config("executor-1"), HANDLERS),
            Requester(mesh.config("requester-1")) as requester,
        ):
            assert isinstance(requester, Requester)
            await requester.submit("Summarise", 120.0, capability="summarize")
            await asyncio.get_running_loop().run_in_executor(None, copy_first_request)
            await asyncio.wait_for(duplicate.wait(), 60)
        assert provider.decisions == Counter({"ACCEPTED": 1})

    run_strict(scenario)


async def http_get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    reply = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = reply.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def test_monitoring_endpoints(mesh: Mesh) -> None:
    async def scenario() -> None:
        provider = Provider(mesh.config("provider-1", http_port=0), SKILLS)
        async with provider, Requester(mesh.config("requester-1")) as requester:
            assert isinstance(requester, Requester) and provider.http_port
            # a skill the provider has, and no executor alive to run it
            outcome = await requester.request_task("Summarise", 500.0, capability="summarize", max_wait=60)
            assert outcome.status == "REJECTED" and "no live executor runs capability 'summarize'" in (
                outcome.error or ""
            )
            health, status, metrics = [
                await http_get(provider.http_port, path) for path in ("/health", "/status", "/metrics")
            ]
        assert health[0] == 200 and json.loads(health[1])["status"] == "ok"
        body = json.loads(status[1])
        assert (body["role"], body["id"], body["group"], body["tasks"]) == (
            "provider",
            "provider-1",
            pool_group(mesh.topics.prefix, "provider", SKILLS),
            {"REJECTED": 1},
        )
        assert body["in_flight"] == 0 and len(body["assignment"]) == 6 and "consumer_lag" in body
        assert metrics[0] == 200
        assert f'a2a_messages_consumed_total{{topic="{mesh.topics.requests}",type="a2a.task.request"}} 1' in metrics[1]
        assert 'a2a_tasks{agent="provider-1",role="provider",state="REJECTED"} 1' in metrics[1]
        assert 'a2a_handling_seconds_count{type="a2a.task.request"} 1' in metrics[1]
        assert 'a2a_negotiation_rounds_count{role="provider"} 1' in metrics[1]
        assert 'a2a_handling_latency_seconds_count{protocol="a2a",operation="a2a.task.request"} 1' in metrics[1]

    run_strict(scenario)
