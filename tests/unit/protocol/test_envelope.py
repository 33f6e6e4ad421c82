"""The native envelope calls (EnvelopeDecoder, EnvelopeEncoder) against the general encoding path and
against the envelope's rules as the Python package applied them."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

import pytest
from confluent_kafka import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from a2a_fast._native import EnvelopeDecoder, EnvelopeEncoder
from a2a_fast.codecs.avro import Codec, schema_id_of
from a2a_fast.codecs.avro import schema_id_of as read_schema_id
from a2a_fast.codecs.cloudevents import from_kafka
from a2a_fast.config import MessageConfig
from a2a_fast.errors import (
    DecodeError,
    MessageExpiredError,
    MessageTooLargeError,
    SchemaError,
    ValidationError,
)
from a2a_fast.protocol.envelope import Envelope, Inbound, header_text, header_texts
from a2a_fast.protocol.kinds import KIND_NEGOTIATION, KIND_TASK_REQUEST, KIND_TASK_RESPONSE, MESSAGE_KINDS
from a2a_fast.protocol.limits import MessageLimits
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport.registry import default_schemas, full_name

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


# --- decoding: the native rules against the envelope's rules as Python applied them ----------------
#
# The oracle below is the per-record path the package had before the rules moved into the core, kept here
# as an independent statement of them. Where the core now reads more than Python's datetime and float did,
# the oracle says so: a time with a lowercase ``z``, a leap second or year 0000 (all RFC 3339) is measured
# rather than refused, and a ttl is read in ASCII digits only (float() also took other scripts' digits).


def oracle_epoch(text: str) -> float:
    match = re.fullmatch(r"(\d{4})(-\d\d-\d\d[Tt]\d\d:\d\d:)(\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)", text)
    if match is None:
        raise ValidationError(f"time: {text!r} is not an RFC 3339 timestamp")
    year, middle, second, fraction, zone = match.groups()
    # year 0 is read 400 years (146097 days) later; a leap second as the second after :59
    shift = -146_097 * 86_400 if year == "0000" else 0
    leap = 1 if second == "60" else 0
    normal = f"{int(year) or 400:04d}{middle}{min(int(second), 59):02d}{fraction or ''}{zone.upper()}"
    try:
        return dt.datetime.fromisoformat(normal).timestamp() + shift + leap
    except ValueError:
        raise ValidationError(f"time: {text!r} is not an RFC 3339 timestamp") from None


def oracle_check_age(config: MessageConfig, now: float, sent: str | float | None, ttl: str | float | None) -> None:
    if sent is None or sent == "":
        return
    if ttl is None or ttl == "":
        limit, origin = float(config.default_ttl_seconds), "messages.default_ttl_seconds"
    else:
        try:
            if isinstance(ttl, str) and not ttl.isascii():
                raise ValueError(ttl)
            limit, origin = float(ttl), "its ttl"
        except ValueError:
            raise ValidationError(f"ttl: {ttl!r} is not a number of seconds") from None
        if limit == 0:
            return
    moment = sent if isinstance(sent, float | int) else oracle_epoch(sent)
    age = now - moment
    if age > limit:
        raise MessageExpiredError(f"message expired: sent {age:.1f}s ago, {origin} is {limit:g}s")


def oracle_decode(
    envelope: Envelope,
    key: bytes | None,
    headers: Any,
    value: bytes | None,
    where: tuple[str, int, int],
    now: float,
    check_age: bool = True,
) -> Inbound:
    config = envelope.limits.config if envelope.limits is not None else None
    if config is not None and len(value or b"") > config.max_message_bytes:
        size, limit = len(value or b""), config.max_message_bytes
        raise MessageTooLargeError(f"message is {size} bytes, more than messages.max_message_bytes={limit}")
    event = from_kafka(list(headers.items() if isinstance(headers, dict) else headers or ()), value, key)
    for required in ("id", "source", "type"):
        if not event.get(required):
            raise ValidationError(f"CloudEvent attribute {required!r} is missing (header ce_{required})")
    if config is not None and check_age:
        oracle_check_age(config, now, event.get("time"), event.get("ttl"))
    kind = event["type"]
    if kind not in MESSAGE_KINDS:
        raise ValidationError(f"ce_type {kind!r} is not an A2A message type")
    if event.get("protocol") != "A2A":
        raise ValidationError(f"ce_protocol {event.get('protocol')!r} is not A2A")
    if event.get("datacontenttype") != "application/avro":
        raise ValidationError(f"content-type {event.get('datacontenttype')!r} is not application/avro")
    if not event.get("sourceagent"):
        raise ValidationError("CloudEvent attribute 'sourceagent' is missing (header ce_sourceagent)")
    data = event.get("data")
    if not isinstance(data, bytes):
        raise ValidationError(f"CloudEvent data is {type(data).__name__}, expected Avro bytes")
    schema_id = schema_id_of(data)
    known = envelope.catalog.cached_schema(schema_id)
    if known is None:
        raise SchemaError(f"schema id {schema_id} is unknown to the registry")
    name, writer = known
    expected = MESSAGE_KINDS[kind].record
    if name.rsplit(".", 1)[-1] != expected:
        raise ValidationError(f"schema id {schema_id} is a {name} schema, ce_type {kind} needs {expected}")
    record = envelope.catalog.reader_codec(kind).decode(data, writer)
    task_id = record.get("task_id") or ""
    if key is not None and key.decode(errors="replace") != task_id:
        raise ValidationError(f"record key {key!r} differs from field task_id {task_id!r}")
    if not record.get("task_id"):
        raise ValidationError("field 'task_id' is empty")
    for name in ("proposed_cost", "counter_offer", "agreed_cost", "offer"):
        amount = record.get(name)
        if amount is not None and not amount >= 0:
            raise ValidationError(f"field {name!r} is {amount}, expected a cost >= 0")
    progress = record.get("progress")
    if progress is not None and not 0.0 <= progress <= 1.0:
        raise ValidationError(f"field 'progress' is {progress}, expected 0.0 to 1.0")
    if kind == KIND_TASK_REQUEST and not record.get("capability"):
        raise ValidationError("field 'capability' is empty")
    topic, partition, offset = where
    return Inbound(
        kind,
        record,
        event["id"],
        task_id,
        event["sourceagent"],
        event.get("targetagent"),
        event.get("collaborationid"),
        event.get("traceparent"),
        schema_id,
        topic,
        partition,
        offset,
        event.get("priority") or None,
        event.get("targetgroup") or None,
    )


def decoder() -> tuple[EnvelopeDecoder, FakeCatalog]:
    catalog = FakeCatalog()
    found = EnvelopeDecoder([(kind, spec.record) for kind, spec in MESSAGE_KINDS.items()], Inbound)
    for kind in MESSAGE_KINDS:
        found.set_reader(kind, catalog.reader_codec(kind))
    return found, catalog


def test_decoder_asks_for_writer_schemas_it_does_not_know() -> None:
    native, catalog = decoder()
    out = Envelope(catalog, TopicNames(), "r").encode(KIND_TASK_REQUEST, REQUEST, event_id="e")
    record = Message(topic="x", partition=0, offset=4, key=out.key, value=out.value, headers=out.headers)
    junk = Message(topic="x", value=b"\x01\x02")
    assert native.unknown_schema_ids([record, junk, record]) == [100] and not native.knows(100)
    unknown, broken = native.decode_many([record, junk])
    assert isinstance(unknown, SchemaError) and str(unknown) == "schema id 100 is unknown to the registry"
    assert isinstance(broken, DecodeError)
    asked: list[int] = []

    def writers(schema_id: int) -> tuple[str, Codec] | None:
        asked.append(schema_id)
        return catalog.cached_schema(schema_id)

    [found, again] = native.decode_many([record, record], None, True, writers)
    assert asked == [100] and native.knows(100) and native.unknown_schema_ids([record]) == []
    assert isinstance(found, Inbound) and found == again
    assert (found.kind, found.record, found.offset, found.priority, found.target_group) == (
        KIND_TASK_REQUEST,
        REQUEST,
        4,
        None,
        None,
    )
    with pytest.raises(KeyError):
        native.set_reader("a2a.unknown", catalog.reader_codec(KIND_TASK_REQUEST))
    assert native.reader(KIND_NEGOTIATION) is not None


def test_decoder_fills_the_target_group_and_gives_a_kinds_missing_reader_error() -> None:
    native, catalog = decoder()
    native.add_writer(101, *catalog.cached_schema(101) or ("", Codec("null")))
    envelope = Envelope(catalog, TopicNames(), "r")
    out = envelope.encode(KIND_TASK_RESPONSE, RESPONSE, event_id="e", target_group="executors.x")
    record = Message(topic="x", partition=1, offset=2, key=out.key, value=out.value, headers=out.headers)
    [found] = native.decode_many([record])
    assert isinstance(found, Inbound) and found.target_group == "executors.x"
    missing = SchemaError("no registered schema for 'a2a.task.response': call register() first")
    native.set_reader_error(KIND_TASK_RESPONSE, missing)
    assert native.decode_many([record]) == [missing] and native.reader(KIND_TASK_RESPONSE) is None
    given = native.decode(out.key, out.headers, out.value, "t", 7, 8)
    assert given is missing


def test_envelope_decode_raises_what_decode_many_returns() -> None:
    clock = [SENT + 61.0]
    limits = MessageLimits(MessageConfig(max_message_bytes=300, default_ttl_seconds=60), clock=lambda: clock[0])
    envelope = Envelope(FakeCatalog(), TopicNames(), "r", limits)
    out = envelope.encode(KIND_TASK_REQUEST, REQUEST, event_id="e")
    headers = [(name, b"2025-01-02T03:04:05.678Z" if name == "ce_time" else value) for name, value in out.headers]
    record = Message(topic="x", partition=3, offset=5, key=out.key, value=out.value, headers=headers)
    [expired] = envelope.decode_many([record])
    assert isinstance(expired, MessageExpiredError)
    assert str(expired) == "message expired: sent 61.0s ago, messages.default_ttl_seconds is 60s"
    with pytest.raises(MessageExpiredError, match=r"^message expired: sent 61\.0s ago"):
        envelope.decode(out.key, headers, out.value)
    found = envelope.decode_record(record, check_age=False)
    assert isinstance(found, Inbound) and (found.topic, found.partition, found.offset) == ("x", 3, 5)
    given = envelope.decode(out.key, dict(headers), out.value, "t", -1, -1, check_age=False)
    assert (given.topic, given.partition, given.offset) == ("t", -1, -1)
    clock[0] = SENT
    assert envelope.decode_many([record]) == [found]
    big = Message(key=out.key, value=out.value + b"x" * 300, headers=headers)
    [too_large] = envelope.decode_many([big])
    assert isinstance(too_large, MessageTooLargeError) and str(too_large).startswith("message is ")


def test_message_limits_apply_the_core_rules() -> None:
    limits = MessageLimits(MessageConfig(default_ttl_seconds=60, max_message_bytes=100), clock=lambda: SENT)
    with pytest.raises(MessageTooLargeError, match=r"^message is 101 bytes, more than messages.max_message_bytes=100$"):
        limits.check_size(101)
    with pytest.raises(MessageExpiredError, match=r"^message expired: sent 11.0s ago, its ttl is 10s$"):
        limits.check_age(SENT - 11, 10)
    with pytest.raises(ValidationError, match=r"""^ttl: "it's" is not a number of seconds$"""):
        limits.check_age("2025-01-02T03:04:05Z", "it's")
    with pytest.raises(ValidationError, match=r"^time: 'yesterday' is not an RFC 3339 timestamp$"):
        limits.check_age("yesterday", "5")
    limits.check_age("2025-01-02T03:04:05.678z", "1e-3")
    limits.check_age(None, "soon")


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


def assigned(text: str) -> bool:
    """Whether every character of ``text`` has a meaning in the Unicode version Python's ``repr`` knows:
    an unassigned one is escaped by it, while the core's newer tables may print it."""
    return all(unicodedata.category(c) != "Cn" for c in text)


