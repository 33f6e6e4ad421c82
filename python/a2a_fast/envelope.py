"""The wire format of agent messages, and the provider's skill matching, in one place.

Every Kafka record the agents exchange is a CloudEvent in Kafka *binary* content mode:

* headers ``ce_specversion=1.0``, ``ce_id`` (unique per message, used to drop redeliveries), ``ce_source``
  (``a2a://agents/<agent id>``), ``ce_type`` (``a2a.task.request``, ``a2a.task.response``,
  ``a2a.negotiation``), ``ce_time``, the A2A extensions ``ce_protocol=A2A``, ``ce_protocolversion``,
  ``ce_messagetype`` (the Avro record name), ``ce_sourceagent``, ``ce_targetagent`` (when addressed),
  ``ce_collaborationid`` and ``ce_traceparent`` (optional), ``content-type: application/avro`` and
  ``ce_dataschema`` naming the registry subject and schema id;
* the value is the Avro record in Confluent wire format (magic byte 0, 4-byte big-endian schema id, body);
* the key is the task id, so all messages about one task stay in order on one partition.

:class:`Envelope` turns a record into such a ``(key, headers, value)`` triple and back. Decoding resolves
the writer's schema (fetched by id from the registry through :class:`~a2a_fast.registry.SchemaCatalog`)
against the reader's own schema, so agents built against different schema versions interoperate.

The CloudEvents binding and the Avro codec are reached only through :func:`to_kafka`, :func:`from_kafka`,
:class:`Codec` and :func:`read_schema_id`, and skill matching only through :class:`SkillTable`; those five
names are the seam to the native core.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

import fastavro

from a2a_fast.errors import DecodeError, SchemaError, ValidationError
from a2a_fast.topics import DEAD_LETTER, NEGOTIATIONS, TASK_REQUESTS, TASK_RESPONSES

__all__ = [
    "KIND_NEGOTIATION",
    "KIND_TASK_REQUEST",
    "KIND_TASK_RESPONSE",
    "MESSAGE_KINDS",
    "Codec",
    "Envelope",
    "Inbound",
    "KafkaRecord",
    "MessageKind",
    "SkillTable",
    "TopicNames",
    "from_kafka",
    "read_schema_id",
    "to_kafka",
]

KIND_TASK_REQUEST: Final = "a2a.task.request"
KIND_TASK_RESPONSE: Final = "a2a.task.response"
KIND_NEGOTIATION: Final = "a2a.negotiation"
PROTOCOL: Final = "A2A"
PROTOCOL_VERSION: Final = "0.3"
CONTENT_TYPE: Final = "application/avro"
_WIRE_HEADER = struct.Struct(">bI")

Headers = list[tuple[str, bytes]]
InHeaders = Iterable[tuple[str, Any]]


@dataclass(frozen=True, slots=True)
class MessageKind:
    """One kind of message: its CloudEvent type, Avro record name and the topic role it travels on."""

    type: str
    record: str
    schema_file: str
    topic_role: str


MESSAGE_KINDS: Final[dict[str, MessageKind]] = {
    KIND_TASK_REQUEST: MessageKind(KIND_TASK_REQUEST, "TaskRequest", "TaskRequest.avsc", "requests"),
    KIND_TASK_RESPONSE: MessageKind(KIND_TASK_RESPONSE, "TaskResponse", "TaskResponse.avsc", "responses"),
    KIND_NEGOTIATION: MessageKind(KIND_NEGOTIATION, "Negotiation", "Negotiation.avsc", "negotiations"),
}


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The four topics one agent mesh uses; ``prefix`` gives a test or tenant its own namespace."""

    prefix: str = ""

    @property
    def requests(self) -> str:
        return self.prefix + TASK_REQUESTS

    @property
    def responses(self) -> str:
        return self.prefix + TASK_RESPONSES

    @property
    def negotiations(self) -> str:
        return self.prefix + NEGOTIATIONS

    @property
    def dlq(self) -> str:
        return self.prefix + DEAD_LETTER

    def for_kind(self, kind: str) -> str:
        role = MESSAGE_KINDS[kind].topic_role
        name: str = getattr(self, role)
        return name

    def all(self) -> tuple[str, str, str, str]:
        return (self.requests, self.responses, self.negotiations, self.dlq)


