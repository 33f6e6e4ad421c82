"""CloudEvents JSON format, Kafka binding and A2A mapping: examples and every error path."""

from __future__ import annotations

import copy
import gc
import json
import re
from typing import Any

import pytest

from a2a_fast.codecs import cloudevents as ce
from a2a_fast.codecs.cloudevents import from_kafka, to_kafka
from a2a_fast.errors import DecodeError, ValidationError

EVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "A234-1234-1234",
    "source": "/mycontext",
    "type": "com.example.someevent",
    "time": "2018-04-05T17:31:00Z",
    "comexampleextension1": "value",
    "comexampleothervalue": 5,
    "datacontenttype": "application/json",
    "data": {"appinfoA": "abc", "appinfoB": 123, "appinfoC": True},
}

MESSAGE: dict[str, Any] = {
    "protocol": "A2A",
    "version": "1.0",
    "messageId": "msg-0001",
    "timestamp": "2025-03-01T12:00:00.250Z",
    "sourceAgent": {"agentId": "planner-1", "agentType": "planner", "capabilities": ["plan", "delegate"]},
    "targetAgent": {"agentId": "worker-7", "agentType": "executor", "capabilities": []},
    "messageType": "TASK_REQUEST",
    "payload": {"task": "summarize", "inputs": [1, 2.5, None, "ü"]},
    "metadata": {
        "priority": "NORMAL",
        "ttl": 60,
        "correlationId": "corr-1",
        "collaborationId": "collab-1",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    },
}


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out.update(changes)
    return out


def without(base: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in copy.deepcopy(base).items() if k not in keys}


def raises_at(path: str) -> Any:
    """Expects a ValidationError whose message starts with the offending attribute or field."""
    return pytest.raises(ValidationError, match=rf"^{re.escape(path)}: ")


# --- JSON event format -------------------------------------------------------------------


def test_structured_round_trip_keeps_every_attribute() -> None:
    assert ce.from_json(ce.to_json(EVENT)) == EVENT
    assert json.loads(ce.to_json(EVENT)) == EVENT


def test_spec_example_with_nulls_reads_nulls_as_unset() -> None:
    text = json.dumps({**EVENT, "subject": None, "unsetextension": None, "datacontenttype": "application/xml"})
    text = text.replace('"data": {"appinfoA": "abc", "appinfoB": 123, "appinfoC": true}', '"data": "<much/>"')
    event = ce.from_json(text.encode())
    assert "subject" not in event
    assert "unsetextension" not in event
    assert event["data"] == "<much/>"


def test_bytes_data_is_written_as_data_base64_and_read_back_as_bytes() -> None:
    event = with_(EVENT, data=b"\x00\xffbinary", datacontenttype="application/octet-stream")
    wire = json.loads(ce.to_json(event))
    assert wire["data_base64"] == "AP9iaW5hcnk="
    assert "data" not in wire
    assert ce.from_json(ce.to_json(event)) == event
    given_as_base64 = with_(without(event, "data"), data_base64="AP9iaW5hcnk=")
    assert ce.from_json(ce.to_json(given_as_base64)) == event


def test_explicit_null_data_differs_from_absent_data() -> None:
    assert json.loads(ce.to_json(with_(EVENT, data=None)))["data"] is None
    assert "data" not in json.loads(ce.to_json(without(EVENT, "data")))
    assert ce.from_json(ce.to_json(with_(EVENT, data=None)))["data"] is None


