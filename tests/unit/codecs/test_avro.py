"""Behaviour of a2a_fast.codecs.avro.Codec: defaults, errors, wire framing, resolution, round trips."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import a2a_fast
from a2a_fast.codecs.avro import Codec, DecodeError, SchemaError, ValidationError, parse_wire_header, schema_id_of

SCHEMAS = Path(a2a_fast.__file__).parent / "schemas"
TASK_REQUEST = (SCHEMAS / "TaskRequest.avsc").read_text()


def task(**changes: Any) -> dict[str, Any]:
    record = {
        "task_id": "t-1",
        "requester_id": "agent-a",
        "description": "summarise ✓",
        "capability": "summarise",
        "proposed_cost": 2.5,
        "priority": 2,
        "parameters": {"lang": "en"},
        "timestamp": 1_700_000_000_000,
    }
    record.update(changes)
    return record


def test_properties_describe_the_schema() -> None:
    codec = Codec(TASK_REQUEST, schema_id=42)
    assert codec.name == "a2a.tasks.TaskRequest"
    assert codec.schema_id == 42
    assert json.loads(codec.schema)["name"] == "a2a.tasks.TaskRequest"
    assert "doc" not in codec.schema
    assert Codec(json.loads(TASK_REQUEST)).fingerprint == codec.fingerprint
    assert Codec("int").name == "int"
    assert Codec(["null", "int"]).encode(5) == b"\x02\x0a"


def test_omitted_fields_take_their_defaults() -> None:
    codec = Codec(TASK_REQUEST)
    record = task()
    for name in ("proposed_cost", "priority", "parameters"):
        del record[name]
    assert codec.decode(codec.encode(record)) == {
        **record,
        "proposed_cost": None,
        "priority": 1,
        "parameters": {},
    }


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (task(priority="high"), "TaskRequest.priority: expected int, got str"),
        (task(priority=2**40), "TaskRequest.priority: integer out of range for int"),
        (task(proposed_cost="1"), "TaskRequest.proposed_cost: expected one of [null, double], got str"),
        (task(parameters={"k": 1}), 'TaskRequest.parameters["k"]: expected string, got int'),
        (task(parameters={1: "v"}), "TaskRequest.parameters: map keys must be str, got int"),
        ({"task_id": "t"}, "TaskRequest.requester_id: missing required field"),
        ("not a record", "TaskRequest: expected record TaskRequest, got str"),
        (task(task_id="\udc80"), "TaskRequest.task_id"),
    ],
)
def test_invalid_records_name_the_field(record: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Codec(TASK_REQUEST).encode(record)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)


def test_batch_errors_name_the_item() -> None:
    with pytest.raises(ValidationError, match=r"TaskRequest.priority: .*batch item 1"):
        Codec(TASK_REQUEST).encode_many([task(), task(priority=None)])
    with pytest.raises(DecodeError, match="batch item 1"):
        Codec(TASK_REQUEST).decode_many([Codec(TASK_REQUEST).encode(task()), b"\x02"])


@pytest.mark.parametrize(
    "schema",
    [
        "{not json",
        {"type": "record", "name": "R"},
        {"type": "enum", "name": "E", "symbols": ["A", "A"]},
        ["int", "int"],
        "Unknown",
        {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": "x"}]},
        {"type": "fixed", "name": "F"},
        {"type": "array"},
        {1, 2},
    ],
)
def test_invalid_schemas_raise_schema_error(schema: Any) -> None:
    with pytest.raises(SchemaError):
        Codec(schema)


def test_truncated_and_trailing_bytes_report_the_offset() -> None:
    codec = Codec(TASK_REQUEST)
    data = codec.encode(task())
    for end in range(len(data)):
        with pytest.raises(DecodeError, match=r"at byte \d+"):
            codec.decode(data[:end])
    with pytest.raises(DecodeError, match=f"at byte {len(data)}: 1 bytes left"):
        codec.decode(data + b"\x00")


def test_hostile_length_prefix_is_refused_without_allocating() -> None:
    codec = Codec({"type": "array", "items": "string"})
    with pytest.raises(DecodeError, match="exceeds"):
        codec.decode(b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f")
    with pytest.raises(DecodeError, match="at byte 1: byte length"):
        codec.decode(b"\x02\xfe\xff\xff\xff\x0f")


def test_wire_header() -> None:
    codec = Codec(TASK_REQUEST, schema_id=7)
    data = codec.encode(task())
    assert data[:5] == b"\x00\x00\x00\x00\x07"
    assert parse_wire_header(data) == (7, 5)
    assert schema_id_of(data) == 7
    assert codec.decode(data) == task()
    with pytest.raises(DecodeError, match="magic byte is 1"):
        codec.decode(b"\x01" + data[1:])
    with pytest.raises(DecodeError, match="shorter than the 5-byte"):
        schema_id_of(b"\x00\x00")
    with pytest.raises(SchemaError, match="schema id 7"):
        Codec(TASK_REQUEST, schema_id=8).decode(data)
    with pytest.raises(ValidationError, match="schema_id"):
        Codec(TASK_REQUEST, schema_id=-1)


def test_resolution_reads_an_older_writer_and_caches_the_plan() -> None:
    old = json.loads(TASK_REQUEST)
    old["fields"] = [f for f in old["fields"] if f["name"] not in ("priority", "parameters")]
    old["fields"].append({"name": "legacy", "type": {"type": "array", "items": "long"}})
    writer = Codec(old, schema_id=1)
    reader = Codec(TASK_REQUEST, schema_id=2)
    record = task()
    del record["priority"], record["parameters"]
    data = writer.encode({**record, "legacy": [1, 2, 3]})
    expected = {**record, "priority": 1, "parameters": {}}
    for writer_schema in (old, json.dumps(old), writer):
        assert reader.decode(data, writer_schema=writer_schema) == expected
    assert reader.decode_many([data, data], writer_schema=writer) == [expected, expected]


def test_enum_resolution_uses_the_reader_default() -> None:
    writer = {"type": "enum", "name": "E", "symbols": ["A", "B", "NEW"]}
    reader = {"type": "enum", "name": "E", "symbols": ["A", "B"], "default": "A"}
    assert Codec(reader).decode(Codec(writer).encode("NEW"), writer_schema=writer) == "A"
    strict = {"type": "enum", "name": "E", "symbols": ["A", "B"]}
    assert Codec(strict).decode(Codec(writer).encode("B"), writer_schema=writer) == "B"
    with pytest.raises(SchemaError, match="NEW"):
        Codec(strict).decode(Codec(writer).encode("NEW"), writer_schema=writer)


def test_unresolvable_writer_is_a_schema_error() -> None:
    reader = Codec(TASK_REQUEST)
    with pytest.raises(SchemaError, match="no default"):
        reader.decode(b"", writer_schema={"type": "record", "name": "TaskRequest", "fields": []})
    with pytest.raises(SchemaError):
        reader.decode(b"", writer_schema="string")


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(), st.binary()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(), inner, max_size=4)),
    max_leaves=20,
)
RECURSIVE = {
    "type": "record",
    "name": "Node",
    "fields": [
        {"name": "value", "type": ["null", "boolean", "long", "string", "bytes"]},
        {"name": "children", "type": {"type": "array", "items": "Node"}},
        {"name": "named", "type": {"type": "map", "values": "Node"}},
    ],
}


def as_node(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {"value": None, "children": [as_node(v) for v in value], "named": {}}
    if isinstance(value, dict):
        return {"value": None, "children": [], "named": {k: as_node(v) for k, v in value.items()}}
    return {"value": value, "children": [], "named": {}}


@given(JSON_VALUES)
def test_recursive_records_round_trip(value: Any) -> None:
    codec = Codec(RECURSIVE, schema_id=3)
    node = as_node(value)
    assert codec.decode(codec.encode(node)) == node


@given(st.binary(max_size=64))
def test_garbage_raises_only_typed_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError, SchemaError):
        Codec(RECURSIVE).decode(data)