header_values = st.one_of(
    st.binary(max_size=6),
    st.text(max_size=6).filter(assigned),
    st.none(),
    st.sampled_from(
        [
            b"",
            b"A2A",
            b"a2a.task.response",
            b"a2a.Task.Request",
            b"application/avro",
            b"application/json",
            b"2025-01-02T03:04:05.678Z",
            b"2025-01-02T03:04:05+01:00",
            b"2025-01-02T03:04:05.1234567Z",
            b"2025-01-02t03:04:05z",
            b"2025-01-02T03:04:60Z",
            b"2016-12-31T23:59:60.5-00:30",
            b"0001-01-01T00:00:00Z",
            b"0000-03-01T00:00:00+01:00",
            b"30",
            b"0",
            b"1e3",
            b" 1_0.5 ",
            b"nan",
            b"-inf",
            "\u0663\u0660".encode(),
            b"it's",
            b"\xff",
            b"providers.x",
        ]
    ),
)
extra_headers = st.tuples(
    st.sampled_from(
        [
            "ce_ttl",
            "ce_priority",
            "ce_time",
            "ce_x",
            "CE_TTL",
            "ce_data",
            "ce_targetagent",
            "ce_targetgroup",
            "content-type",
        ]
    ),
    header_values,
)


@settings(max_examples=500)
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
    check_age=st.booleans(),
    task_id=st.sampled_from(["t-1", "", "t'1"]),
    capability=st.sampled_from(["summarize", ""]),
    cost=st.sampled_from([1.0, -1.0, float("nan"), 0.0, -1e-05, 1e16]),
    progress=st.sampled_from([None, 0.0, 1.0, 1.5, -0.0]),
)
def test_native_decoding_gives_what_the_python_rules_gave(
    kind: str,
    changes: list[tuple[int, str, Any]],
    key: Any,
    cut: int | None,
    schema_id: int | None,
    limits: tuple[int, int, float] | None,
    check_age: bool,
    task_id: str,
    capability: str,
    cost: float,
    progress: float | None,
) -> None:
    bounds = None
    now = limits[2] if limits is not None else 0.0
    if limits is not None:
        config = MessageConfig(max_message_bytes=limits[0], default_ttl_seconds=limits[1])
        bounds = MessageLimits(config, clock=lambda: now)
    envelope = Envelope(FakeCatalog(), TopicNames(), "r", bounds)
    if kind == KIND_TASK_REQUEST:
        record = {**REQUEST, "task_id": task_id, "capability": capability, "proposed_cost": cost}
    else:
        record = {**RESPONSE, "task_id": task_id, "agreed_cost": cost, "progress": progress}
    out = envelope.encode_parts(kind, {**record, "task_id": "t-1"}, event_id="e-1", target_agent="p")
    _, _, out_headers, out_value = out
    value = Codec(FakeCatalog().schemas[kind], 100 if kind == KIND_TASK_REQUEST else 101).encode(record)
    assert value[:5] == out_value[:5]
    headers = [(name, b"2025-01-02T03:04:05.678Z" if name == "ce_time" else value) for name, value in out_headers]
    value = value if cut is None else value[:cut]
    if schema_id is not None and len(value) >= 5:
        value = value[:1] + schema_id.to_bytes(4, "big") + value[5:]
    message = Message(topic="x", partition=2, offset=9, key=key, value=value, headers=mutate(headers, changes))
    [got] = envelope.decode_many([message]) if check_age else [envelope.decode_record(message, check_age=False)]
    expected = outcome(
        lambda: oracle_decode(envelope, message.key(), message.headers(), message.value(), ("x", 2, 9), now, check_age)
    )
    if isinstance(expected, tuple):
        assert isinstance(got, ValueError) and (type(got), str(got)) == expected
    else:
        assert got == expected