def test_string_data_with_json_content_type_stays_a_json_string() -> None:
    event = with_(EVENT, data='{"not": "parsed"}')
    assert ce.from_json(ce.to_json(event))["data"] == '{"not": "parsed"}'


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"specversion": "0.3"}, "specversion"),
        ({"specversion": 1.0}, "specversion"),
        ({"id": ""}, "id"),
        ({"id": 7}, "id"),
        ({"source": None}, "source"),
        ({"type": ""}, "type"),
        ({"time": "2018-04-05 17:31:00"}, "time"),
        ({"time": "2018-02-30T00:00:00Z"}, "time"),
        ({"datacontenttype": "json"}, "datacontenttype"),
        ({"dataschema": "relative/path"}, "dataschema"),
        ({"subject": ""}, "subject"),
        ({"Bad": "x"}, "Bad"),
        ({"with_underscore": "x"}, "with_underscore"),
        ({"ext": 1.5}, "ext"),
        ({"ext": 2**31}, "ext"),
        ({"ext": [1]}, "ext"),
        ({"data_base64": "!!!!"}, "data_base64"),
        ({"data_base64": "AAAA"}, "data_base64"),
        ({"datacontenttype": "text/plain", "data": {"a": 1}}, "data"),
        ({"data": {"nested": b"bytes"}}, "data"),
        ({"data": float("nan")}, "data"),
        ({"data": 2**64}, "data"),
        ({"data": {1: "int key"}}, "data"),
        ({"data": object()}, "data"),
        ({"data": "\ud800"}, "data"),
        ({"id": "a\nb"}, "id"),
        ({"type": "a\x1fb"}, "type"),
        ({"source": "/s\x7f"}, "source"),
        ({"subject": "a\x85b"}, "subject"),
        ({"id": "a\ufffeb"}, "id"),
        ({"subject": "\ufdd0"}, "subject"),
        ({"ext": "x\U0001ffff"}, "ext"),
        ({"ext": "\x00"}, "ext"),
        ({"id": "\ud800"}, "id"),
    ],
)
def test_every_spec_violation_names_the_attribute(change: dict[str, Any], path: str) -> None:
    with raises_at(path):
        ce.to_json({**EVENT, **change})


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (b'{"specversion":"1.0","id":"a\\nb","source":"/s","type":"t"}', "id"),
        (b'{"specversion":"1.0","id":"1","source":"/s","type":"a\\u001fb"}', "type"),
        (b'{"specversion":"1.0","id":"1","source":"/s","type":"t","ext":"\xef\xbf\xbe"}', "ext"),
    ],
)
def test_control_characters_and_noncharacters_are_rejected_when_read(text: bytes, path: str) -> None:
    with raises_at(path):
        ce.from_json(text)
    headers = {"ce_specversion": b"1.0", "ce_id": b"1", "ce_source": b"/s", "ce_type": b"t", f"ce_{path}": b"a\x01b"}
    with raises_at(path):
        ce.from_kafka(list(headers.items()), None)


@pytest.mark.parametrize("name", ["specversion", "id", "source", "type"])
def test_missing_required_attribute_is_named(name: str) -> None:
    with raises_at(name):
        ce.to_json(without(EVENT, name))
    with raises_at(name):
        ce.from_json(json.dumps(without(EVENT, name)).encode())


def test_long_extension_names_are_allowed() -> None:
    event = with_(EVENT, averyveryverylongextensionnamebeyondtwenty="ok")
    assert ce.from_json(ce.to_json(event)) == event


def test_extension_value_types() -> None:
    event = with_(EVENT, flag=True, count=-(2**31), uri="https://x.example/")
    assert ce.from_json(ce.to_json(event)) == event
    assert json.loads(ce.to_json(with_(EVENT, blob=b"\x01\x02")))["blob"] == "AQI="


