"""Fuzz targets: every CloudEvents decoder of untrusted bytes may raise only ValidationError or DecodeError.

The bytes-to-bytes conversions are also checked against the dict functions: whatever they accept must
convert the same way through dicts (an AssertionError fails the run).
"""

from __future__ import annotations

import json

from a2a_fast.codecs import cloudevents as ce
from a2a_fast.errors import DecodeError, ValidationError

EXPECTED = (ValidationError, DecodeError)

_CONTENT_TYPES = [
    None,
    b"application/json",
    b"application/cloudevents+json; charset=utf-8",
    b"application/cloudevents+avro",
    b"text/plain",
]


def from_json(data: bytes) -> None:
    ce.from_json(data)


def from_json_batch(data: bytes) -> None:
    ce.from_json_batch(data)


def json_to_a2a(data: bytes) -> None:
    ce.json_to_a2a(data)


_JSON_BYTES = b'{}[]":,\\ 0123456789-+.eEtrufalsnAHIGLOWNRZT/u'


def _edited(seeds: list[bytes], data: bytes) -> bytes:
    """Odd first byte: ``data`` as it is. Even: a seed with edits, four bytes each (operation, position
    high and low, byte). The native code is not instrumented, so coverage does not steer the fuzzer towards
    valid documents; random edits of valid ones reach the validation rules instead of stopping at the parser.
    """
    if not data or data[0] & 1:
        return data
    doc = bytearray(seeds[(data[0] >> 1) % len(seeds)])
    for i in range(1, len(data) - 3, 4):
        op, at, byte = data[i], (data[i + 1] << 8 | data[i + 2]) % (len(doc) + 1), data[i + 3]
        value = byte if op & 0x80 else _JSON_BYTES[byte % len(_JSON_BYTES)]
        if op % 3 == 0 and at < len(doc):
            doc[at] = value
        elif op % 3 == 1:
            doc.insert(at, value)
        elif at < len(doc):
            del doc[at]
    return bytes(doc)


def event_json_to_a2a_json(data: bytes) -> None:
    data = _edited(SEEDS["event_json_to_a2a_json"], data)
    try:
        written = ce.event_json_to_a2a_json(data)
    except EXPECTED:
        written = None
    try:
        message = ce.json_to_a2a(data)
    except EXPECTED:
        message = None
    assert (written is None) == (message is None), "the bytes and dict readers disagree on validity"
    if written is not None:
        assert json.loads(written) == message, "the bytes and dict readers disagree on the message"
        assert ce.json_to_a2a(ce.a2a_json_to_event_json(written)) == message, "the message does not round-trip"


def a2a_json_to_event_json(data: bytes) -> None:
    event = ce.a2a_json_to_event_json(_edited(SEEDS["a2a_json_to_event_json"], data))
    message = ce.json_to_a2a(event)
    # Compared as parsed JSON: a payload object with a repeated key keeps both in bytes, the last in a dict.
    assert json.loads(ce.a2a_to_json(message)) == json.loads(event), "the bytes and dict writers disagree"


def from_kafka(data: bytes) -> None:
    """First byte picks the content type; then NUL-separated ``name=value`` headers, a 0xFF, the value."""
    if not data:
        return
    content_type = _CONTENT_TYPES[data[0] % len(_CONTENT_TYPES)]
    head, _, value = data[1:].partition(b"\xff")
    headers: list[tuple[str, bytes | None]] = []
    for field in head.split(b"\x00"):
        name, sep, header_value = field.partition(b"=")
        headers.append((name.decode("latin-1"), header_value if sep else None))
    if content_type is not None:
        headers.append(("content-type", content_type))
    key = value[:4] if data[0] & 0x80 else None
    ce.from_kafka(headers, value or None, key)


TARGETS = [from_json, from_json_batch, json_to_a2a, event_json_to_a2a_json, a2a_json_to_event_json, from_kafka]

_EVENT = (
    b'{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"2024-01-01T00:00:00Z",'
    b'"ext":5,"datacontenttype":"application/json","data":{"a":[1,2.5,null,"x"]}}'
)
_MESSAGE = {
    "protocol": "A2A",
    "version": "1.0",
    "messageId": "m",
    "timestamp": "2025-01-01T00:00:00Z",
    "sourceAgent": {"agentId": "a", "agentType": "t", "capabilities": ["x"]},
    "targetAgent": None,
    "messageType": "TASK",
    "payload": {"k": 1},
    "metadata": {"priority": "LOW", "ttl": 1, "correlationId": "c"},
}
_A2A = ce.a2a_to_json(_MESSAGE)
_A2A_FULL = ce.a2a_to_json(
    {
        **_MESSAGE,
        "targetAgent": {"agentId": "w", "agentType": "x", "capabilities": ["a", "b"]},
        "payload": {"s": "\u00e9\n", "n": [-1, 2.5e-3, True, None]},
        "metadata": {"priority": "HIGH", "ttl": 9, "correlationId": "c", "collaborationId": None, "traceparent": "t"},
    }
)
_HEADERS = b"ce_specversion=1.0\x00ce_id=1\x00ce_source=/s\x00ce_type=t\x00ce_ttl=3"

SEEDS = {
    "from_json": [_EVENT, b'{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"AAE="}'],
    "from_json_batch": [b"[" + _EVENT + b"," + _EVENT + b"]", b"[]"],
    "json_to_a2a": [_A2A],
    "event_json_to_a2a_json": [_A2A, _A2A_FULL],
    "a2a_json_to_event_json": [ce.event_json_to_a2a_json(_A2A), ce.event_json_to_a2a_json(_A2A_FULL)],
    "from_kafka": [b"\x01" + _HEADERS + b'\xff{"a":1}', b"\x82" + _HEADERS + b"\xff" + _EVENT, b"\x04" + _HEADERS],
}
