"""Fuzz targets of the native envelope decoder: consumed records built from the bytes.

``decode_many`` returns each record's error instead of raising, so a target fails on any exception,
and also when the native result differs from what the envelope's rules as Python applied them give
(the oracle of ``tests/unit/protocol/test_envelope.py``) or from what ``Envelope.decode`` gives.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Message

from a2a_fast.config import MessageConfig
from a2a_fast.errors import DecodeError, SchemaError, ValidationError
from a2a_fast.protocol.envelope import Envelope
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST
from a2a_fast.protocol.limits import MessageLimits
from a2a_fast.protocol.topics import TopicNames
from tests.unit.protocol.test_envelope import REQUEST, FakeCatalog, assigned, oracle_decode

EXPECTED = (DecodeError, SchemaError, ValidationError)
_NOW = 1_735_787_050.0
_LIMITS = MessageLimits(MessageConfig(max_message_bytes=400, default_ttl_seconds=60), clock=lambda: _NOW)
_ENVELOPE = Envelope(FakeCatalog(), TopicNames(), "fuzz", _LIMITS)
_VALID = _ENVELOPE.encode(KIND_TASK_REQUEST, REQUEST, event_id="e", target_agent="p", priority="LOW", ttl=30)
_HEADERS = [(name, b"2025-01-02T03:04:05.678Z" if name == "ce_time" else value) for name, value in _VALID.headers]


def _record(data: bytes) -> Message:
    """The first byte picks which header the rest replaces (or, past the headers, the value)."""
    if not data:
        return Message(topic="t", partition=0, offset=1, key=_VALID.key, value=_VALID.value, headers=_HEADERS)
    at, rest = data[0], data[1:]
    headers: list[tuple[str, Any]] = list(_HEADERS)
    value = _VALID.value
    if at < len(headers):
        name, _ = headers[at]
        headers[at] = (name, rest)
    elif at < 2 * len(headers):
        headers[at - len(headers)] = (rest.decode("utf-8", "replace"), headers[at - len(headers)][1])
    elif at < 200:
        value = value[:5] + rest
    else:
        value = rest
    return Message(topic="t", partition=0, offset=1, key=_VALID.key, value=value, headers=headers)


def decode_record(data: bytes) -> None:
    record = _record(data)
    [got] = _ENVELOPE.decode_many([record])
    try:
        single: Any = _ENVELOPE.decode(record.key(), record.headers(), record.value(), "t", 0, 1)
    except ValueError as error:
        single = error
    try:
        expected: Any = oracle_decode(_ENVELOPE, record.key(), record.headers(), record.value(), ("t", 0, 1), _NOW)
    except ValueError as error:
        assert type(got) is type(error) and type(single) is type(error), (got, single, error)
        # A character unassigned in Python's Unicode version is escaped by its repr, not by the core's.
        texts = [v.decode("utf-8", "replace") for _, v in record.headers() or [] if isinstance(v, bytes)]
        if all(assigned(text) for text in texts):
            assert str(got) == str(error) == str(single), (got, error, single)
        return
    assert got == expected == single, (got, expected, single)


TARGETS = [decode_record]
SEEDS = {"decode_record": [b"", b"\x04" + b"2025-01-02T03:04:05Z", b"\x0e" + b"90", b"\xc8" + _VALID.value]}