def test_deep_nesting_is_refused_not_crashed() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with raises_at("data"):
        ce.to_json(with_(EVENT, data=deep))
    with pytest.raises(DecodeError):
        ce.from_json(b'{"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}")


@pytest.mark.parametrize(
    ("data", "offset"),
    [(b"", 0), (b"{", 1), (b'{"id": tru}', 10), (b'{"id": "1"} x', 12), (b"\xff", 0)],
)
def test_malformed_json_names_the_byte_offset(data: bytes, offset: int) -> None:
    with pytest.raises(DecodeError, match=rf"^at byte {offset}: "):
        ce.from_json(data)


def test_json_that_is_not_an_event_object() -> None:
    with raises_at("event"):
        ce.from_json(b"[]")
    with raises_at("event"):
        ce.to_json(["not", "a", "dict"])  # type: ignore[arg-type]


def test_duplicate_attribute_in_json_is_rejected() -> None:
    with raises_at("id"):
        ce.from_json(b'{"specversion":"1.0","id":"1","id":"2","source":"s","type":"t"}')


# --- many and batch ----------------------------------------------------------------------


def test_many_and_batch_forms_match_the_single_forms() -> None:
    events = [with_(EVENT, id=str(i)) for i in range(5)]
    assert ce.to_json_many(events) == [ce.to_json(e) for e in events]
    assert ce.from_json_many(ce.to_json_many(events)) == events
    batch = ce.to_json_batch(events)
    assert json.loads(batch) == events
    assert ce.from_json_batch(batch) == events
    assert ce.from_json_batch(b"[]") == []
    assert ce.to_json_batch([]) == b"[]"


def test_batch_errors_name_the_item() -> None:
    events = [EVENT, without(EVENT, "id")]
    with raises_at("[1].id"):
        ce.to_json_many(events)
    with raises_at("[1].id"):
        ce.to_json_batch(events)
    with raises_at("[1].id"):
        ce.from_json_many([ce.to_json(EVENT), json.dumps(without(EVENT, "id")).encode()])
    with raises_at("batch"):
        ce.from_json_batch(b"{}")
    with pytest.raises(DecodeError, match="item 1"):
        ce.from_json_many([ce.to_json(EVENT), b"{"])


# --- Kafka binding -----------------------------------------------------------------------


def test_kafka_binary_mode_layout() -> None:
    key, headers, value = ce.to_kafka(with_(EVENT, partitionkey="order-7"))
    assert key == b"order-7"
    names = dict(headers)
    assert names["ce_specversion"] == b"1.0"
    assert names["ce_id"] == b"A234-1234-1234"
    assert names["ce_comexampleothervalue"] == b"5"
    assert names["ce_partitionkey"] == b"order-7"
    assert names["content-type"] == b"application/json"
    assert "ce_datacontenttype" not in names
    assert json.loads(value or b"") == EVENT["data"]
    assert all(isinstance(n, str) and isinstance(v, bytes) for n, v in headers)


def test_kafka_round_trip_with_headers_as_list_dict_or_none() -> None:
    key, headers, value = ce.to_kafka(EVENT)
    assert key is None
    expected = with_(EVENT, comexampleothervalue="5")
    assert ce.from_kafka(headers, value) == expected
    assert ce.from_kafka(dict(headers), value, None) == expected
    with raises_at("specversion"):
        ce.from_kafka(None, value)


def test_kafka_tombstone_and_binary_data() -> None:
    assert ce.to_kafka(without(EVENT, "data"))[2] is None
    assert "data" not in ce.from_kafka(ce.to_kafka(without(EVENT, "data"))[1], None)
    raw = with_(without(EVENT, "datacontenttype"), data=b"\x00\x01")
    _, headers, value = ce.to_kafka(raw)
    assert value == b"\x00\x01"
    assert dict(headers)["content-type"] == b"application/octet-stream"
    text = with_(EVENT, datacontenttype="text/plain", data="héllo")
    _, headers, value = ce.to_kafka(text)
    assert value == "héllo".encode()
    assert ce.from_kafka(headers, value)["data"] == "héllo".encode()


def test_kafka_bytes_declared_as_json_are_sent_as_is_and_read_parsed() -> None:
    _, headers, value = ce.to_kafka(with_(EVENT, data=b'{"ready": true}'))
    assert value == b'{"ready": true}'
    assert ce.from_kafka(headers, value)["data"] == {"ready": True}
    _, headers, value = ce.to_kafka(with_(EVENT, data=b"not json"))
    with pytest.raises(DecodeError, match=r"^at byte 1: "):
        ce.from_kafka(headers, value)


def test_empty_binary_data() -> None:
    event = with_(EVENT, data=b"", datacontenttype="application/octet-stream")
    assert json.loads(ce.to_json(event))["data_base64"] == ""
    assert ce.from_json(ce.to_json(event)) == event


def test_kafka_json_data_without_content_type_gets_explicit_json() -> None:
    _, headers, value = ce.to_kafka(without(EVENT, "datacontenttype"))
    assert dict(headers)["content-type"] == b"application/json"
    assert ce.from_kafka(headers, value)["datacontenttype"] == "application/json"


def test_kafka_key_becomes_partitionkey_unless_a_header_has_it() -> None:
    _, headers, value = ce.to_kafka(EVENT)
    assert ce.from_kafka(headers, value, b"k1")["partitionkey"] == "k1"
    assert ce.from_kafka(headers, value, "k2")["partitionkey"] == "k2"
    _, headers, value = ce.to_kafka(with_(EVENT, partitionkey="own"))
    assert ce.from_kafka(headers, value, b"other")["partitionkey"] == "own"


def test_kafka_structured_mode_is_read() -> None:
    headers = [("content-type", b"application/cloudevents+json; charset=UTF-8")]
    assert ce.from_kafka(headers, ce.to_json(EVENT)) == EVENT
    with raises_at("content-type"):
        ce.from_kafka([("content-type", b"application/cloudevents+avro")], b"\x00")
    with raises_at("value"):
        ce.from_kafka(headers, None)


@pytest.mark.parametrize(
    ("headers", "value", "path"),
    [
        ([("ce_id", b"\xff")], None, "id"),
        ([("content-type", b"a/b"), ("content-type", b"a/b")], None, "content-type"),
        ([("ce_data", b"x")], None, "ce_data"),
        ([("ce_id", None)], None, "id"),
    ],
)
def test_kafka_header_problems_are_named(headers: Any, value: bytes | None, path: str) -> None:
    with raises_at(path):
        ce.from_kafka(headers, value)


def test_kafka_malformed_json_value_names_the_offset() -> None:
    _, headers, _ = ce.to_kafka(EVENT)
    with pytest.raises(DecodeError, match=r"^at byte 4: "):
        ce.from_kafka(headers, b'{"a"}')


def test_kafka_many_forms() -> None:
    events = [with_(EVENT, id=str(i), partitionkey=f"p{i}") for i in range(3)]
    records = ce.to_kafka_many(events)
    assert records == [ce.to_kafka(e) for e in events]
    expected = [with_(e, comexampleothervalue="5") for e in events]
    assert ce.from_kafka_many([(h, v, k) for k, h, v in records]) == expected
    assert ce.from_kafka_many([(h, v) for _, h, v in records]) == expected
    with raises_at("[0].specversion"):
        ce.from_kafka_many([([], None)])


# --- A2A mapping -------------------------------------------------------------------------


def test_a2a_maps_to_the_documented_attributes() -> None:
    event = ce.from_a2a(MESSAGE)
    assert event["id"] == "msg-0001"
    assert event["time"] == MESSAGE["timestamp"]
    assert event["type"] == "a2a.TASK_REQUEST"
    assert event["source"] == "/agents/planner-1"
    assert event["data"] == MESSAGE["payload"]
    assert event["datacontenttype"] == "application/json"
    assert event["protocol"] == "A2A"
    assert event["protocolversion"] == "1.0"
    assert event["messagetype"] == "TASK_REQUEST"
    assert event["sourceagent"] == "planner-1"
    assert event["sourceagenttype"] == "planner"
    assert event["agentcapabilities"] == "plan,delegate"
    assert event["targetagent"] == "worker-7"
    assert event["targetagentcapabilities"] == ""
    assert event["priority"] == "NORMAL"
    assert event["ttl"] == 60
    assert event["correlationid"] == "corr-1"
    assert event["collaborationid"] == "collab-1"
    assert event["traceparent"] == MESSAGE["metadata"]["traceparent"]


@pytest.mark.parametrize(
    "message",
    [
        MESSAGE,
        without(MESSAGE, "targetAgent"),
        with_(MESSAGE, targetAgent=None),
        with_(MESSAGE, metadata={"priority": "LOW", "ttl": 0, "correlationId": "c"}),
        with_(MESSAGE, metadata={**MESSAGE["metadata"], "collaborationId": None, "traceparent": None}),
        with_(MESSAGE, payload=None),
        with_(MESSAGE, payload="just text"),
    ],
)
def test_a2a_round_trips_losslessly_through_every_path(message: dict[str, Any]) -> None:
    assert ce.to_a2a(ce.from_a2a(message)) == message
    assert ce.json_to_a2a(ce.a2a_to_json(message)) == message
    assert ce.to_a2a(ce.from_json(ce.to_json(ce.from_a2a(message)))) == message
    key, headers, value = ce.to_kafka(ce.from_a2a(message))
    assert ce.to_a2a(ce.from_kafka(headers, value, key)) == message
    assert ce.is_valid(message)


def test_a2a_batches() -> None:
    messages = [with_(MESSAGE, messageId=f"m{i}") for i in range(4)]
    assert ce.to_a2a_many(ce.from_a2a_many(messages)) == messages
    assert ce.json_to_a2a_many(ce.a2a_to_json_many(messages)) == messages
    assert ce.a2a_to_json_many(messages) == [ce.a2a_to_json(m) for m in messages]
    assert [json.loads(b) for b in ce.a2a_to_json_many(messages)] == [
        json.loads(ce.to_json(ce.from_a2a(m))) for m in messages
    ]
    with raises_at("[2].messageId"):
        ce.a2a_to_json_many([*messages[:2], with_(MESSAGE, messageId="")])


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"protocol": "B2B"}, "protocol"),
        ({"version": 1}, "version"),
        ({"messageId": ""}, "messageId"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"sourceAgent": {"agentId": "a", "agentType": "t"}}, "sourceAgent.capabilities"),
        ({"sourceAgent": {"agentId": "a", "agentType": "t", "capabilities": ["x,y"]}}, "sourceAgent.capabilities"),
        ({"sourceAgent": {"agentId": "a", "agentType": "t", "capabilities": [], "x": 1}}, "sourceAgent.x"),
        ({"targetAgent": {"agentId": "", "agentType": "t", "capabilities": []}}, "targetAgent.agentId"),
        ({"targetAgent": "worker"}, "targetAgent"),
        ({"messageType": None}, "messageType"),
        ({"metadata": {"priority": "URGENT", "ttl": 1, "correlationId": "c"}}, "metadata.priority"),
        ({"metadata": {"priority": "LOW", "ttl": True, "correlationId": "c"}}, "metadata.ttl"),
        ({"metadata": {"priority": "LOW", "ttl": -1, "correlationId": "c"}}, "metadata.ttl"),
        ({"metadata": {"priority": "LOW", "ttl": 2**31, "correlationId": "c"}}, "metadata.ttl"),
        ({"metadata": {"priority": "LOW", "ttl": 1}}, "metadata.correlationId"),
        ({"metadata": {"priority": "LOW", "ttl": 1, "correlationId": "c", "extra": 1}}, "metadata.extra"),
        ({"metadata": {"priority": "LOW", "ttl": 1, "correlationId": "c", "traceparent": ""}}, "metadata.traceparent"),
        ({"unexpected": 1}, "unexpected"),
        ({"messageId": "m\n1"}, "messageId"),
        ({"messageType": "TASK\x1f"}, "messageType"),
        ({"sourceAgent": {"agentId": "a\x7f", "agentType": "t", "capabilities": []}}, "sourceAgent.agentId"),
        ({"sourceAgent": {"agentId": "a", "agentType": "t", "capabilities": ["x\ufdd0"]}}, "sourceAgent.capabilities"),
        ({"metadata": {"priority": "LOW", "ttl": 1, "correlationId": "c\x9f"}}, "metadata.correlationId"),
    ],
)
def test_a2a_validation_names_the_field(change: dict[str, Any], path: str) -> None:
    message = {**MESSAGE, **change}
    with raises_at(path):
        ce.validate_a2a(message)
    with raises_at(path):
        ce.from_a2a(message)
    assert not ce.is_valid(message)


