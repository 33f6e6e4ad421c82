"""Round-trip properties of every CloudEvents codec: JSON, JSON many, JSON batch, Kafka, A2A."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_fast.codecs import cloudevents as ce

settings.register_profile("cloudevents", max_examples=150, deadline=None)
settings.load_profile("cloudevents")

RESERVED = {"specversion", "id", "source", "type", "time", "datacontenttype", "dataschema", "subject", "data"}


def is_string_char(c: str) -> bool:
    """CloudEvents String values allow no noncharacters (controls and surrogates are excluded below)."""
    code = ord(c)
    return not (0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE)


# Characters a CloudEvents String may hold: no control characters, surrogates or noncharacters.
string_chars = st.characters(exclude_categories=("Cc", "Cs")).filter(is_string_char)
text = st.text(string_chars, min_size=1, max_size=20)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@st.composite
def rfc3339(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30)))
    offset = draw(st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]))
    text_form = moment.replace(tzinfo=offset).isoformat()
    return text_form.replace("+00:00", "Z") if draw(st.booleans()) else text_form


extension_names = st.from_regex(r"[a-z0-9]{1,24}", fullmatch=True).filter(lambda n: n not in RESERVED)
extension_values = (
    st.text(string_chars, max_size=20) | st.integers(min_value=-(2**31), max_value=2**31 - 1) | st.booleans()
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {"specversion": "1.0", "id": draw(text), "source": draw(text), "type": draw(text)}
    if draw(st.booleans()):
        event["time"] = draw(rfc3339())
    if draw(st.booleans()):
        event["subject"] = draw(text)
    if draw(st.booleans()):
        event["dataschema"] = "https://example.com/" + draw(st.from_regex(r"[a-z0-9/]{0,10}", fullmatch=True))
    content_type = draw(
        st.sampled_from([None, "application/json", "application/vnd.x+json; charset=utf-8", "text/plain", "a/b"])
    )
    if content_type is not None:
        event["datacontenttype"] = content_type
    event.update(draw(st.dictionaries(extension_names, extension_values, max_size=4)))
    kind = draw(st.sampled_from(["none", "bytes", "value"]))
    if kind == "bytes":
        event["data"] = draw(st.binary(max_size=40))
    elif kind == "value":
        is_json = content_type is None or content_type.split(";")[0].endswith("json")
        event["data"] = draw(json_values if is_json else st.text(max_size=40))
    return event


@given(events())
def test_json_round_trip(event: dict[str, Any]) -> None:
    written = ce.to_json(event)
    assert ce.from_json(written) == event
    wire = json.loads(written)
    assert ("data_base64" in wire) == isinstance(event.get("data"), bytes)


@given(st.lists(events(), max_size=5))
def test_json_many_and_batch_round_trip(batch: list[dict[str, Any]]) -> None:
    assert ce.from_json_many(ce.to_json_many(batch)) == batch
    assert ce.from_json_batch(ce.to_json_batch(batch)) == batch


def over_kafka(event: dict[str, Any]) -> dict[str, Any]:
    """Binary mode carries attributes as text and makes an implied content type explicit."""
    out: dict[str, Any] = {}
    for name, value in event.items():
        if name == "data":
            continue
        out[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if "data" in event:
        data = event["data"]
        out.setdefault("datacontenttype", "application/octet-stream" if isinstance(data, bytes) else "application/json")
        if isinstance(data, str) and not out["datacontenttype"].split(";")[0].endswith("json"):
            data = data.encode()
        out["data"] = data
    return out


@given(events(), st.none() | st.text(string_chars, max_size=10))
def test_kafka_round_trip(event: dict[str, Any], partition_key: str | None) -> None:
    if partition_key is not None:
        event = {**event, "partitionkey": partition_key}
    if isinstance(event.get("data"), bytes) and event.get("datacontenttype", "").split(";")[0].endswith("json"):
        # Binary mode has no type marker: bytes declared as JSON are read back parsed (see the unit tests).
        event = {**event, "data": None}
    key, headers, value = ce.to_kafka(event)
    assert key == (None if partition_key is None else partition_key.encode())
    assert ce.from_kafka(headers, value, key) == over_kafka(event)
    assert ce.from_kafka_many([(headers, value, key)]) == [over_kafka(event)]


agent_ids = st.text(string_chars, min_size=1, max_size=12)
capability = st.text(string_chars, min_size=1, max_size=10).filter(lambda c: "," not in c)
agents = st.fixed_dictionaries(
    {"agentId": agent_ids, "agentType": agent_ids, "capabilities": st.lists(capability, max_size=4)}
)


@st.composite
def a2a_messages(draw: st.DrawFn) -> dict[str, Any]:
    message: dict[str, Any] = {
        "protocol": "A2A",
        "version": draw(st.sampled_from(["1.0", "2.1"])),
        "messageId": draw(agent_ids),
        "timestamp": draw(rfc3339()),
        "sourceAgent": draw(agents),
        "messageType": draw(st.sampled_from(["TASK_REQUEST", "TASK_RESULT", "HEARTBEAT"])),
        "payload": draw(json_values),
    }
    target = draw(st.sampled_from(["absent", "null", "agent"]))
    if target == "null":
        message["targetAgent"] = None
    elif target == "agent":
        message["targetAgent"] = draw(agents)
    metadata: dict[str, Any] = {
        "priority": draw(st.sampled_from(["HIGH", "NORMAL", "LOW"])),
        "ttl": draw(st.integers(min_value=0, max_value=2**31 - 1)),
        "correlationId": draw(agent_ids),
    }
    for field in ("collaborationId", "traceparent"):
        choice = draw(st.sampled_from(["absent", "null", "text"]))
        if choice != "absent":
            metadata[field] = None if choice == "null" else draw(agent_ids)
    message["metadata"] = metadata
    return message


@given(a2a_messages())
def test_a2a_round_trip_is_lossless(message: dict[str, Any]) -> None:
    assert ce.is_valid(message)
    event = ce.from_a2a(message)
    assert ce.to_a2a(event) == message
    assert ce.json_to_a2a(ce.a2a_to_json(message)) == message
    assert json.loads(ce.a2a_to_json(message)) == json.loads(ce.to_json(event))
    key, headers, value = ce.to_kafka(event)
    assert ce.to_a2a(ce.from_kafka(headers, value, key)) == message


@given(st.lists(a2a_messages(), max_size=5))
def test_a2a_batch_round_trip(messages: list[dict[str, Any]]) -> None:
    assert ce.json_to_a2a_many(ce.a2a_to_json_many(messages)) == messages
    assert ce.to_a2a_many(ce.from_a2a_many(messages)) == messages


@given(a2a_messages())
def test_bytes_conversions_agree_with_the_dict_functions(message: dict[str, Any]) -> None:
    event = ce.a2a_json_to_event_json(json.dumps(message).encode())
    assert event == ce.a2a_to_json(message)
    back = ce.event_json_to_a2a_json(event)
    assert json.loads(back) == ce.json_to_a2a(event) == message


@given(st.lists(a2a_messages(), max_size=5))
def test_bytes_conversions_many(messages: list[dict[str, Any]]) -> None:
    events = ce.a2a_json_to_event_json_many([json.dumps(m).encode() for m in messages])
    assert events == ce.a2a_to_json_many(messages)
    assert [json.loads(b) for b in ce.event_json_to_a2a_json_many(events)] == messages


@given(st.binary(max_size=200))
def test_decoders_raise_only_typed_errors(data: bytes) -> None:
    for decode in (
        ce.from_json,
        ce.from_json_batch,
        ce.json_to_a2a,
        ce.a2a_json_to_event_json,
        ce.event_json_to_a2a_json,
    ):
        with contextlib.suppress(ce.ValidationError, ce.DecodeError):
            decode(data)
