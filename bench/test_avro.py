"""Avro encode/decode of 1000 TaskRequest-like messages in the Confluent wire format, vs fastavro.

Logical types: a2a_fast reads and writes ``timestamp-millis`` as an int. fastavro would turn it into
``datetime`` objects on read (extra work that we do not do), so fastavro gets the same schema without
the ``logicalType`` annotation: both sides then produce and consume identical values and bytes.
"""

from __future__ import annotations

import copy
import io
import random
import struct
from typing import Any

import fastavro
import pytest

from a2a_fast.codecs.avro import Codec

SCHEMA_ID = 42
N = 1000
SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "TaskRequest",
    "namespace": "a2a.tasks",
    "fields": [
        {"name": "task_id", "type": "string"},
        {"name": "requester_id", "type": "string"},
        {"name": "description", "type": "string"},
        {"name": "proposed_cost", "type": ["null", "double"], "default": None},
        {"name": "priority", "type": "int", "default": 1},
        {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "capability", "type": "string"},
        {"name": "metadata", "type": {"type": "map", "values": "string"}},
    ],
}
PLAIN_SCHEMA = copy.deepcopy(SCHEMA)
PLAIN_SCHEMA["fields"][5]["type"] = "long"
PARSED = fastavro.parse_schema(PLAIN_SCHEMA)
HEADER = struct.pack(">bI", 0, SCHEMA_ID)


def make_records() -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [
        {
            "task_id": f"task-{i:06d}",
            "requester_id": f"agent-{rng.randrange(50)}",
            "description": "Summarise the attached quarterly report in three bullet points " * rng.randrange(1, 3),
            "proposed_cost": None if i % 4 == 0 else round(rng.uniform(1, 500), 2),
            "priority": rng.randrange(3),
            "timestamp": 1_700_000_000_000 + i * 1000,
            "capability": rng.choice(["summarise", "translate", "classify"]),
            "metadata": {"lang": "en", "trace": f"{rng.getrandbits(64):016x}"},
        }
        for i in range(N)
    ]


RECORDS = make_records()
CODEC = Codec(SCHEMA, schema_id=SCHEMA_ID)


def fastavro_encode_many(records: list[dict[str, Any]]) -> list[bytes]:
    out = []
    for record in records:
        buf = io.BytesIO()
        buf.write(HEADER)
        fastavro.schemaless_writer(buf, PARSED, record)
        out.append(buf.getvalue())
    return out


def fastavro_decode_many(messages: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for message in messages:
        buf = io.BytesIO(message)
        if buf.read(5)[:1] != b"\x00":
            raise ValueError("not framed")
        out.append(fastavro.schemaless_reader(buf, PARSED, None))
    return out


ENCODERS = {"a2a_fast": CODEC.encode_many, "fastavro": fastavro_encode_many}
DECODERS = {"a2a_fast": CODEC.decode_many, "fastavro": fastavro_decode_many}
MESSAGES = fastavro_encode_many(RECORDS)


@pytest.mark.parametrize("impl", ENCODERS)
def test_encode_1000(benchmark: Any, tag: Any, impl: str) -> None:
    tag("avro encode 1000 TaskRequest (wire format)", impl, N)
    encode = ENCODERS[impl]
    assert encode(RECORDS) == MESSAGES
    benchmark(encode, RECORDS)


@pytest.mark.parametrize("impl", DECODERS)
def test_decode_1000(benchmark: Any, tag: Any, impl: str) -> None:
    tag("avro decode 1000 TaskRequest (wire format)", impl, N)
    decode = DECODERS[impl]
    assert decode(MESSAGES) == RECORDS
    benchmark(decode, MESSAGES)


@pytest.mark.parametrize("impl", ["a2a_fast", "fastavro"])
def test_encode_one(benchmark: Any, tag: Any, impl: str) -> None:
    tag("avro encode 1 TaskRequest (wire format)", impl, 1)
    encode = CODEC.encode if impl == "a2a_fast" else (lambda r: fastavro_encode_many([r])[0])
    assert encode(RECORDS[1]) == MESSAGES[1]
    benchmark(encode, RECORDS[1])
