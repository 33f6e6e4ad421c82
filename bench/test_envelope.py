"""Decoding 1000 consumed A2A records (CloudEvent headers in Kafka binary mode, a TaskRequest in Avro), against
the CloudEvents SDK's Kafka binding with fastavro.

Every implementation does the same work per record: read the CloudEvent from the headers, check the size and
age limits and the A2A attributes, read the wire header and the writer schema id, decode the Avro body with the
writer's schema resolved against the reader's, and check the record (its key is its ``task_id``, the costs and
the capability). The records are ``confluent_kafka.Message`` objects, as a consumer gets them. Both sides'
messages are asserted equal before timing.
"""

from __future__ import annotations

import io
import json
import random
import struct
from typing import Any

import fastavro
import pytest
from cloudevents.v1.kafka import KafkaMessage, from_binary
from confluent_kafka import Message

from a2a_fast.codecs.avro import Codec
from a2a_fast.config import MessageConfig
from a2a_fast.protocol.envelope import Envelope, Inbound
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST, MESSAGE_KINDS
from a2a_fast.protocol.limits import MessageLimits
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport.registry import default_schemas, full_name

N = 1000
NOW = 1_735_787_050.0
TIME = b"2025-01-02T03:04:05.678Z"


class Catalog:
    """The registry side of the envelope, with fixed ids (the schemas the package ships)."""

    def __init__(self) -> None:
        self.schemas = default_schemas()
        self.ids = {kind: 100 + n for n, kind in enumerate(self.schemas)}
        self.codecs = {kind: Codec(text, self.ids[kind]) for kind, text in self.schemas.items()}
        self.by_id = {self.ids[kind]: (full_name(text), Codec(text)) for kind, text in self.schemas.items()}

    def writer_codec(self, kind: str) -> Codec:
        return self.codecs[kind]

    reader_codec = writer_codec

    def schema_uri(self, kind: str) -> str:
        return f"http://registry.test/schemas/ids/{self.ids[kind]}?subject={kind}-value"

    def cached_schema(self, schema_id: int) -> tuple[str, Codec] | None:
        return self.by_id.get(schema_id)


CATALOG = Catalog()
LIMITS = MessageLimits(MessageConfig(max_message_bytes=1_000_000, default_ttl_seconds=60), clock=lambda: NOW)
ENVELOPE = Envelope(CATALOG, TopicNames(), "bench", LIMITS)


def make_messages() -> list[Message]:
    rng = random.Random(11)
    messages = []
    for i in range(N):
        record = {
            "task_id": f"task-{i:06d}",
            "requester_id": f"agent-{rng.randrange(50)}",
            "description": "Summarise the attached quarterly report in three bullet points",
            "capability": rng.choice(["summarise", "translate", "classify"]),
            "proposed_cost": None if i % 4 == 0 else round(rng.uniform(1, 500), 2),
            "priority": rng.randrange(3),
            "parameters": {"lang": "en"},
            "timestamp": 1_700_000_000_000 + i * 1000,
        }
        out = ENVELOPE.encode(
            KIND_TASK_REQUEST,
            record,
            target_agent=f"provider-{i % 7}",
            traceparent=f"00-{i:032x}-{i:016x}-01",
            priority=("LOW", "NORMAL", "HIGH")[i % 3],
        )
        headers = [(name, TIME if name == "ce_time" else value) for name, value in out.headers]
        messages.append(Message(topic="t", partition=0, offset=i, key=out.key, value=out.value, headers=headers))
    return messages


MESSAGES = make_messages()

# --- the baseline: the CloudEvents SDK's Kafka binding, fastavro, and the same rules in Python --------------

_WIRE = struct.Struct(">bI")


def _without_logical_types(schema: Any) -> Any:
    """The schema with its ``logicalType`` annotations dropped: a2a_fast reads ``timestamp-millis`` as an
    int, and so fastavro does the same work (see ``test_avro.py``)."""
    if isinstance(schema, dict):
        return {key: _without_logical_types(value) for key, value in schema.items() if key != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(item) for item in schema]
    return schema


_PARSED = {
    schema_id: fastavro.parse_schema(_without_logical_types(json.loads(CATALOG.schemas[kind])))
    for kind, schema_id in CATALOG.ids.items()
}
_NAMES = {schema_id: name for schema_id, (name, _) in CATALOG.by_id.items()}


def _epoch(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text).timestamp()


def sdk_decode(message: Message) -> Inbound:
    value = message.value() or b""
    if len(value) > 1_000_000:
        raise ValueError("message too large")
    headers = dict(message.headers() or [])
    event = from_binary(KafkaMessage(headers, message.key(), value), data_unmarshaller=lambda data: data)
    if NOW - _epoch(event["time"]) > 60.0:
        raise ValueError("message expired")
    kind = event["type"]
    if kind not in MESSAGE_KINDS or event.get("protocol") != "A2A" or not event.get("sourceagent"):
        raise ValueError("not an A2A message")
    if event["datacontenttype"] != "application/avro":
        raise ValueError("not Avro")
    data = event.get_data()
    magic, schema_id = _WIRE.unpack_from(data)
    if magic != 0 or _NAMES.get(schema_id, "").rsplit(".", 1)[-1] != MESSAGE_KINDS[kind].record:
        raise ValueError("wrong schema")
    record = fastavro.schemaless_reader(io.BytesIO(data[5:]), _PARSED[schema_id], _PARSED[schema_id])
    assert isinstance(record, dict)
    key = message.key()
    if key is not None and key.decode(errors="replace") != record["task_id"]:
        raise ValueError("key differs from task_id")
    cost = record.get("proposed_cost")
    if not record["task_id"] or not record.get("capability") or (cost is not None and not cost >= 0):
        raise ValueError("invalid record")
    return Inbound(
        kind,
        record,
        event["id"],
        record["task_id"],
        event["sourceagent"],
        event.get("targetagent"),
        event.get("collaborationid"),
        event.get("traceparent"),
        schema_id,
        message.topic() or "",
        message.partition() or 0,
        message.offset() or 0,
        event.get("priority") or None,
        event.get("targetgroup") or None,
    )


DECODERS = {
    "a2a_fast": ENVELOPE.decode_many,
    "cloudevents-sdk+fastavro": lambda messages: [sdk_decode(m) for m in messages],
}


def test_implementations_agree() -> None:
    expected = ENVELOPE.decode_many(MESSAGES)
    assert all(isinstance(found, Inbound) for found in expected)
    for name, decode in DECODERS.items():
        assert decode(MESSAGES) == expected, name


@pytest.mark.parametrize("impl", list(DECODERS))
def test_decode_many(benchmark: Any, tag: Any, impl: str) -> None:
    tag(f"consumed A2A records -> messages (Envelope.decode_many), batch of {N}", impl, N)
    benchmark(DECODERS[impl], MESSAGES)
