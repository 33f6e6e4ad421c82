"""The native envelope calls (EnvelopeDecoder, EnvelopeEncoder) against the per-record Python path."""

from __future__ import annotations

import re
from typing import Any

import pytest
from confluent_kafka import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_fast._native import EnvelopeDecoder, EnvelopeEncoder
from a2a_fast.codecs.avro import Codec
from a2a_fast.config import MessageConfig
from a2a_fast.errors import DecodeError, ValidationError
from a2a_fast.protocol.envelope import Envelope, Inbound
from a2a_fast.protocol.kinds import KIND_NEGOTIATION, KIND_TASK_REQUEST, KIND_TASK_RESPONSE, MESSAGE_KINDS
from a2a_fast.protocol.limits import MessageLimits
from a2a_fast.protocol.topics import TopicNames
from tests.unit.test_agents_runtime import REQUEST, FakeCatalog

SENT = 1_735_787_045.678  # 2025-01-02T03:04:05.678Z
RESPONSE = {
    "task_id": "t-1",
    "responder_id": "p",
    "status": "RUNNING",
    "agreed_cost": 3.5,
    "progress": 0.5,
    "parameters": {},
    "round": 1,
    "timestamp": 1,
}


def general(envelope: Envelope) -> Envelope:
    """``envelope`` made to encode through the general path only (no native encoder)."""
    for kind in MESSAGE_KINDS:
        codec, uri, topic, _ = envelope._writer(kind)
        envelope._writers[kind] = (codec, uri, topic, None)
    return envelope


def outcome(call: Any) -> Any:
    try:
        return call()
    except ValueError as error:
        return (type(error), str(error))


texts = st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["", "HIGH", "p-1", "a\x01", "\ufdd0", "é"]))


@settings(max_examples=300)
@given(
    kind=st.sampled_from([KIND_TASK_REQUEST, KIND_TASK_RESPONSE]),
    task_id=st.one_of(st.text(min_size=1, max_size=6), st.sampled_from(["t\x00", "t\x7f", ""])),
    event_id=st.one_of(st.none(), st.text(max_size=6)),
    target=texts,
    collaboration=texts,
    trace=texts,
    priority=texts,
    ttl=st.one_of(st.none(), st.integers(-(2**40), 2**40), st.sampled_from([0, 2**31 - 1, 2**31, -(2**31)])),
    cost=st.one_of(st.floats(allow_nan=False), st.text(max_size=2)),
)
def test_native_encoding_equals_the_general_path(
    kind: str,
    task_id: str,
    event_id: str | None,
    target: str | None,
    collaboration: str | None,
    trace: str | None,
    priority: str | None,
    ttl: int | None,
    cost: Any,
) -> None:
    native = Envelope(FakeCatalog(), TopicNames("n."), "agent-1")
    reference = general(Envelope(FakeCatalog(), TopicNames("n."), "agent-1"))
    record = {**(REQUEST if kind == KIND_TASK_REQUEST else RESPONSE), "task_id": task_id}
    record["proposed_cost" if kind == KIND_TASK_REQUEST else "agreed_cost"] = cost
    options = {
        "target_agent": target,
        "collaboration_id": collaboration,
        "traceparent": trace,
        "event_id": event_id or "fixed",
        "priority": priority,
        "ttl": ttl,
    }
    got = outcome(lambda: native.encode(kind, record, **options))
    expected = outcome(lambda: reference.encode(kind, record, **options))
    if isinstance(expected, tuple):
        assert got == expected
        return
    assert not isinstance(got, tuple), got
    assert (got.topic, got.key, got.value) == (expected.topic, expected.key, expected.value)
    assert [name for name, _ in got.headers] == [name for name, _ in expected.headers]
    for (name, value), (_, wanted) in zip(got.headers, expected.headers, strict=True):
        if name == "ce_time":
            assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value), value
        else:
            assert value == wanted, name


