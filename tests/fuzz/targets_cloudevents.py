"""Fuzz targets: every CloudEvents decoder of untrusted bytes may raise only ValidationError or DecodeError."""

from __future__ import annotations

from a2a_fast import cloudevents as ce
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


TARGETS = [from_json, from_json_batch, json_to_a2a, from_kafka]

_EVENT = (
    b'{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"2024-01-01T00:00:00Z",'
    b'"ext":5,"datacontenttype":"application/json","data":{"a":[1,2.5,null,"x"]}}'
)
_A2A = ce.a2a_to_json(
    {
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
)
_HEADERS = b"ce_specversion=1.0\x00ce_id=1\x00ce_source=/s\x00ce_type=t\x00ce_ttl=3"

SEEDS = {
    "from_json": [_EVENT, b'{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"AAE="}'],
    "from_json_batch": [b"[" + _EVENT + b"," + _EVENT + b"]", b"[]"],
    "json_to_a2a": [_A2A],
    "from_kafka": [b"\x01" + _HEADERS + b'\xff{"a":1}', b"\x82" + _HEADERS + b"\xff" + _EVENT, b"\x04" + _HEADERS],
}