@pytest.mark.parametrize("field", ["payload", "metadata", "sourceAgent", "messageType", "timestamp"])
def test_a2a_missing_fields_are_named(field: str) -> None:
    with raises_at(field):
        ce.validate_a2a(without(MESSAGE, field))


def test_is_valid_on_anything() -> None:
    assert not ce.is_valid(None)
    assert not ce.is_valid([MESSAGE])
    assert ce.validate_a2a(MESSAGE) is None


@pytest.mark.parametrize(
    ("remove", "path"),
    [("sourceagent", "sourceagent"), ("ttl", "ttl"), ("protocol", "protocol"), ("data", "data"), ("time", "time")],
)
def test_to_a2a_names_the_missing_extension(remove: str, path: str) -> None:
    with raises_at(path):
        ce.to_a2a(without(ce.from_a2a(MESSAGE), remove))


def test_to_a2a_rejects_non_json_payloads() -> None:
    event = ce.from_a2a(MESSAGE)
    with raises_at("data"):
        ce.to_a2a(with_(event, data=b"raw"))
    with raises_at("datacontenttype"):
        ce.to_a2a(with_(event, datacontenttype="text/plain", data="x"))
    with raises_at("ttl"):
        ce.to_a2a(with_(event, ttl="sixty"))


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"payload": {"a": [1, b"x"]}}, "payload.a[1]"),
        ({"payload": {"n": float("inf")}}, "payload.n"),
        ({"sourceAgent": {"agentId": "a", "agentType": "t", "capabilities": ["x", 7]}}, "sourceAgent.capabilities[1]"),
    ],
)
def test_a2a_errors_name_the_exact_place(change: dict[str, Any], path: str) -> None:
    message = {**MESSAGE, **change}
    with raises_at(path):
        ce.validate_a2a(message)
    with raises_at(path):
        ce.a2a_to_json(message)
    with raises_at(f"[0].{path}"):
        ce.a2a_to_json_many([message])
    assert not ce.is_valid(message)


