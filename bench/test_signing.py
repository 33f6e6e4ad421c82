"""Record signatures: what signing and checking cost per record, beside the envelope decode they ride with, and
beside the same Ed25519 work done with the ``cryptography`` package (OpenSSL) from Python.

The records are 1000 task responses as the agents write them (CloudEvents headers, an Avro value in the wire
format, the key), encoded by the real :class:`~a2a_fast.protocol.envelope.Envelope` and signed by the native
signer. Every implementation checks the same records and all its verdicts are asserted equal before timing: the
baseline builds the signed bytes the same way in Python (the layout in ``core/src/signing.rs``) and verifies with
OpenSSL's Ed25519.
"""

from __future__ import annotations

import base64
import os
import struct
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from a2a_fast._native import RecordSigner
from a2a_fast.protocol.envelope import Envelope, Inbound
from a2a_fast.protocol.kinds import KIND_TASK_RESPONSE
from a2a_fast.protocol.signing import RecordSigning, TrustedKey
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport.memory import MemoryMessage, MemoryTransport
from a2a_fast.transport.registry import SchemaCatalog

N = 1000
DOMAIN = b"a2a-fast record signature v1\0"
SEED = os.urandom(32)
SIGNER = RecordSigner.from_seed(SEED)
AGENT = "executor-1"


def response(i: int) -> dict[str, Any]:
    return {
        "task_id": f"{i:032x}",
        "responder_id": AGENT,
        "status": "COMPLETED",
        "counter_offer": None,
        "agreed_cost": 42.5,
        "message": None,
        "progress": 1.0,
        "result": '{"summary": "Revenue grew 12% on the quarter, margins held, guidance unchanged."}',
        "capability": "summarize",
        "description": None,
        "parameters": {},
        "round": 2,
        "timestamp": 1_700_000_000_000 + i,
    }


def make_records() -> tuple[Envelope, list[MemoryMessage]]:
    topics = TopicNames("bench.")
    catalog = SchemaCatalog(MemoryTransport(), topics)
    catalog.register()
    envelope = Envelope(catalog, topics, AGENT)
    records = []
    for i in range(N):
        topic, key, headers, value = envelope.encode_parts(
            KIND_TASK_RESPONSE, response(i), target_agent="requester-1", traceparent=f"00-{i:032x}-{i:016x}-01"
        )
        SIGNER.sign_into(key, headers, value)
        records.append(MemoryMessage(topic, 0, i, key, value, headers, 0))
    return envelope, records


ENVELOPE, RECORDS = make_records()
SIGNING = RecordSigning(
    None, (TrustedKey(SIGNER.key_id, AGENT, frozenset({"executor"}), base64.b64encode(SIGNER.public_key).decode()),)
)


def _field(data: bytes | None) -> bytes:
    return b"\xff\xff\xff\xff" if data is None else struct.pack(">I", len(data)) + data


def signed_bytes(key: bytes | None, headers: list[tuple[str, bytes]], value: bytes | None) -> bytes:
    signed = [(name, data) for name, data in headers if name.startswith("ce_") or name == "content-type"]
    parts = [DOMAIN, _field(key), struct.pack(">I", len(signed))]
    for name, data in signed:
        parts += [_field(name.encode()), _field(data)]
    parts.append(_field(value))
    return b"".join(parts)


OPENSSL_PUBLIC = Ed25519PublicKey.from_public_bytes(SIGNER.public_key)
OPENSSL_PRIVATE = Ed25519PrivateKey.from_private_bytes(SEED)


def openssl_verify_many(records: list[MemoryMessage]) -> list[int | str | None]:
    out: list[int | str | None] = []
    for record in records:
        headers = record.headers() or []
        found = dict(headers)
        signature = found.get("a2a.signature")
        if signature is None:
            out.append(None)
            continue
        try:
            raw = base64.urlsafe_b64decode(signature + b"=" * (-len(signature) % 4))
            OPENSSL_PUBLIC.verify(raw, signed_bytes(record.key(), headers, record.value()))
        except Exception:
            out.append("refused")
            continue
        out.append(0 if found.get("ce_sourceagent") == AGENT.encode() else "refused")
    return out


def openssl_sign(record: MemoryMessage) -> bytes:
    headers = [(name, data) for name, data in record.headers() or [] if not name.startswith("a2a.")]
    signature = OPENSSL_PRIVATE.sign(signed_bytes(record.key(), headers, record.value()))
    return base64.urlsafe_b64encode(signature).rstrip(b"=")


UNSIGNED = [
    [(name, data) for name, data in record.headers() or [] if not name.startswith("a2a.")] for record in RECORDS
]


def test_outputs_agree() -> None:
    native = RecordSigner.from_seed(SEED).public_key
    assert native == SIGNER.public_key
    assert openssl_verify_many(RECORDS) == [0] * N
    verifier = SIGNING._verifier
    assert verifier is not None and verifier.verify_many(RECORDS) == [0] * N
    for record, headers in zip(RECORDS[:50], UNSIGNED[:50], strict=True):
        ours = list(headers)
        SIGNER.sign_into(record.key(), ours, record.value())
        assert ours[-1][1] == openssl_sign(record)  # Ed25519 is deterministic: same key, same bytes, same signature
    decoded = ENVELOPE.decode_many(RECORDS)
    assert all(isinstance(item, Inbound) for item in decoded)
    assert SIGNING.check(RECORDS, decoded) == decoded


@pytest.mark.parametrize("impl", ["a2a_fast", "cryptography"])
def test_verify(benchmark: Any, tag: Any, impl: str) -> None:
    tag(f"signatures: verify {N} records", impl, N)
    verifier = SIGNING._verifier
    assert verifier is not None
    check = verifier.verify_many if impl == "a2a_fast" else openssl_verify_many
    assert benchmark(check, RECORDS) == [0] * N


@pytest.mark.parametrize("impl", ["a2a_fast", "cryptography"])
def test_sign(benchmark: Any, tag: Any, impl: str) -> None:
    tag(f"signatures: sign {N} records", impl, N)
    pairs = list(zip(RECORDS, UNSIGNED, strict=True))

    def ours() -> None:
        for record, headers in pairs:
            SIGNER.sign_into(record.key(), list(headers), record.value())

    def theirs() -> None:
        for record, _ in pairs:
            openssl_sign(record)

    benchmark(ours if impl == "a2a_fast" else theirs)


@pytest.mark.parametrize("impl", ["a2a_fast", "a2a_fast + signatures"])
def test_decode_with_and_without_checking(benchmark: Any, tag: Any, impl: str) -> None:
    """What checking adds to the runtime's per-batch work: ``decode_many``, then ``RecordSigning.check``
    (native batch verify and the roles table), as ``Agent._dispatch`` does."""
    tag(f"envelope: decode {N} records, and check their signatures", impl, N)

    def decode() -> Any:
        return ENVELOPE.decode_many(RECORDS)

    def decode_and_check() -> Any:
        return SIGNING.check(RECORDS, ENVELOPE.decode_many(RECORDS))

    result = benchmark(decode if impl == "a2a_fast" else decode_and_check)
    assert len(result) == N and all(isinstance(item, Inbound) for item in result)


def test_per_record_cost_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    """One quick reading for people running the file by hand (the table comes from the benchmarks above)."""
    verifier = SIGNING._verifier
    assert verifier is not None
    started = time.perf_counter()
    verifier.verify_many(RECORDS)
    elapsed = (time.perf_counter() - started) / N
    with capsys.disabled():
        print(f"\nverify: {elapsed * 1e6:.1f} µs per record")
