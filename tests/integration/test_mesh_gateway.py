"""A2A JSON messages through the gateway and inboxes, and routing over the live directory, on the real broker."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import uuid
from collections.abc import Iterator
from functools import partial

import pytest
from confluent_kafka import Consumer, Producer

from a2a_fast.codecs.cloudevents import from_a2a, to_kafka
from a2a_fast.config import HeartbeatConfig, MessageConfig, ProtocolConfig
from a2a_fast.errors import MessageTooLargeError, RoutingError, ValidationError
from a2a_fast.mesh.directory import AgentCard, AgentDirectory, AgentState, Presence
from a2a_fast.mesh.gateway import MeshGateway, MeshInbox
from a2a_fast.mesh.router import MeshRouter
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints
from tests.integration.test_agents import Mesh, fresh_mesh, run_strict
from tests.unit.mesh import support
from tests.unit.mesh.support import a2a

CONFIG = ProtocolConfig(
    heartbeat=HeartbeatConfig(interval_seconds=0.2, timeout_seconds=1.5),
    messages=MessageConfig(max_message_bytes=4096),
)


@pytest.fixture
def mesh(endpoints: Endpoints) -> Iterator[Mesh]:
    with fresh_mesh(endpoints) as fresh:
        yield fresh


receive_all = partial(support.receive_all, patience=30, poll=0.5)  # the broker's pace, not the in-memory twin's


def dead_letters(endpoints: Endpoints, topic: str, count: int) -> list[dict[str, str]]:
    consumer = Consumer(
        {"bootstrap.servers": endpoints.kafka, "group.id": f"dlq-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    found = []
    try:
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                found.append({name: (value or b"").decode() for name, value in message.headers() or []})
                if len(found) == count:
                    break
    finally:
        consumer.close()
    return found


def test_a_target_named_by_id_and_type_only_is_valid(mesh: Mesh, endpoints: Endpoints) -> None:
    """EventMesh-style messages name their target with ``agentId`` and ``agentType`` only: published through the
    gateway they get the live agent's capabilities; a CloudEvent written without ``targetagentcapabilities``
    reaches its inbox as a target with none."""
    topics: TopicNames = mesh.topics

    async def scenario() -> None:
        async with AgentDirectory(endpoints.kafka, topics.agents, CONFIG) as directory:
            worker = Presence(directory, AgentCard("worker-a", "worker", capabilities=("translate",)))
            await worker.start()
            async with (
                MeshGateway(endpoints.kafka, topics, MeshRouter(directory)) as gateway,
                MeshInbox(endpoints.kafka, "worker-a", topics, CONFIG) as inbox,
            ):
                bare = a2a("m1", None, targetAgent={"agentId": "worker-a", "agentType": "worker"})
                assert await gateway.publish_a2a(bare) == ["worker-a"]
                assert bare["targetAgent"] == {"agentId": "worker-a", "agentType": "worker"}  # the caller's own
                (got,) = await receive_all(inbox, 1)
                assert got["targetAgent"] == {
                    "agentId": "worker-a",
                    "agentType": "worker",
                    "capabilities": ["translate"],
                }
                with pytest.raises(RoutingError, match=r"\[0\]\.targetAgent\.agentId: 'worker-z' is not a live agent"):
                    await gateway.publish_a2a(a2a("m2", None, targetAgent={"agentId": "worker-z", "agentType": "w"}))

                event = from_a2a(a2a("m3", "worker-a"))
                del event["targetagentcapabilities"]
                _, headers, value = to_kafka(event)
                producer = Producer({"bootstrap.servers": endpoints.kafka})
                producer.produce(topics.messages, value, b"worker-a", headers=headers)
                assert producer.flush(30) == 0
                (written,) = await receive_all(inbox, 1)
                assert written["messageId"] == "m3"
                assert written["targetAgent"] == {"agentId": "worker-a", "agentType": "worker", "capabilities": []}
                assert inbox.dead_letters == 0
            await worker.stop()

    run_strict(scenario)


def test_addressed_messages_reach_the_addressee_only(mesh: Mesh, endpoints: Endpoints) -> None:
    topics: TopicNames = mesh.topics

    async def scenario() -> None:
        async with AgentDirectory(endpoints.kafka, topics.agents, CONFIG) as directory:
            workers = [
                Presence(directory, AgentCard("worker-a", "worker", capabilities=("translate",))),
                Presence(directory, AgentCard("worker-b", "worker", capabilities=("summarize",))),
            ]
            for worker in workers:
                await worker.start()
            router = MeshRouter(directory)
            async with (
                MeshGateway(endpoints.kafka, topics, router) as gateway,
                MeshInbox(endpoints.kafka, "worker-a", topics, CONFIG) as inbox_a,
                MeshInbox(endpoints.kafka, "worker-b", topics, CONFIG) as inbox_b,
            ):
                to_b, to_a = a2a("m1", "worker-b"), a2a("m3", "worker-a")
                routed = a2a("m2", None)
                assert await gateway.publish_a2a([to_b, routed, to_a], capability="translate") == [
                    "worker-b",
                    "worker-a",
                    "worker-a",
                ]
                assert await gateway.publish_a2a(a2a("m4", "worker-b")) == ["worker-b"]

                got_a, got_b = await receive_all(inbox_a, 2), await receive_all(inbox_b, 2)
                assert [m["messageId"] for m in got_a] == ["m2", "m3"]
                assert [m["messageId"] for m in got_b] == ["m1", "m4"]
                assert got_b[0] == to_b and got_a[1] == to_a  # lossless through Kafka and back
                assert got_a[0]["targetAgent"] == {
                    "agentId": "worker-a",
                    "agentType": "worker",
                    "capabilities": ["translate"],
                }
                assert inbox_a.ignored == 2 and inbox_b.ignored == 2

                with pytest.raises(ValidationError, match=r"^\[1\]\.metadata\.ttl: "):
                    await gateway.publish_a2a(
                        [
                            a2a("ok", "worker-a"),
                            a2a("bad", "worker-a", metadata={"priority": "LOW", "ttl": -1, "correlationId": "c"}),
                        ]
                    )
                with pytest.raises(RoutingError, match=r"\[0\]\.targetAgent\.agentId: 'worker-z' is not a live agent"):
                    await gateway.publish_a2a(a2a("m5", "worker-z"))
                with pytest.raises(RoutingError, match="no routing rule or live agent for capability 'teleport'"):
                    await gateway.publish_a2a(a2a("m6", None), capability="teleport")
                with pytest.raises(MessageTooLargeError, match=r"\[0\]: message is \d+ bytes.*max_message_bytes=4096"):
                    await gateway.publish_a2a(a2a("m7", "worker-a", payload={"blob": "x" * 5000}))

                # rule routing: a named rule on the message type wins over the capability argument
                router.add_routing_rule("reports", {"messagetype": "REPORT"}, "agent:worker-b")
                assert await gateway.publish_a2a(a2a("m8", None, messageType="REPORT"), capability="translate") == [
                    "worker-b"
                ]
                assert [m["messageId"] for m in await receive_all(inbox_b, 1)] == ["m8"]
            for worker in workers:
                await worker.stop()

    run_strict(scenario)


def test_inbox_dead_letters_invalid_and_expired_messages(mesh: Mesh, endpoints: Endpoints) -> None:
    topics: TopicNames = mesh.topics

    async def scenario() -> None:
        async with (
            MeshGateway(endpoints.kafka, topics) as gateway,
            MeshInbox(endpoints.kafka, "worker-a", topics, CONFIG) as inbox,
        ):
            old = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
            expired = a2a(
                "old", "worker-a", timestamp=old, metadata={"priority": "LOW", "ttl": 5, "correlationId": "c"}
            )
            await gateway.publish_a2a([expired, a2a("fresh", "worker-a")])
            producer = Producer({"bootstrap.servers": endpoints.kafka})
            headers = [("ce_specversion", b"1.0"), ("ce_id", b"x1"), ("ce_source", b"/agents/p"), ("ce_type", b"a2a.X")]
            producer.produce(topics.messages, b"{}", b"worker-a", headers=[*headers, ("ce_targetagent", b"worker-a")])
            producer.flush(30)
            got = await receive_all(inbox, 1)
            async with asyncio.timeout(30):
                while inbox.dead_letters < 2:
                    got += await inbox.receive(timeout=0.5)
            assert [m["messageId"] for m in got] == ["fresh"]
        letters = sorted(dead_letters(endpoints, topics.dlq, 2), key=lambda h: h["ce_id"])
        assert [(h["ce_id"], h["dlq.stage"]) for h in letters] == [("old", "limits"), ("x1", "validation")]
        assert (
            letters[0]["dlq.reason"].startswith("message expired: sent 3")
            and "its ttl is 5s" in letters[0]["dlq.reason"]
        )
        assert letters[0]["dlq.error.class"] == "a2a_fast.errors.MessageExpiredError"
        assert "protocol" in letters[1]["dlq.reason"] and letters[1]["dlq.original.topic"] == topics.messages

    run_strict(scenario)


def test_router_follows_liveness_and_load(mesh: Mesh, endpoints: Endpoints) -> None:
    topics: TopicNames = mesh.topics

    async def scenario() -> None:
        loads = {"worker-a": 5, "worker-b": 1, "worker-c": 0}
        async with AgentDirectory(endpoints.kafka, topics.agents, CONFIG) as directory:
            presences = {}
            for name, load in loads.items():
                priority = 0 if name == "worker-c" else 1  # worker-c is a lower tier: the fallback
                card = AgentCard(name, "worker", capabilities=("translate",), priority=priority)
                presences[name] = Presence(
                    directory,
                    card,
                    lambda load=load: AgentState(status="BUSY", load=load),  # type: ignore[misc]
                )
                await presences[name].start()

            def synced(d: AgentDirectory) -> bool:
                return all(getattr(d.get_agent(name), "load", None) == load for name, load in loads.items())

            await directory.wait_for(synced, 30)
            router = MeshRouter(directory)
            assert router.strategy == "round_robin"
            assert sorted(router.route("translate") for _ in range(4)) == [
                "worker-a",
                "worker-a",
                "worker-b",
                "worker-b",
            ]
            assert router.route("translate", strategy="least_loaded") == "worker-b"
            least = MeshRouter(directory, strategy="least_loaded")
            assert least.route("translate") == "worker-b"

            await presences["worker-b"].stop(deregister=False)  # falls silent
            await directory.wait_for(lambda d: not d.is_agent_alive("worker-b"), 30)
            assert {router.route("translate") for _ in range(4)} == {"worker-a"}
            await presences["worker-a"].stop()  # deregisters
            await directory.wait_for(lambda d: d.get_agent("worker-a") is None, 30)
            assert router.route("translate") == "worker-c"  # only the lower tier is left
            assert router.route_message({"targetagent": "worker-a"}) is None
            assert router.route_message({"targetagent": "worker-c"}) == "worker-c"
            await presences["worker-c"].stop()
            router.close()
            least.close()

    run_strict(scenario)


def test_gateway_messages_copy_is_not_mutated(mesh: Mesh, endpoints: Endpoints) -> None:
    async def scenario() -> None:
        async with AgentDirectory(endpoints.kafka, mesh.topics.agents, CONFIG) as directory:
            worker = Presence(directory, AgentCard("worker-a", "worker", capabilities=("translate",)))
            await worker.start()
            async with MeshGateway(endpoints.kafka, mesh.topics, MeshRouter(directory)) as gateway:
                message = a2a("m1", None)
                before = copy.deepcopy(message)
                await gateway.publish_a2a(message, capability="translate")
                assert message == before
            await worker.stop()

    run_strict(scenario)