# --- A2A JSON <-> CloudEvent JSON, bytes to bytes ------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        MESSAGE,
        without(MESSAGE, "targetAgent"),
        with_(MESSAGE, targetAgent=None),
        with_(MESSAGE, metadata={**MESSAGE["metadata"], "collaborationId": None, "traceparent": None}),
        with_(MESSAGE, payload={"text": 'q"uote\\ é \x01', "n": [-0.0, 1e300, 2**64 - 1, -(2**63)]}),
    ],
)
def test_bytes_conversions_write_what_the_dict_functions_write(message: dict[str, Any]) -> None:
    event = ce.a2a_json_to_event_json(json.dumps(message).encode())
    assert event == ce.a2a_to_json(message)
    back = ce.event_json_to_a2a_json(event)
    assert json.loads(back) == ce.json_to_a2a(event) == message
    assert ce.a2a_json_to_event_json(back) == event
    assert ce.a2a_json_to_event_json_many([json.dumps(message).encode()] * 2) == [event, event]
    assert ce.event_json_to_a2a_json_many([event, event]) == [back, back]
    assert ce.a2a_json_to_event_json_many([]) == ce.event_json_to_a2a_json_many([]) == []


@pytest.mark.parametrize(("change", "path"), [({"protocol": "B2B"}, "protocol"), ({"unexpected": 1}, "unexpected")])
def test_bytes_conversion_names_the_field(change: dict[str, Any], path: str) -> None:
    with raises_at(path):
        ce.a2a_json_to_event_json(json.dumps({**MESSAGE, **change}).encode())
    with raises_at(f"[1].{path}"):
        ce.a2a_json_to_event_json_many([json.dumps(MESSAGE).encode(), json.dumps({**MESSAGE, **change}).encode()])
    with raises_at("metadata.ttl"):
        ce.a2a_json_to_event_json(json.dumps(MESSAGE).replace('"ttl": 60', '"ttl": 60.5').encode())


