"""Interop with fastavro: same bytes for the same records, each side reads the other's, same resolution."""

from __future__ import annotations

import io
import math
import struct
from typing import Any

import fastavro
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_fast.codecs.avro import Codec, schema_id_of

STATUS = ["PENDING", "RUNNING", "DONE"]

EVERYTHING: dict[str, Any] = {
    "type": "record",
    "name": "Everything",
    "namespace": "test.interop",
    "fields": [
        {"name": "nothing", "type": "null"},
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "single", "type": "float"},
        {"name": "real", "type": "double"},
        {"name": "blob", "type": "bytes"},
        {"name": "text", "type": "string"},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": STATUS}},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
        {"name": "maybe_cost", "type": ["null", "double"], "default": None},
        {"name": "choice", "type": ["null", "long", "string", "bytes", "Status"]},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "metadata", "type": {"type": "map", "values": ["null", "long"]}},
        {
            "name": "child",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Child",
                    "fields": [
                        {"name": "id", "type": "long"},
                        {"name": "digests", "type": {"type": "array", "items": "Digest"}},
                    ],
                },
            ],
        },
        {"name": "nested", "type": {"type": "array", "items": {"type": "map", "values": "Child"}}},
        {"name": "ts", "type": "long"},
    ],
}

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(max_size=20)
DIGEST = st.binary(min_size=4, max_size=4)
CHILD = st.fixed_dictionaries({"id": INT64, "digests": st.lists(DIGEST, max_size=3)})

EVERYTHING_RECORDS = st.fixed_dictionaries(
    {
        "nothing": st.none(),
        "flag": st.booleans(),
        "small": INT32,
        "big": INT64,
        "single": st.floats(width=32),
        "real": st.floats(),
        "blob": st.binary(max_size=20),
        "text": TEXT,
        "status": st.sampled_from(STATUS),
        "digest": DIGEST,
        "choice": st.one_of(st.none(), INT64, st.text(max_size=5).filter(lambda s: s not in STATUS), st.binary()),
        "tags": st.lists(TEXT, max_size=4),
        "metadata": st.dictionaries(TEXT, st.one_of(st.none(), INT64), max_size=4),
        "child": st.one_of(st.none(), CHILD),
        "nested": st.lists(st.dictionaries(TEXT, CHILD, max_size=2), max_size=2),
        "ts": INT64,
    },
    optional={"maybe_cost": st.one_of(st.none(), st.floats())},
)


def fastavro_write(schema: Any, record: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


def fastavro_read(data: bytes, writer: Any, reader: Any = None) -> Any:
    parsed_reader = None if reader is None else fastavro.parse_schema(reader)
    return fastavro.schemaless_reader(io.BytesIO(data), fastavro.parse_schema(writer), parsed_reader)


def comparable(value: Any) -> Any:
    """Floats by their bits, so that NaN equals NaN and -0.0 differs from 0.0."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


CODEC = Codec(EVERYTHING)


@settings(max_examples=300)
@given(EVERYTHING_RECORDS)
def test_bytes_match_fastavro_and_each_reads_the_other(record: dict[str, Any]) -> None:
    ours = CODEC.encode(record)
    assert ours == fastavro_write(EVERYTHING, record)
    assert comparable(fastavro_read(ours, EVERYTHING)) == comparable(CODEC.decode(ours))
    expected = {"maybe_cost": None, **record}
    assert comparable(CODEC.decode(ours)) == comparable(expected)


@given(st.lists(EVERYTHING_RECORDS, max_size=5))
def test_batches_match_single_calls(records: list[dict[str, Any]]) -> None:
    encoded = CODEC.encode_many(records)
    assert encoded == [CODEC.encode(r) for r in records]
    assert comparable(CODEC.decode_many(encoded)) == comparable([CODEC.decode(b) for b in encoded])


@given(st.one_of(st.none(), st.booleans(), INT64, st.floats(), TEXT, st.binary(max_size=8)))
def test_union_branch_choice_matches_fastavro(value: Any) -> None:
    schema = ["null", "boolean", "int", "long", "float", "double", "string", "bytes"]
    assert Codec(schema).encode(value) == fastavro_write(schema, value)


def test_special_doubles_and_extreme_longs() -> None:
    schema = {"type": "array", "items": ["double", "long"]}
    values = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 2**63 - 1, -(2**63)]
    ours = Codec(schema).encode(values)
    assert ours == fastavro_write(schema, values)
    assert comparable(Codec(schema).decode(ours)) == comparable(fastavro_read(ours, schema))


WRITER_V1: dict[str, Any] = {
    "type": "record",
    "name": "Task",
    "namespace": "v1",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "obsolete", "type": {"type": "map", "values": {"type": "array", "items": "long"}}},
        {"name": "count", "type": "int"},
        {"name": "size", "type": "long"},
        {"name": "ratio", "type": "float"},
        {"name": "state", "type": {"type": "enum", "name": "State", "symbols": ["A", "B", "C"]}},
        {"name": "note", "type": ["null", "string"]},
        {"name": "payload", "type": "string"},
        {"name": "score", "type": "int"},
    ],
}

READER_V2: dict[str, Any] = {
    "type": "record",
    "name": "Task",
    "namespace": "v2",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "count", "type": "long"},
        {"name": "size", "type": "double"},
        {"name": "ratio", "type": "double"},
        {"name": "state", "type": {"type": "enum", "name": "State", "symbols": ["A", "B"], "default": "B"}},
        {"name": "note", "type": ["null", "string", "long"]},
        {"name": "payload", "type": "bytes"},
        {"name": "score", "type": ["null", "double", "int"]},
        {"name": "added", "type": "string", "default": "fresh"},
        {"name": "added_list", "type": {"type": "array", "items": "int"}, "default": [1, 2]},
        {"name": "added_opt", "type": ["null", "int"], "default": None},
    ],
}

V1_RECORDS = st.fixed_dictionaries(
    {
        "id": TEXT,
        "obsolete": st.dictionaries(TEXT, st.lists(INT64, max_size=3), max_size=3),
        "count": INT32,
        "size": INT64,
        "ratio": st.floats(width=32),
        "state": st.sampled_from(["A", "B", "C"]),
        "note": st.one_of(st.none(), TEXT),
        "payload": TEXT,
        "score": INT32,
    }
)


@settings(max_examples=200)
@given(V1_RECORDS)
def test_resolution_matches_fastavro(record: dict[str, Any]) -> None:
    data = Codec(WRITER_V1).encode(record)
    ours = Codec(READER_V2).decode(data, writer_schema=WRITER_V1)
    assert comparable(ours) == comparable(fastavro_read(data, WRITER_V1, READER_V2))


def test_wire_format_matches_confluent_framing() -> None:
    from confluent_kafka.schema_registry import _MAGIC_BYTE

    record = {"id": "x", "obsolete": {}, "count": 1, "size": 2, "ratio": 0.5, "state": "A"}
    record |= {"note": None, "payload": "p", "score": 3}
    framed = Codec(WRITER_V1, schema_id=100_000).encode(record)
    expected = struct.pack(">bI", _MAGIC_BYTE, 100_000) + fastavro_write(WRITER_V1, record)
    assert framed == expected
    assert schema_id_of(framed) == 100_000
    assert Codec(WRITER_V1, schema_id=100_000).decode(framed) == fastavro_read(framed[5:], WRITER_V1)