# --- CloudEvents Kafka binding -------------------------------------------------------------------------


def to_kafka(event: Mapping[str, Any]) -> tuple[bytes | None, Headers, bytes]:
    """A CloudEvent dict as a Kafka record in binary mode: ``(key, headers, value)``.

    ``data`` (bytes) becomes the value, ``datacontenttype`` the ``content-type`` header, the
    ``partitionkey`` extension the key, and every other attribute a ``ce_<name>`` header.
    """
    headers: Headers = []
    key: bytes | None = None
    data = b""
    for name, value in event.items():
        if value is None:
            continue
        if name == "data":
            data = bytes(value)
        elif name == "partitionkey":
            key = str(value).encode()
        elif name == "datacontenttype":
            headers.append(("content-type", str(value).encode()))
        else:
            headers.append(("ce_" + name, str(value).encode()))
    return key, headers, data


def from_kafka(
    headers: Iterable[tuple[str, bytes | None]] | None, value: bytes | None, key: bytes | None = None
) -> dict[str, Any]:
    """The CloudEvent carried by a binary-mode Kafka record; the inverse of :func:`to_kafka`.

    Raises :class:`DecodeError` when a header is not UTF-8 and :class:`ValidationError` when a required
    attribute (``id``, ``source``, ``type``, ``specversion``) is missing.
    """
    event: dict[str, Any] = {}
    for name, raw in headers or ():
        lowered = name.lower()
        if lowered == "content-type":
            attribute = "datacontenttype"
        elif lowered.startswith("ce_"):
            attribute = lowered[3:]
        else:
            continue
        try:
            event[attribute] = (raw or b"").decode()
        except UnicodeDecodeError as error:
            raise DecodeError(f"header {name!r} is not UTF-8 at byte {error.start}") from error
    for required in ("specversion", "id", "source", "type"):
        if not event.get(required):
            raise ValidationError(f"CloudEvent attribute {required!r} is missing (header ce_{required})")
    if event["specversion"] != "1.0":
        raise ValidationError(f"CloudEvent specversion {event['specversion']!r} is not 1.0")
    if key is not None:
        try:
            event["partitionkey"] = key.decode()
        except UnicodeDecodeError as error:
            raise DecodeError(f"record key is not UTF-8 at byte {error.start}") from error
    event["data"] = value or b""
    return event


# --- Avro -------------------------------------------------------------------------------------------


def read_schema_id(data: bytes) -> int:
    """The schema id of a value in Confluent wire format; :class:`DecodeError` when it is not one."""
    if len(data) < _WIRE_HEADER.size:
        raise DecodeError(f"value of {len(data)} bytes is too short for the Confluent wire format (5-byte header)")
    magic, schema_id = _WIRE_HEADER.unpack_from(data)
    if magic != 0:
        raise DecodeError(f"magic byte at offset 0 is {magic}, expected 0 (Confluent wire format)")
    return int(schema_id)


