"""Type stubs of the native extension; checked against the binary by ``mypy.stubtest``."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias, final

__all__ = [
    "METRICS_RELATIVE_ERROR",
    "AvroCodec",
    "EnvelopeDecoder",
    "EnvelopeEncoder",
    "Metrics",
    "RecordSigner",
    "RecordVerifier",
    "RoutingEntry",
    "RoutingTable",
    "Rule",
    "Series",
    "__version__",
    "avro_parse_wire_header",
    "ce_a2a_json_to_event_json",
    "ce_a2a_json_to_event_json_many",
    "ce_a2a_to_json",
    "ce_a2a_to_json_many",
    "ce_event_json_to_a2a_json",
    "ce_event_json_to_a2a_json_many",
    "ce_from_a2a",
    "ce_from_a2a_many",
    "ce_from_json",
    "ce_from_json_batch",
    "ce_from_json_many",
    "ce_from_kafka",
    "ce_from_kafka_many",
    "ce_is_valid_a2a",
    "ce_json_to_a2a",
    "ce_json_to_a2a_many",
    "ce_to_a2a",
    "ce_to_a2a_many",
    "ce_to_json",
    "ce_to_json_batch",
    "ce_to_json_many",
    "ce_to_kafka",
    "ce_to_kafka_many",
    "ce_validate_a2a",
    "envelope_check_age",
    "envelope_check_size",
    "envelope_check_task_id",
]

__version__: str

# --- routing ---------------------------------------------------------------------------------

@final
class RoutingEntry:
    """One agent as the routing table holds it: id, capabilities, priority tier, weight and in-flight load
    (None: keep current). Not an agent of :mod:`a2a_fast.agents`: only what routing needs of one."""

    def __new__(
        cls,
        agent_id: str,
        capabilities: Iterable[str],
        priority: int = 0,
        weight: int = 1,
        load: int | None = None,
    ) -> RoutingEntry: ...
    @property
    def agent_id(self) -> str: ...
    @property
    def capabilities(self) -> tuple[str, ...]: ...
    @property
    def priority(self) -> int: ...
    @property
    def weight(self) -> int: ...
    @property
    def load(self) -> int | None: ...

@final
class Rule:
    """A named routing rule: attribute patterns that must all match, and a target."""

    @property
    def name(self) -> str: ...
    @property
    def match(self) -> dict[str, str]: ...
    @property
    def target(self) -> str: ...

@final
class RoutingTable:
    """A routing table of agents and rules; see ``a2a_fast.mesh.routing``."""

    def __new__(cls, capability_attribute: str = "targetcapability") -> RoutingTable: ...
    @property
    def capability_attribute(self) -> str: ...
    def upsert_agent(
        self,
        agent_id: str,
        capabilities: Iterable[str],
        priority: int = 0,
        weight: int = 1,
        load: int | None = None,
    ) -> None: ...
    def upsert_agents(self, agents: Iterable[RoutingEntry]) -> None: ...
    def replace_agents(self, agents: Iterable[RoutingEntry]) -> None: ...
    def remove_agent(self, agent_id: str) -> bool: ...
    def set_load(self, agent_id: str, load: int) -> bool: ...
    def add_load(self, agent_id: str, delta: int) -> int | None: ...
    def load(self, agent_id: str) -> int | None: ...
    def agent(self, agent_id: str) -> RoutingEntry | None: ...
    def agents(self) -> list[RoutingEntry]: ...
    def agents_for(self, capability: str) -> list[str]: ...
    def route(
        self, capability: str, strategy: str = "round_robin", exclude: Iterable[str] | None = None
    ) -> str | None: ...
    def route_many(self, capabilities: Sequence[str], strategy: str = "round_robin") -> list[str | None]: ...
    def add_rule(self, name: str, match: Mapping[str, str], target: str) -> None: ...
    def remove_rule(self, name: str) -> bool: ...
    def rules(self) -> list[Rule]: ...
    def route_message(self, event: Mapping[str, object], strategy: str = "round_robin") -> str | None: ...
    def __len__(self) -> int: ...
    def __contains__(self, agent_id: str, /) -> bool: ...

# --- metrics ---------------------------------------------------------------------------------

METRICS_RELATIVE_ERROR: float

@final
class Series:
    """The latency histogram of one (protocol, operation)."""

    @property
    def protocol(self) -> str: ...
    @property
    def operation(self) -> str: ...
    def record(self, seconds: float, ok: bool = True) -> None: ...
    def record_many(self, seconds: Sequence[float], ok: bool = True) -> None:
        """Records several calls that took ``seconds`` each, all with the same ``ok``."""
    def stats(self) -> dict[str, float]: ...

@final
class Metrics:
    """A registry of lock-free latency histograms and counters per (protocol, operation)."""

    def __new__(cls) -> Metrics: ...
    def record(self, protocol: str, operation: str, seconds: float, ok: bool = True) -> None: ...
    def series(self, protocol: str, operation: str) -> Series: ...
    def snapshot(self) -> dict[str, dict[str, dict[str, float]]]: ...
    def stats(self, protocol: str, operation: str) -> dict[str, float] | None: ...
    def percentile(self, protocol: str, operation: str, q: float) -> float | None: ...
    def buckets(self, protocol: str, operation: str) -> list[tuple[float, float, int]]: ...
    def reset(self) -> None: ...

# --- Avro (a2a_fast.codecs.avro) ---

_AvroSchema: TypeAlias = str | dict[str, Any] | list[Any] | AvroCodec

@final
class AvroCodec:
    """Avro codec for one schema, optionally framed in the Confluent wire format."""

    def __new__(cls, schema: _AvroSchema, schema_id: int | None = None) -> AvroCodec: ...
    @property
    def schema(self) -> str:
        """The schema's Parsing Canonical Form (JSON text)."""
    @property
    def schema_id(self) -> int | None: ...
    @property
    def name(self) -> str:
        """Full name of the root named type, or the kind of an unnamed root."""
    @property
    def fingerprint(self) -> int:
        """CRC-64-AVRO fingerprint of the canonical form."""
    def encode(self, record: Any) -> bytes:
        """Encodes one value; raises ValidationError naming the field path."""
    def encode_many(self, records: Iterable[Any]) -> list[bytes]:
        """Encodes a batch of values."""
    def decode(self, data: bytes, writer_schema: _AvroSchema | None = None) -> Any:
        """Decodes one message, resolving from writer_schema when given."""
    def decode_many(self, messages: Iterable[bytes], writer_schema: _AvroSchema | None = None) -> list[Any]:
        """Decodes a batch of messages written with the same schema."""