def test_native_decoding_of_edited_records_gives_what_the_python_rules_gave() -> None:
    """Every byte of a valid record's headers and value removed or replaced in turn."""
    config = MessageConfig(max_message_bytes=400, default_ttl_seconds=60)
    envelope = Envelope(FakeCatalog(), TopicNames(), "r", MessageLimits(config, clock=lambda: SENT + 30))
    out = envelope.encode(KIND_TASK_REQUEST, REQUEST, event_id="e", target_agent="p", priority="LOW", ttl=90)
    headers = [(name, b"2025-01-02T03:04:05.678Z" if name == "ce_time" else value) for name, value in out.headers]
    records = []
    for at, (name, value) in enumerate(headers):
        for position in range(len(value)):
            for edit in (b"", b"\x00", b"'", b"9", b"\xff", b"Z"):
                edited = list(headers)
                edited[at] = (name, value[:position] + edit + value[position + 1 :])
                records.append(Message(topic="t", partition=0, offset=1, key=out.key, value=out.value, headers=edited))
    for position in range(len(out.value)):
        for edit in (b"", b"\x00", b"\x02", b"\xff"):
            value = out.value[:position] + edit + out.value[position + 1 :]
            records.append(Message(topic="t", partition=0, offset=1, key=out.key, value=value, headers=headers))
    got = envelope.decode_many(records)
    kinds = set()
    where = ("t", 0, 1)
    for message, found in zip(records, got, strict=True):
        expected = outcome(lambda m=message: oracle_decode(envelope, m.key(), m.headers(), m.value(), where, SENT + 30))
        if isinstance(expected, tuple):
            assert isinstance(found, ValueError) and (type(found), str(found)) == expected, message.headers()
            kinds.add(expected[0])
        else:
            assert found == expected
    assert kinds >= {DecodeError, ValidationError, MessageExpiredError}, kinds


