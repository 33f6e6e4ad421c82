"""Fuzz targets of the Avro codec: decoding (plain and resolved), wire headers, schema parsing."""

from __future__ import annotations

from a2a_fast.codecs.avro import Codec, DecodeError, SchemaError, ValidationError, parse_wire_header

READER = Codec(
    {
        "type": "record",
        "name": "Fuzz",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "n", "type": ["null", "int", "double"]},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "meta", "type": {"type": "map", "values": ["null", "long"]}},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"], "default": "A"}},
            {"name": "f", "type": {"type": "fixed", "name": "F", "size": 2}},
            {"name": "next", "type": ["null", "Fuzz"], "default": None},
            {"name": "added", "type": "long", "default": 0},
        ],
    },
    schema_id=1,
)
WRITER = Codec(
    {
        "type": "record",
        "name": "Fuzz",
        "fields": [
            {"name": "dropped", "type": {"type": "array", "items": ["null", "bytes", "float"]}},
            {"name": "id", "type": "bytes"},
            {"name": "n", "type": "int"},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "meta", "type": {"type": "map", "values": "null"}},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}},
            {"name": "f", "type": {"type": "fixed", "name": "F", "size": 2}},
            {"name": "next", "type": ["null", "Fuzz"]},
        ],
    },
    schema_id=2,
)


def decode(data: bytes) -> None:
    READER.decode(b"\x00\x00\x00\x00\x01" + data)


def decode_resolved(data: bytes) -> None:
    READER.decode(b"\x00\x00\x00\x00\x02" + data, writer_schema=WRITER)


def wire_header(data: bytes) -> None:
    parse_wire_header(data)
    READER.decode(data)


def schema(data: bytes) -> None:
    codec = Codec(data.decode("utf-8", "replace"))
    codec.decode(codec.encode(None) if codec.name == "null" else b"")


TARGETS = [decode, decode_resolved, wire_header, schema]
EXPECTED = (DecodeError, SchemaError, ValidationError)
SEEDS = {
    "decode": [READER.encode({"id": "x", "n": 1, "tags": ["a"], "meta": {"k": 2}, "e": "B", "f": b"ab"})[5:]],
    "decode_resolved": [
        WRITER.encode(
            {"dropped": [None, b"x", 1.5], "id": b"i", "n": 3, "tags": [], "meta": {"k": None}}
            | {"e": "C", "f": b"zz", "next": None}
        )[5:]
    ],
    "wire_header": [b"\x00\x00\x00\x00\x01"],
    "schema": [
        b'{"type":"record","name":"R","fields":[{"name":"a","type":["null",{"type":"map","values":"R"}]}]}',
        b'{"type":"enum","name":"E","symbols":["A"],"default":"A"}',
        b'"null"',
    ],
}