def avro_parse_wire_header(data: bytes) -> tuple[int, int]:
    """(schema_id, offset of the Avro body) of a Confluent-framed message."""

# A2A envelope: CloudEvent headers around a Confluent-framed Avro body, both ways in one call.

@final
class EnvelopeDecoder:
    """Decodes consumed A2A records: CloudEvent headers, wire header and Avro body in one call per batch."""

    def __new__(cls, kinds: Sequence[tuple[str, str]], inbound: Any) -> EnvelopeDecoder:
        """``kinds`` are (CloudEvent type, Avro record name) pairs; ``inbound`` makes the decoded messages."""
    def reader(self, kind: str) -> AvroCodec | None:
        """The codec ``kind`` is read with (the reader's schema of resolution)."""
    def set_reader(self, kind: str, codec: AvroCodec) -> None: ...
    def set_reader_error(self, kind: str, error: ValueError) -> None:
        """Leaves ``kind`` without a reader codec: each of its records gets ``error``."""
    def add_writer(self, schema_id: int, name: str, codec: AvroCodec) -> None:
        """Adds the writer schema registered under ``schema_id``, whose root record is ``name``."""
    def knows(self, schema_id: int) -> bool: ...
    def unknown_schema_ids(self, records: Iterable[Any]) -> list[int]:
        """The wire-format schema ids of the records' values that this decoder does not know yet."""
    def decode_many(
        self,
        records: Iterable[Any],
        limits: tuple[int, float, float] | None = None,
        check_age: bool = True,
        writers: Callable[[int], tuple[str, AvroCodec] | None] | None = None,
    ) -> list[Any]:
        """Per consumed record, in order, its ``Inbound`` or the error it gives. ``limits`` are (max bytes,
        default ttl, now); ``writers(schema_id)`` gives the record name and codec of a writer schema this
        decoder does not know yet, or None."""
    def decode(
        self,
        key: bytes | str | None,
        headers: Any,
        value: bytes | None,
        topic: Any,
        partition: Any,
        offset: Any,
        limits: tuple[int, float, float] | None = None,
        check_age: bool = True,
        writers: Callable[[int], tuple[str, AvroCodec] | None] | None = None,
    ) -> Any:
        """``decode_many`` of one record given by its parts: its ``Inbound`` or the error it gives."""

@final
class EnvelopeEncoder:
    """Builds the records of one message kind: constant headers made once, the changing ones per call."""

    def __new__(
        cls,
        codec: AvroCodec,
        *,
        source: str,
        ce_type: str,
        dataschema: str,
        protocolversion: str,
        messagetype: str,
        sourceagent: str,
    ) -> EnvelopeEncoder: ...
    def encode(
        self,
        record: Any,
        task_id: Any,
        event_id: Any,
        target_agent: Any = None,
        collaboration_id: Any = None,
        traceparent: Any = None,
        priority: Any = None,
        ttl: Any = None,
    ) -> tuple[bytes, list[tuple[str, bytes]], bytes] | None:
        """``(key, headers, value)``, or None when an argument is not in the plain form (the general path
        then gives the record or the exact error)."""

# CloudEvents (re-exported by a2a_fast.codecs.cloudevents under names without the ce_ prefix).