def test_bytes_conversion_from_events_names_the_attribute() -> None:
    event = json.loads(ce.a2a_to_json(MESSAGE))
    for name in ("sourceagent", "ttl", "data", "time"):
        with raises_at(name):
            ce.event_json_to_a2a_json(json.dumps(without(event, name)).encode())
    with raises_at("id"):
        ce.event_json_to_a2a_json(json.dumps(with_(event, id="")).encode())
    with raises_at("[0].priority"):
        ce.event_json_to_a2a_json_many([json.dumps(with_(event, priority="SOON")).encode()])
    with raises_at("event"):
        ce.event_json_to_a2a_json(b"[]")
    with raises_at("message"):
        ce.a2a_json_to_event_json(b"[]")


@pytest.mark.parametrize(("data", "offset"), [(b"", 0), (b"{", 1), (b'{"id": tru}', 10), (b'{"id": "1"} x', 12)])
def test_bytes_conversion_names_the_byte_offset(data: bytes, offset: int) -> None:
    for convert in (ce.a2a_json_to_event_json, ce.event_json_to_a2a_json):
        with pytest.raises(DecodeError, match=rf"^at byte {offset}: "):
            convert(data)
    with pytest.raises(DecodeError, match=rf"^at byte {offset}: item 1: "):
        ce.event_json_to_a2a_json_many([ce.a2a_to_json(MESSAGE), data])


def test_batch_reads_leave_the_garbage_collector_as_they_found_it() -> None:
    events = ce.a2a_to_json_many([MESSAGE, MESSAGE])
    assert gc.isenabled()
    assert ce.json_to_a2a_many(events) == [MESSAGE, MESSAGE]
    assert gc.isenabled()
    gc.disable()
    try:
        assert ce.from_json_many(events) == ce.from_a2a_many([MESSAGE, MESSAGE])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_read_dicts_share_no_mutable_object() -> None:
    events = ce.a2a_to_json_many([MESSAGE, MESSAGE])
    first, second = ce.json_to_a2a_many(events)
    first["sourceAgent"]["capabilities"].append("changed")
    first["payload"]["inputs"].append("changed")
    first["metadata"]["ttl"] += 1
    first["targetAgent"]["agentId"] = "changed"
    first["version"] = "changed"
    assert second == MESSAGE
    assert ce.json_to_a2a(events[0]) == MESSAGE
    assert ce.json_to_a2a_many(events) == [MESSAGE, MESSAGE]


