"""Fuzz targets of the decoders of untrusted bytes outside the envelope: the directory's records, record
signatures, ``traceparent`` headers and the A2A binding's protobuf payloads.

The directory skips a record it cannot read (:attr:`AgentDirectory.skipped`) on exactly the errors in
``EXPECTED``; anything else would stop its reader. A signature check never raises: it answers a verdict.
"""

from __future__ import annotations

import json

from a2a.types import SendMessageRequest
from a2a.utils.errors import InvalidRequestError

from a2a_fast._native import RecordSigner, RecordVerifier
from a2a_fast.a2a.binding import decode as decode_protobuf
from a2a_fast.errors import A2AError
from a2a_fast.mesh.directory import AgentDirectory
from a2a_fast.observability.tracing import parse_traceparent

EXPECTED = (ValueError, KeyError, TypeError, AttributeError, A2AError, InvalidRequestError)

_DIRECTORY = AgentDirectory("127.0.0.1:1")  # never started: only its record rules run
_CARD = {"agentId": "a", "agentType": "executor", "capabilities": ["x"], "resources": {}, "endpoints": {}}
_EVENT = json.dumps({"card": _CARD, "state": {"status": "IDLE", "load": 0}}).encode()
_HEADERS = [
    ("ce_specversion", b"1.0"),
    ("ce_id", b"1"),
    ("ce_source", b"a2a://agents/a"),
    ("ce_type", b"a2a.agent.register"),
    ("ce_time", b"2026-01-01T00:00:00Z"),
    ("ce_instanceid", b"i"),
    ("content-type", b"application/json"),
]
_SIGNER = RecordSigner.from_seed(bytes(32))
_VERIFIER = RecordVerifier([(_SIGNER.public_pem(), "a")])


def directory_record(data: bytes) -> None:
    """The first byte picks a header the rest replaces, or (past the headers) the value."""
    if not data:
        _DIRECTORY._apply(b"a", _HEADERS, _EVENT)
        return
    at, rest = data[0] % (len(_HEADERS) + 2), data[1:]
    headers = list(_HEADERS)
    value = _EVENT
    if at < len(headers):
        headers[at] = (headers[at][0], rest)
    elif at == len(headers):
        value = rest
    else:
        value = _EVENT[: len(_EVENT) // 2] + rest
    _DIRECTORY._apply(b"a", headers, value)


def signature(data: bytes) -> None:
    """A signed record whose signature header, key id header or value the bytes replace."""
    headers: list[tuple[str, bytes]] = []
    _SIGNER.sign_into(b"k", headers, b"value")
    at = data[0] % 3 if data else 0
    rest = data[1:]
    if at < 2:
        headers[at] = (headers[at][0], rest)
        verdict = _VERIFIER.verify(b"k", headers, b"value")
    else:
        verdict = _VERIFIER.verify(b"k", headers, rest)
    assert verdict is None or isinstance(verdict, (int, str)), verdict
    if rest != b"value" and at == 2:
        assert verdict != 0, "a changed value passed the signature check"


def traceparent(data: bytes) -> None:
    parse_traceparent(data.decode("utf-8", "replace"))


def a2a_payload(data: bytes) -> None:
    decode_protobuf(data, SendMessageRequest, "params")


TARGETS = [directory_record, signature, traceparent, a2a_payload]
SEEDS = {"directory_record": [b"", b"\x07" + _EVENT], "signature": [b"", b"\x02value"]}