def _millis(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return value


class Codec:
    """Encodes and decodes one Avro record schema; built once, used for every message.

    With ``schema_id`` the encoded bytes are in Confluent wire format and :meth:`decode` expects the
    5-byte header; without it they are the bare Avro body. ``timestamp-millis`` fields are plain ints.
    """

    def __init__(self, schema: str | Mapping[str, Any], schema_id: int | None = None) -> None:
        try:
            raw = json.loads(schema) if isinstance(schema, str) else dict(schema)
            self._schema = cast(dict[str, Any], fastavro.parse_schema(raw))
        except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as error:
            raise SchemaError(f"cannot parse Avro schema: {error}") from error
        self.schema_id = schema_id
        self._header = _WIRE_HEADER.pack(0, schema_id) if schema_id is not None else b""
        self._readers: dict[str, Any] = {}
        self._timestamps = [
            field["name"]
            for field in self._schema.get("fields", [])
            if isinstance(field["type"], dict) and field["type"].get("logicalType") == "timestamp-millis"
        ]

    def encode(self, record: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self._header)
        try:
            fastavro.schemaless_writer(buffer, self._schema, record)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise ValidationError(f"record does not match schema {self._schema.get('name')}: {error}") from error
        return buffer.getvalue()

    def encode_many(self, records: Iterable[Mapping[str, Any]]) -> list[bytes]:
        return [self.encode(record) for record in records]

    def decode(self, data: bytes, writer_schema: str | Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = memoryview(data)[len(self._header) :] if self.schema_id is not None else memoryview(data)
        writer = self._schema if writer_schema is None else self._writer(writer_schema)
        try:
            record = fastavro.schemaless_reader(io.BytesIO(body), writer, self._schema)
        except fastavro.read.SchemaResolutionError as error:
            raise SchemaError(f"writer schema cannot be resolved to {self._schema.get('name')}: {error}") from error
        except (EOFError, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError) as error:
            raise DecodeError(f"invalid Avro body for {self._schema.get('name')}: {error!r}") from error
        if not isinstance(record, dict):
            raise DecodeError(f"Avro body decoded to {type(record).__name__}, expected a record")
        for name in self._timestamps:
            record[name] = _millis(record.get(name))
        return record

    def decode_many(
        self, values: Iterable[bytes], writer_schema: str | Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return [self.decode(value, writer_schema) for value in values]

    def _writer(self, schema: str | Mapping[str, Any]) -> Any:
        key = schema if isinstance(schema, str) else json.dumps(schema, sort_keys=True)
        parsed = self._readers.get(key)
        if parsed is None:
            try:
                parsed = fastavro.parse_schema(json.loads(schema) if isinstance(schema, str) else dict(schema))
            except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as error:
                raise SchemaError(f"cannot parse writer schema: {error}") from error
            self._readers[key] = parsed
        return parsed


# --- Skill matching ---------------------------------------------------------------------------------


class SkillTable:
    """Which agents offer which capability.

    A capability matches a skill name exactly (case-insensitive), never by substring.
    """

    def __init__(self) -> None:
        self._agents: dict[str, set[str]] = {}
        self._cursor = 0

    def add(self, agent_id: str, capabilities: Iterable[str]) -> None:
        self._agents[agent_id] = {capability.strip().lower() for capability in capabilities}

    def agents_for(self, capability: str) -> list[str]:
        wanted = capability.strip().lower()
        return sorted(agent for agent, skills in self._agents.items() if wanted in skills)

    def match(self, capability: str) -> str | None:
        """An agent offering ``capability`` (round robin between several), or None."""
        agents = self.agents_for(capability)
        if not agents:
            return None
        self._cursor += 1
        return agents[self._cursor % len(agents)]


# --- The envelope -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """A record ready for ``Producer.produce``."""

    topic: str
    key: bytes
    headers: Headers
    value: bytes


@dataclass(slots=True)
class Inbound:
    """A decoded message as a handler sees it, with where it came from."""

    kind: str
    record: dict[str, Any]
    event_id: str
    task_id: str
    source_agent: str
    target_agent: str | None
    collaboration_id: str | None
    traceparent: str | None
    schema_id: int
    topic: str
    partition: int
    offset: int


class _Catalog(Protocol):
    """What :class:`Envelope` needs from the registry; see :class:`a2a_fast.registry.SchemaCatalog`."""

    def writer_codec(self, kind: str) -> Codec: ...

    def reader_codec(self, kind: str) -> Codec: ...

    def subject(self, kind: str) -> str: ...

    def cached_schema(self, schema_id: int) -> tuple[str, str] | None:
        """``(record full name, schema text)`` of a known id, None when it has not been fetched yet."""


class Envelope:
    """Encodes records into CloudEvent Kafka records and decodes them back, for one agent."""

    def __init__(self, catalog: _Catalog, topics: TopicNames, agent_id: str) -> None:
        self.catalog = catalog
        self.topics = topics
        self.agent_id = agent_id
        self.source = f"a2a://agents/{agent_id}"

    def encode(
        self,
        kind: str,
        record: Mapping[str, Any],
        *,
        target_agent: str | None = None,
        collaboration_id: str | None = None,
        traceparent: str | None = None,
        event_id: str | None = None,
    ) -> KafkaRecord:
        """The Kafka record carrying ``record`` as a ``kind`` message; the key is its ``task_id``."""
        codec = self.catalog.writer_codec(kind)
        task_id = record.get("task_id")
        if not task_id:
            raise ValidationError("record field 'task_id' is missing or empty")
        event = {
            "specversion": "1.0",
            "id": event_id or uuid.uuid4().hex,
            "source": self.source,
            "type": kind,
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "datacontenttype": CONTENT_TYPE,
            "dataschema": f"{self.catalog.subject(kind)}/ids/{codec.schema_id}",
            "protocol": PROTOCOL,
            "protocolversion": PROTOCOL_VERSION,
            "messagetype": MESSAGE_KINDS[kind].record,
            "sourceagent": self.agent_id,
            "targetagent": target_agent,
            "collaborationid": collaboration_id,
            "traceparent": traceparent,
            "partitionkey": task_id,
            "data": codec.encode(record),
        }
        key, headers, value = to_kafka(event)
        return KafkaRecord(self.topics.for_kind(kind), key or str(task_id).encode(), headers, value)

    def decode(
        self,
        key: bytes | None,
        headers: InHeaders | dict[str, Any] | None,
        value: bytes | None,
        topic: str = "",
        partition: int = -1,
        offset: int = -1,
    ) -> Inbound:
        """The message in a consumed record. Raises :class:`DecodeError`, :class:`ValidationError` or
        :class:`SchemaError` (all ``ValueError``) naming what is wrong; a writer schema id must already be
        in the catalog's cache (see :meth:`schema_ids`)."""
        event = from_kafka(headers.items() if isinstance(headers, dict) else headers, value, key)
        kind = event["type"]
        if kind not in MESSAGE_KINDS:
            raise ValidationError(f"ce_type {kind!r} is not an A2A message type")
        if event.get("protocol") != PROTOCOL:
            raise ValidationError(f"ce_protocol {event.get('protocol')!r} is not {PROTOCOL}")
        if event.get("datacontenttype") != CONTENT_TYPE:
            raise ValidationError(f"content-type {event.get('datacontenttype')!r} is not {CONTENT_TYPE}")
        source_agent = event.get("sourceagent")
        if not source_agent:
            raise ValidationError("CloudEvent attribute 'sourceagent' is missing (header ce_sourceagent)")
        data: bytes = event["data"]
        schema_id = read_schema_id(data)
        known = self.catalog.cached_schema(schema_id)
        if known is None:
            raise SchemaError(f"schema id {schema_id} is unknown to the registry")
        name, writer = known
        expected = MESSAGE_KINDS[kind].record
        if name.rsplit(".", 1)[-1] != expected:
            raise ValidationError(f"schema id {schema_id} is a {name} schema, ce_type {kind} needs {expected}")
        record = self.catalog.reader_codec(kind).decode(data, writer)
        task_id = record.get("task_id") or ""
        if key is not None and key.decode(errors="replace") != task_id:
            raise ValidationError(f"record key {key!r} differs from field task_id {task_id!r}")
        _validate(kind, record)
        return Inbound(
            kind=kind,
            record=record,
            event_id=event["id"],
            task_id=task_id,
            source_agent=source_agent,
            target_agent=event.get("targetagent"),
            collaboration_id=event.get("collaborationid"),
            traceparent=event.get("traceparent"),
            schema_id=schema_id,
            topic=topic,
            partition=partition,
            offset=offset,
        )

    @staticmethod
    def schema_ids(values: Iterable[bytes | None]) -> set[int]:
        """The schema ids named by wire-format values (others are skipped), to fetch before decoding."""
        found = set()
        for value in values:
            if value and len(value) >= _WIRE_HEADER.size and value[0] == 0:
                found.add(_WIRE_HEADER.unpack_from(value)[1])
        return found


def _validate(kind: str, record: Mapping[str, Any]) -> None:
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