def _texts_differing_in_one_byte() -> list[str]:
    # Every length around the reused-string limit (32 bytes) and its eight-byte steps, each text
    # differing from its neighbour in a single position: reuse must never hand back the wrong one.
    texts = []
    for length in range(1, 41):
        base = "".join("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"[i % 46] for i in range(length))
        texts.append(base)
        for position in range(length):
            texts.append(base[:position] + "_" + base[position + 1 :])
    texts.extend(["ü", "üa", "aü", "€" * 5, "x" * 15 + "ü", "x" * 31 + "€"])
    return texts


def test_reused_strings_are_the_right_ones_at_every_length() -> None:
    texts = _texts_differing_in_one_byte()
    messages = []
    for i, text in enumerate(texts):
        source = {**MESSAGE["sourceAgent"], "agentId": text, "capabilities": [text, "plan"]}
        messages.append(with_(MESSAGE, messageId=f"m{i}", sourceAgent=source, payload={text: text, "list": [text]}))
    assert ce.json_to_a2a_many(ce.a2a_to_json_many(messages)) == messages
    assert [ce.json_to_a2a(ce.a2a_to_json(m)) for m in messages] == messages


@pytest.mark.parametrize("ttl", [0, 256, 257, 300, 2**31 - 1])
def test_ttl_reads_back_as_the_same_integer_whatever_came_before(ttl: int) -> None:
    for previous in (300, ttl, 7):
        ce.json_to_a2a(ce.a2a_to_json(with_(MESSAGE, metadata={**MESSAGE["metadata"], "ttl": previous})))
        message = with_(MESSAGE, metadata={**MESSAGE["metadata"], "ttl": ttl})
        read = ce.json_to_a2a(ce.a2a_to_json(message))
        assert read == message
        assert type(read["metadata"]["ttl"]) is int


class _Key(str):
    __slots__ = ()


def _rekeyed(value: Any, make_key: Any) -> Any:
    if isinstance(value, dict):
        return {make_key(k): _rekeyed(v, make_key) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    "make_key",
    [
        lambda k: k,
        lambda k: "".join(list(k)),  # equal text, not the interned object
        _Key,
    ],
    ids=["interned", "runtime-built", "str-subclass"],
)
def test_message_keys_are_matched_by_text_whatever_the_key_object(make_key: Any) -> None:
    for message in (MESSAGE, without(MESSAGE, "targetAgent"), with_(MESSAGE, targetAgent=None)):
        rekeyed = _rekeyed(message, make_key)
        assert ce.a2a_to_json(rekeyed) == ce.a2a_to_json(message)
        assert ce.a2a_to_json_many([rekeyed, message]) == [ce.a2a_to_json(message)] * 2
        assert ce.validate_a2a(rekeyed) is None
        with raises_at("unexpected"):
            ce.validate_a2a({**rekeyed, make_key("unexpected"): 1})


@pytest.mark.parametrize(
    ("message", "path"),
    [
        ({**without(MESSAGE, "payload"), "unexpected": 1}, "payload"),
        ({**MESSAGE, "sourceAgent": {"agentId": "a", "agentType": "t", "extra": 1}}, "sourceAgent.capabilities"),
        ({**MESSAGE, "metadata": {"priority": "LOW", "ttl": 1, "extra": 1}}, "metadata.correlationId"),
    ],
)
def test_a_missing_field_is_named_before_an_unknown_one(message: dict[Any, Any], path: str) -> None:
    with raises_at(path):
        ce.a2a_to_json(message)
    assert not ce.is_valid(message)


def test_a_key_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ValidationError, match="object keys must be strings"):
        ce.a2a_to_json({**MESSAGE, 7: "not a str key"})


def test_cloudevent_binding_round_trip() -> None:
    event = {"specversion": "1.0", "id": "1", "source": "s", "type": "t", "datacontenttype": "a/b"}
    key, headers, value = to_kafka({**event, "partitionkey": "k", "data": b"xyz"})
    assert key == b"k" and value == b"xyz" and ("content-type", b"a/b") in headers
    assert from_kafka(headers, value, key) == {**event, "partitionkey": "k", "data": b"xyz"}