def test_encoder_refuses_constant_attributes_that_break_cloudevents_rules() -> None:
    codec = Codec(FakeCatalog().schemas[KIND_TASK_REQUEST], 100)
    constants = {
        "source": "a2a://agents/a",
        "ce_type": KIND_TASK_REQUEST,
        "dataschema": "http://r/schemas/ids/100",
        "protocolversion": "0.3",
        "messagetype": "TaskRequest",
        "sourceagent": "a",
    }
    EnvelopeEncoder(codec, **constants)
    with pytest.raises(ValidationError, match="sourceagent: control character"):
        EnvelopeEncoder(codec, **{**constants, "sourceagent": "a\x01"})
    with pytest.raises(ValidationError, match="dataschema"):
        EnvelopeEncoder(codec, **{**constants, "dataschema": "no scheme"})
    # the general path reports the same agent id on every call instead
    envelope = Envelope(FakeCatalog(), TopicNames(), "a\x01")
    with pytest.raises(ValidationError, match="source: control character"):
        envelope.encode(KIND_TASK_REQUEST, REQUEST)


def test_encoder_leaves_unusual_arguments_to_the_general_path() -> None:
    encoder = Envelope(FakeCatalog(), TopicNames(), "a")._writer(KIND_TASK_REQUEST)[3]
    assert encoder is not None
    key, headers, value = encoder.encode(REQUEST, "t-1", "e", "p", None, None, "", 5) or ((), (), ())
    assert key == b"t-1" and value[:5] == b"\x00\x00\x00\x00\x64"
    assert dict(headers)["ce_ttl"] == b"5" and dict(headers)["ce_priority"] == b""
    for unusual in [{"ttl": True}, {"ttl": 2**31}, {"ttl": "5"}, {"target_agent": 7}, {"priority": "a\n"}]:
        args = {"target_agent": None, "priority": None, "ttl": None, **unusual}
        assert (
            encoder.encode(REQUEST, "t-1", "e", args["target_agent"], None, None, args["priority"], args["ttl"]) is None
        )
    assert encoder.encode(REQUEST, 7, "e") is None
    with pytest.raises(ValidationError, match="proposed_cost"):
        encoder.encode({**REQUEST, "proposed_cost": "x"}, "t-1", "e")


def decoder() -> tuple[EnvelopeDecoder, FakeCatalog]:
    catalog = FakeCatalog()
    found = EnvelopeDecoder([(kind, spec.record, []) for kind, spec in MESSAGE_KINDS.items()], Inbound)
    for kind in MESSAGE_KINDS:
        found.set_reader(kind, catalog.reader_codec(kind))
    return found, catalog


def test_decoder_asks_for_writer_schemas_it_does_not_know() -> None:
    native, catalog = decoder()
    out = Envelope(catalog, TopicNames(), "r").encode(KIND_TASK_REQUEST, REQUEST, event_id="e")
    record = Message(topic="x", partition=0, offset=4, key=out.key, value=out.value, headers=out.headers)
    junk = Message(topic="x", value=b"\x01\x02")
    assert native.unknown_schema_ids([record, junk, record]) == [100] and not native.knows(100)
    items, pending = native.decode_many([record, junk])
    assert items[0] == 100 and isinstance(items[1], DecodeError) and pending == [0, 1]
    native.add_writer(100, *catalog.cached_schema(100) or ("", Codec("null")))
    assert native.knows(100) and native.unknown_schema_ids([record]) == []
    items, pending = native.decode_many([record])
    assert pending == [] and isinstance(items[0], Inbound)
    assert (items[0].kind, items[0].record, items[0].offset, items[0].priority) == (KIND_TASK_REQUEST, REQUEST, 4, None)
    with pytest.raises(KeyError):
        native.set_reader("a2a.unknown", catalog.reader_codec(KIND_TASK_REQUEST))
    assert native.reader(KIND_NEGOTIATION) is not None


def test_decoder_leaves_what_its_rules_refuse_to_the_per_record_path() -> None:
    native, catalog = decoder()
    native.add_writer(100, *catalog.cached_schema(100) or ("", Codec("null")))
    out = Envelope(catalog, TopicNames(), "r").encode(KIND_TASK_REQUEST, REQUEST, event_id="e")
    time_at = next(n for n, (name, _) in enumerate(out.headers) if name == "ce_time")
    headers = list(out.headers)
    headers[time_at] = ("ce_time", b"2025-01-02T03:04:05.678Z")
    fresh = Message(key=out.key, value=out.value, headers=headers)
    other_key = Message(key=b"t-2", value=out.value, headers=headers)
    items, pending = native.decode_many([fresh, other_key], (1000, 60.0, SENT + 59.0))
    assert pending == [1] and isinstance(items[0], Inbound) and items[1] is None
    items, pending = native.decode_many([fresh], (1000, 60.0, SENT + 61.0))
    assert items == [None] and pending == [0]
    items, pending = native.decode_many([fresh], (10, 60.0, SENT))
    assert items == [None] and pending == [0]