class FakeCatalog:
    """The registry side of the envelope, with fixed ids."""

    def __init__(self) -> None:
        self.schemas = default_schemas()
        self.ids = {kind: 100 + n for n, kind in enumerate(self.schemas)}

    def writer_codec(self, kind: str) -> Codec:
        return Codec(self.schemas[kind], self.ids[kind])

    reader_codec = writer_codec

    def schema_uri(self, kind: str) -> str:
        return f"http://registry.test/schemas/ids/{self.ids[kind]}?subject={kind}-value"

    def cached_schema(self, schema_id: int) -> tuple[str, Codec] | None:
        for kind, known in self.ids.items():
            if known == schema_id:
                return full_name(self.schemas[kind]), Codec(self.schemas[kind])
        return None


REQUEST = {
    "task_id": "t-1",
    "requester_id": "r",
    "description": "Summarise ✓",
    "capability": "summarize",
    "proposed_cost": 12.5,
    "priority": 1,
    "parameters": {"a": "b"},
    "timestamp": 1_700_000_000_000,
}


def test_envelope_round_trip_in_binary_content_mode() -> None:
    envelope = Envelope(FakeCatalog(), TopicNames("x."), "requester-1")
    out = envelope.encode(KIND_TASK_REQUEST, REQUEST, target_agent="p", traceparent="00-ab-cd-01", event_id="e1")
    headers = dict(out.headers)
    assert out.topic == "x.task-requests" and out.key == b"t-1"
    assert headers["ce_id"] == b"e1" and headers["content-type"] == b"application/avro"
    assert headers["ce_dataschema"] == b"http://registry.test/schemas/ids/100?subject=a2a.task.request-value"
    assert read_schema_id(out.value) == 100
    inbound = envelope.decode(out.key, out.headers, out.value, "x.task-requests", 2, 9)
    assert inbound.record == REQUEST
    assert (inbound.event_id, inbound.source_agent, inbound.target_agent) == ("e1", "requester-1", "p")
    assert (inbound.traceparent, inbound.partition, inbound.offset) == ("00-ab-cd-01", 2, 9)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda h, v, k: (h[:-1], v, k), ValidationError, "missing"),
        (lambda h, v, k: (h, b"\x01" + v[1:], k), DecodeError, "magic byte"),
        (lambda h, v, k: (h, v[:3], k), DecodeError, "shorter than the 5-byte wire header"),
        (lambda h, v, k: (h, v[:5] + b"\xff", k), DecodeError, "at byte 6"),
        (lambda h, v, k: (h, b"\x00\x00\x00\x00\x07" + v[5:], k), SchemaError, "unknown"),
        (lambda h, v, k: (h, v, b"other"), ValidationError, "differs"),
        (lambda h, v, k: ([(n, b"\xff" if n == "ce_type" else x) for n, x in h], v, k), ValidationError, "UTF-8"),
        (lambda h, v, k: ([(n, b"a2a.other" if n == "ce_type" else x) for n, x in h], v, k), ValidationError, "type"),
    ],
)
def test_envelope_rejects_bad_records_naming_the_problem(change: Any, error: type[Exception], message: str) -> None:
    envelope = Envelope(FakeCatalog(), TopicNames(), "requester-1")
    out = envelope.encode(KIND_TASK_REQUEST, REQUEST)
    headers = sorted(out.headers, key=lambda pair: pair[0] == "ce_specversion")  # specversion last
    bad_headers, bad_value, bad_key = change(headers, out.value, out.key)
    with pytest.raises(error, match=message):
        envelope.decode(bad_key, bad_headers, bad_value)


