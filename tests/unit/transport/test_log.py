"""The log readers on the in-memory transport: ``replay`` yields what decodes and skips the rest, and
``LogReader`` (``a2a-fast tail``) shows every record, decoded or with the reason it is not."""

from __future__ import annotations

import pytest

from a2a_fast.errors import StackError
from a2a_fast.protocol.kinds import KIND_TASK_RESPONSE
from a2a_fast.transport.log import LogReader, replay
from a2a_fast.transport.memory import MemoryTransport
from a2a_fast.transport.registry import SchemaCatalog
from tests.scenarios import Mesh, fresh_mesh, run_strict
from tests.scenarios.cancel import running
from tests.unit.agents.support import Peer, response


def write(mesh: Mesh, *statuses: str) -> None:
    """One response per status, of one task (one partition, in order), then a record that is no envelope."""

    async def scenario() -> None:
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(peer):
            for status in statuses:
                await peer.publish(KIND_TASK_RESPONSE, response("t1", status), target_agent="requester-1")

    run_strict(scenario)
    producer = mesh.transport.producer({})
    producer.produce(mesh.topics.responses, b"not avro", b"t1", headers=[("ce_specversion", b"1.0")])
    producer.flush(10)


def test_replay_yields_the_decodable_records_from_the_start_or_from_given_offsets() -> None:
    with fresh_mesh(MemoryTransport()) as mesh:
        write(mesh, "ACCEPTED", "RUNNING", "COMPLETED")
        catalog = SchemaCatalog(mesh.transport, mesh.topics)
        try:
            catalog.load_readers()
            whole = list(replay(mesh.transport, catalog, mesh.topics, topics=[mesh.topics.responses]))
            partition = whole[0].partition
            later = list(replay(mesh.transport, catalog, mesh.topics, start={(mesh.topics.responses, partition): 1}))
        finally:
            catalog.close()
    assert [(m.record["status"], m.offset, m.target_agent) for m in whole] == [
        ("ACCEPTED", 0, "requester-1"),
        ("RUNNING", 1, "requester-1"),
        ("COMPLETED", 2, "requester-1"),
    ]  # the record at offset 3 does not decode and is left out
    assert [m.record["status"] for m in later] == ["RUNNING", "COMPLETED"]


def test_the_reader_shows_every_record_and_why_one_does_not_decode() -> None:
    with fresh_mesh(MemoryTransport()) as mesh:
        write(mesh, "ACCEPTED", "COMPLETED")
        reader = LogReader(mesh.transport, mesh.transport.schema_registry_url, mesh.topics, [mesh.topics.responses])
        try:
            reader.open()
            seen = reader.read(1.0)
        finally:
            reader.close()
        live = LogReader(
            mesh.transport,
            mesh.transport.schema_registry_url,
            mesh.topics,
            [mesh.topics.responses],
            from_beginning=False,
        )
        try:
            live.open()
            write(mesh, "CANCELED")
            after = live.read(1.0)
        finally:
            live.close()
        with pytest.raises(StackError, match=r"^topic 'nowhere' does not exist \(topics: "):
            LogReader(mesh.transport, mesh.transport.schema_registry_url, mesh.topics, ["nowhere"]).open()
    assert [(o.offset, o.key, o.message.record["status"] if o.message else None) for o in seen[:2]] == [
        (0, "t1", "ACCEPTED"),
        (1, "t1", "COMPLETED"),
    ]
    [broken] = seen[2:]
    assert broken.message is None and broken.error and broken.headers == {"ce_specversion": "1.0"}
    assert len(after) == 2 and after[0].message is not None and after[0].message.record["status"] == "CANCELED"
    assert after[1].message is None and after[1].offset == 4  # only what came after the reader opened