def mutate(headers: list[tuple[str, bytes]], changes: list[tuple[int, str, Any]]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = list(headers)
    for position, action, payload in changes:
        if not out:
            break
        at = position % len(out)
        name, value = out[at]
        if action == "drop":
            del out[at]
        elif action == "value":
            out[at] = (name, payload[1] if isinstance(payload, tuple) else payload)
        elif action == "upper":
            out[at] = (name.upper(), value)
        elif action == "add":
            out.append(payload if isinstance(payload, tuple) else ("ce_x", payload))
    return out


header_values = st.one_of(
    st.binary(max_size=6),
    st.text(max_size=6),
    st.none(),
    st.sampled_from(
        [
            b"",
            b"A2A",
            b"a2a.task.response",
            b"application/avro",
            b"application/json",
            b"2025-01-02T03:04:05.678Z",
            b"2025-01-02T03:04:05+01:00",
            b"2025-01-02T03:04:05.1234567Z",
            b"2025-01-02t03:04:05z",
            b"2025-01-02T03:04:60Z",
            b"0001-01-01T00:00:00Z",
            b"30",
            b"0",
            b"1e3",
            b"\xff",
        ]
    ),
)
extra_headers = st.tuples(
    st.sampled_from(
        ["ce_ttl", "ce_priority", "ce_time", "ce_x", "CE_TTL", "ce_data", "ce_targetagent", "content-type"]
    ),
    header_values,
)


@settings(max_examples=400)
@given(
    kind=st.sampled_from([KIND_TASK_REQUEST, KIND_TASK_RESPONSE]),
    changes=st.lists(
        st.tuples(
            st.integers(0, 30),
            st.sampled_from(["drop", "value", "upper", "add"]),
            st.one_of(header_values, extra_headers),
        ),
        max_size=4,
    ),
    key=st.one_of(st.none(), st.just(b"t-1"), st.binary(max_size=4)),
    cut=st.one_of(st.none(), st.integers(0, 60)),
    schema_id=st.sampled_from([None, 100, 101, 102, 7]),
    limits=st.sampled_from([None, (300, 60, SENT + 30), (300, 60, SENT + 61), (60, 0, SENT), (300, 100_000_000, 0.0)]),
    cost=st.sampled_from([1.0, -1.0, float("nan"), 0.0]),
    progress=st.sampled_from([None, 0.0, 1.0, 1.5, -0.0]),
)
def test_native_decoding_equals_decode_of_each_record(
    kind: str,
    changes: list[tuple[int, str, Any]],
    key: Any,
    cut: int | None,
    schema_id: int | None,
    limits: tuple[int, int, float] | None,
    cost: float,
    progress: float | None,
) -> None:
    bounds = None
    if limits is not None:
        config = MessageConfig(max_message_bytes=limits[0], default_ttl_seconds=limits[1])
        bounds = MessageLimits(config, clock=lambda: limits[2])
    envelope = Envelope(FakeCatalog(), TopicNames(), "r", bounds)
    if kind == KIND_TASK_REQUEST:
        record = {**REQUEST, "proposed_cost": cost}
    else:
        record = {**RESPONSE, "agreed_cost": cost, "progress": progress}
    out = envelope.encode(kind, record, event_id="e-1", target_agent="p", priority="HIGH")
    headers = [(name, b"2025-01-02T03:04:05.678Z" if name == "ce_time" else value) for name, value in out.headers]
    value = out.value if cut is None else out.value[:cut]
    if schema_id is not None and len(value) >= 5:
        value = value[:1] + schema_id.to_bytes(4, "big") + value[5:]
    message = Message(topic="x", partition=2, offset=9, key=key, value=value, headers=mutate(headers, changes))
    [got] = envelope.decode_many([message])
    expected = outcome(lambda: envelope.decode(message.key(), message.headers(), message.value(), "x", 2, 9))
    if isinstance(expected, tuple):
        assert isinstance(got, ValueError) and (type(got), str(got)) == expected
    else:
        assert got == expected