@given(st.binary(max_size=64), st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=8)), max_size=6))
def test_envelope_never_fails_other_than_with_a2a_errors(value: bytes, headers: list[tuple[str, bytes]]) -> None:
    envelope = Envelope(FakeCatalog(), TopicNames(), "r")
    with pytest.raises(ValueError):
        envelope.decode(b"k", [*headers, ("ce_specversion", b"1.0")], value)


BAD_RECORDS = [
    lambda h, v, k: (h[:-1], v, k),
    lambda h, v, k: (h, b"\x01" + v[1:], k),
    lambda h, v, k: (h, v[:5] + b"\xff", k),
    lambda h, v, k: (h, b"\x00\x00\x00\x00\x07" + v[5:], k),
    lambda h, v, k: (h, v, b"other"),
    lambda h, v, k: ([(n, b"a2a.other" if n == "ce_type" else x) for n, x in h], v, k),
    lambda h, v, k: ([], b"not json", k),
    lambda h, v, k: (h, v + bytes(400), k),  # over the limit below, when there is one
    lambda h, v, k: ([(n, b"2000-01-01T00:00:00.000Z" if n == "ce_time" else x) for n, x in h], v, k),
]


@pytest.mark.parametrize("limits", [None, MessageLimits(MessageConfig(max_message_bytes=300))])
@given(choices=st.lists(st.sampled_from([None, *range(len(BAD_RECORDS))]), min_size=1, max_size=12))
def test_decode_many_gives_each_record_what_decode_gives_it(
    limits: MessageLimits | None, choices: list[int | None]
) -> None:
    envelope = Envelope(FakeCatalog(), TopicNames(), "requester-1", limits)
    batch = []
    for offset, choice in enumerate(choices):
        out = envelope.encode(KIND_TASK_REQUEST, {**REQUEST, "task_id": f"t-{offset}"}, event_id=f"e{offset}")
        headers, value, key = (out.headers, out.value, out.key)
        if choice is not None:
            headers, value, key = BAD_RECORDS[choice](headers, value, key)
        batch.append(Message(topic="x", partition=1, offset=offset, key=key, value=value, headers=headers))
    for message, got in zip(batch, envelope.decode_many(batch), strict=True):
        try:
            expected: Any = envelope.decode(message.key(), message.headers(), message.value(), "x", 1, message.offset())
        except ValueError as error:
            expected = error
        if isinstance(expected, ValueError):
            assert type(got) is type(expected) and _same_moment(str(got)) == _same_moment(str(expected))
        else:
            assert got == expected


def _same_moment(reason: str) -> str:
    """An expiry reason with its age blanked: the two decodes read the clock a moment apart."""
    return re.sub(r"sent [0-9.]+s ago", "sent Ns ago", reason)


def test_header_texts_reads_two_headers_as_header_text_reads_each() -> None:
    headers = [("a", b"1"), ("b", None), ("a", b"2"), ("c", "3"), ("b", b"4")]
    for first, second in (("a", "b"), ("b", "a"), ("c", "z"), ("z", "c"), ("z", "y")):
        assert header_texts(headers, first, second) == (header_text(headers, first), header_text(headers, second))
    assert header_texts(None, "a", "b") == (None, None)