_Event = dict[str, Any]
_Headers = Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None] | None
_Record = tuple[bytes | None, list[tuple[str, bytes]], bytes | None]

def envelope_check_size(size: int, max_bytes: int) -> None:
    """Raises ``MessageTooLargeError`` for a record value of ``size`` bytes above ``max_bytes``."""

def envelope_check_age(sent: str | float | None, ttl: str | float | None, default_ttl: float, now: float) -> None:
    """Raises ``MessageExpiredError`` for a message older at ``now`` than its ``ttl`` (``default_ttl`` when
    None or empty), or ``ValidationError`` for a ``time`` or ``ttl`` that cannot be read."""

def envelope_check_task_id(task_id: object) -> None:
    """Raises ``ValidationError`` for an outgoing record whose ``task_id`` is missing or empty."""

def ce_to_json(event: dict[str, Any]) -> bytes: ...
def ce_from_json(data: bytes) -> _Event: ...
def ce_to_json_many(events: Iterable[dict[str, Any]]) -> list[bytes]: ...
def ce_from_json_many(items: Sequence[bytes]) -> list[_Event]: ...
def ce_to_json_batch(events: Iterable[dict[str, Any]]) -> bytes: ...
def ce_from_json_batch(data: bytes) -> list[_Event]: ...
def ce_to_kafka(event: dict[str, Any]) -> _Record: ...
def ce_from_kafka(headers: _Headers, value: bytes | None, key: bytes | str | None = None) -> _Event: ...
def ce_to_kafka_many(events: Iterable[dict[str, Any]]) -> list[_Record]: ...
def ce_from_kafka_many(
    records: Iterable[tuple[_Headers, bytes | None] | tuple[_Headers, bytes | None, bytes | str | None]],
) -> list[_Event]: ...
def ce_from_a2a(message: dict[str, Any]) -> _Event: ...
def ce_to_a2a(event: dict[str, Any]) -> dict[str, Any]: ...
def ce_from_a2a_many(messages: Iterable[dict[str, Any]]) -> list[_Event]: ...
def ce_to_a2a_many(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]: ...
def ce_a2a_to_json(message: dict[str, Any]) -> bytes: ...
def ce_a2a_to_json_many(messages: Iterable[dict[str, Any]]) -> list[bytes]: ...
def ce_json_to_a2a(data: bytes) -> dict[str, Any]: ...
def ce_json_to_a2a_many(items: Sequence[bytes]) -> list[dict[str, Any]]: ...
def ce_a2a_json_to_event_json(data: bytes) -> bytes:
    """A2A message JSON → CloudEvent structured JSON, with no Python objects in between."""

def ce_a2a_json_to_event_json_many(items: Sequence[bytes]) -> list[bytes]:
    """``ce_a2a_json_to_event_json`` for each item, the GIL released; errors name the item."""

def ce_event_json_to_a2a_json(data: bytes) -> bytes:
    """CloudEvent structured JSON → A2A message JSON, with no Python objects in between."""

def ce_event_json_to_a2a_json_many(items: Sequence[bytes]) -> list[bytes]:
    """``ce_event_json_to_a2a_json`` for each item, the GIL released; errors name the item."""

def ce_validate_a2a(message: Any) -> None: ...
def ce_is_valid_a2a(message: Any) -> bool: ...

# --- record signatures (wrapped by a2a_fast.protocol.signing) ----------------------------------

@final
class RecordSigner:
    """Signs the records one agent produces with its Ed25519 key (headers ``a2a.keyid``, ``a2a.signature``)."""

    def __new__(cls, pem: str) -> RecordSigner:
        """A signer from a private key in PEM (PKCS#8); ValidationError when it is not one."""
    @staticmethod
    def from_seed(seed: bytes) -> RecordSigner:
        """The signer whose 32-byte secret is ``seed``."""
    @property
    def key_id(self) -> str: ...
    @property
    def public_key(self) -> bytes: ...
    def private_pem(self) -> str: ...
    def public_pem(self) -> str: ...
    def sign_into(self, key: bytes | str | None, headers: list[tuple[str, bytes]], value: bytes | None) -> None:
        """Signs a record, appending the headers ``a2a.keyid`` and ``a2a.signature`` to ``headers``."""

@final
class RecordVerifier:
    """Checks record signatures against trusted ``(public key, agent id)`` pairs (PEM or base64 keys)."""

    def __new__(cls, keys: Sequence[tuple[str, str]]) -> RecordVerifier: ...
    @property
    def key_ids(self) -> list[str]: ...
    def verify_many(self, records: Iterable[Any]) -> list[int | str | None]:
        """Per record: the index of the trusted key that signed it, None when unsigned, else why it is refused."""
    def verify(
        self, key: bytes | str | None, headers: Sequence[tuple[str, bytes | str | None]] | None, value: bytes | None
    ) -> int | str | None: ...
