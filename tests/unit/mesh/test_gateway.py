"""MeshGateway and MeshInbox on the in-memory transport: A2A messages routed to live agents and read back by the
addressee only, a batch refused whole with the index and field named, and the inbox's dead letters."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from typing import Any

import pytest

from a2a_fast.config import MessageConfig, ProtocolConfig
from a2a_fast.errors import MessageTooLargeError, RoutingError, ValidationError
from a2a_fast.mesh.directory import AgentCard, AgentDirectory, Presence
from a2a_fast.mesh.gateway import MeshGateway, MeshInbox
from a2a_fast.mesh.router import MeshRouter
from a2a_fast.transport.memory import MemoryTransport
from tests.scenarios import Mesh, fresh_mesh, run_strict
from tests.unit.mesh.support import a2a, receive_all

CONFIG = ProtocolConfig(messages=MessageConfig(max_message_bytes=4096))


def test_messages_reach_their_addressee_only_and_errors_name_the_message_and_field() -> None:
    async def scenario(mesh: Mesh) -> None:
        async with AgentDirectory(mesh.transport, mesh.topics.agents, CONFIG) as directory:
            workers = [
                Presence(directory, AgentCard("worker-a", "worker", capabilities=("translate",))),
                Presence(directory, AgentCard("worker-b", "worker", capabilities=("summarize",))),
            ]
            for worker in workers:
                await worker.start()
            router = MeshRouter(directory)
            async with (
                MeshGateway(mesh.transport, mesh.topics, router) as gateway,
                MeshInbox(mesh.transport, "worker-a", mesh.topics, CONFIG) as inbox_a,
                MeshInbox(mesh.transport, "worker-b", mesh.topics, CONFIG) as inbox_b,
            ):
                to_b, routed, to_a = a2a("m1", "worker-b"), a2a("m2", None), a2a("m3", "worker-a")
                before = copy.deepcopy(routed)
                sent = await gateway.publish_a2a([to_b, routed, to_a], capability="translate")
                assert sent == ["worker-b", "worker-a", "worker-a"] and routed == before  # the caller's copy kept
                got_a, got_b = await receive_all(inbox_a, 2), await receive_all(inbox_b, 1)
                assert sorted(m["messageId"] for m in got_a) == ["m2", "m3"] and got_b == [to_b]  # lossless
                filled = next(m for m in got_a if m["messageId"] == "m2")["targetAgent"]
                assert filled == {"agentId": "worker-a", "agentType": "worker", "capabilities": ["translate"]}

                with pytest.raises(ValidationError, match=r"^\[1\]\.metadata\.ttl: "):
                    bad = a2a("bad", "worker-a", metadata={"priority": "LOW", "ttl": -1, "correlationId": "c"})
                    await gateway.publish_a2a([a2a("ok", "worker-a"), bad])
                with pytest.raises(RoutingError, match=r"\[0\]\.targetAgent\.agentId: 'worker-z' is not a live agent"):
                    await gateway.publish_a2a(a2a("m5", "worker-z"))
                with pytest.raises(RoutingError, match="no routing rule or live agent for capability 'teleport'"):
                    await gateway.publish_a2a(a2a("m6", None), capability="teleport")
                with pytest.raises(MessageTooLargeError, match=r"\[0\]: message is \d+ bytes.*max_message_bytes=4096"):
                    await gateway.publish_a2a(a2a("m7", "worker-a", payload={"blob": "x" * 5000}))

                router.add_routing_rule("reports", {"messagetype": "REPORT"}, "agent:worker-b")
                report = a2a("m8", None, messageType="REPORT")
                assert await gateway.publish_a2a(report, capability="translate") == ["worker-b"]
                assert [m["messageId"] for m in await receive_all(inbox_b, 1)] == ["m8"]
            for worker in workers:
                await worker.stop()

    with fresh_mesh(MemoryTransport()) as mesh:
        run_strict(lambda: scenario(mesh))
        ids = [message.headers() for message in mesh.raw(mesh.topics.messages)]
    # nothing of a refused batch was written: m1, m2, m3 and m8 only
    written = sorted(dict(headers or [])["ce_id"].decode() for headers in ids)
    assert written == ["m1", "m2", "m3", "m8"]


def test_the_inbox_dead_letters_invalid_and_expired_messages_with_the_reason() -> None:
    async def scenario(mesh: Mesh) -> list[str]:
        async with (
            MeshGateway(mesh.transport, mesh.topics) as gateway,
            MeshInbox(mesh.transport, "worker-a", mesh.topics, CONFIG) as inbox,
        ):
            old = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
            expired = a2a(
                "old", "worker-a", timestamp=old, metadata={"priority": "LOW", "ttl": 5, "correlationId": "c"}
            )
            await gateway.publish_a2a([expired, a2a("fresh", "worker-a")])
            # a CloudEvent that is no A2A message (no protocol attribute)
            headers = [("ce_specversion", b"1.0"), ("ce_id", b"x1"), ("ce_source", b"/agents/p"), ("ce_type", b"a2a.X")]
            producer = mesh.transport.producer({})
            producer.produce(
                mesh.topics.messages, b"{}", b"worker-a", headers=[*headers, ("ce_targetagent", b"worker-a")]
            )
            producer.flush(10)
            got: list[dict[str, Any]] = []
            async with asyncio.timeout(10):
                while inbox.dead_letters < 2 or not got:
                    got += await inbox.receive(timeout=0.1)
            return [m["messageId"] for m in got]

    with fresh_mesh(MemoryTransport()) as mesh:
        received = run_strict(lambda: scenario(mesh))
        letters = sorted(
            ({name: value.decode() for name, value in m.headers() or []} for m in mesh.raw(mesh.topics.dlq)),
            key=lambda h: h["ce_id"],
        )
    assert received == ["fresh"]
    assert [(h["ce_id"], h["dlq.stage"]) for h in letters] == [("old", "limits"), ("x1", "validation")]
    assert (
        letters[0]["dlq.reason"].startswith("message expired: sent 3") and "its ttl is 5s" in letters[0]["dlq.reason"]
    )
    assert letters[0]["dlq.error.class"] == "a2a_fast.errors.MessageExpiredError"
    assert "protocol" in letters[1]["dlq.reason"] and letters[1]["dlq.original.topic"] == mesh.topics.messages
