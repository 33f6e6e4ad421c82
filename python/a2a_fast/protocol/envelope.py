"""The wire format of agent messages: a record ↔ a decoded message, for one agent.

Every Kafka record the agents exchange is a CloudEvent in Kafka *binary* content mode:

* headers ``ce_specversion=1.0``, ``ce_id`` (unique per message, used to drop redeliveries), ``ce_source``
  (``a2a://agents/<agent id>``), ``ce_type`` (``a2a.task.request``, ``a2a.task.response``,
  ``a2a.negotiation``), ``ce_time``, the A2A extensions ``ce_protocol=A2A``, ``ce_protocolversion``,
  ``ce_messagetype`` (the Avro record name), ``ce_sourceagent``, ``ce_targetagent`` (when addressed),
  ``ce_collaborationid``, ``ce_traceparent``, ``ce_priority`` (HIGH/NORMAL/LOW) and ``ce_ttl`` (seconds)
  (optional), ``content-type: application/avro`` and
  ``ce_dataschema`` naming the registry subject and schema id;
* the value is the Avro record in Confluent wire format (magic byte 0, 4-byte big-endian schema id, body);
* the key is the task id, so all messages about one task stay in order on one partition.

:class:`Envelope` turns a record into such a ``(key, headers, value)`` triple and back. Decoding resolves
the writer's schema (fetched by id from the registry through :class:`~a2a_fast.transport.registry.SchemaCatalog`)
against the reader's own schema, so agents built against different schema versions interoperate.

:meth:`Envelope.decode_many` decodes a consumed batch in one native call (:class:`EnvelopeDecoder`: the
CloudEvents headers, the limits, the A2A attributes, the wire header and the Avro body with the writer's
schema resolved) and returns, per record, the message or the error that :meth:`Envelope.decode` would have
raised, so one bad record never costs the others their batch. A record the native rules refuse goes through
:meth:`Envelope.decode` itself, which gives the reason in its own words. :meth:`Envelope.encode` makes the
usual record in one native call too (:class:`EnvelopeEncoder`, whose constant headers are made once per
kind), and anything unusual through :func:`to_kafka`.

The CloudEvents binding and the Avro codec are reached only through :func:`to_kafka`, :func:`from_kafka`,
:class:`Codec`, :func:`read_schema_id`, :class:`EnvelopeDecoder` and :class:`EnvelopeEncoder`; those names
are the seam to the native core.
"""

from __future__ import annotations

import json
import struct
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

from a2a_fast._native import EnvelopeDecoder, EnvelopeEncoder
from a2a_fast.codecs.avro import Codec
from a2a_fast.codecs.avro import schema_id_of as read_schema_id
from a2a_fast.codecs.cloudevents import from_kafka, to_kafka
from a2a_fast.errors import SchemaError, ValidationError
from a2a_fast.protocol.kinds import CONTENT_TYPE, KIND_TASK_REQUEST, MESSAGE_KINDS, PROTOCOL, PROTOCOL_VERSION
from a2a_fast.protocol.limits import MessageLimits
from a2a_fast.protocol.topics import TopicNames

__all__ = [
    "TARGET_AGENT_HEADER",
    "TARGET_GROUP_HEADER",
    "Consumed",
    "Envelope",
    "Headers",
    "Inbound",
    "KafkaRecord",
    "header_text",
    "json_or_text",
    "read_schema_id",
]

Headers = list[tuple[str, bytes]]
InHeaders = Iterable[tuple[str, Any]]
_WIRE_HEADER = struct.Struct(">bI")
TARGET_GROUP_HEADER: Final = "ce_targetgroup"
TARGET_AGENT_HEADER: Final = "ce_targetagent"


def header_text(headers: Iterable[tuple[str, Any]] | None, name: str) -> str | None:
    """The text of header ``name`` in a consumed record's headers, None when absent."""
    for found, value in headers or ():
        if found == name:
            if value is None:
                return None
            return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return None


def json_or_text(text: str | None) -> Any:
    """A record's JSON text field (a task result, a step output) as a value; text that is not JSON stays text."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


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
    priority: str | None = None
    target_group: str | None = None
    """The consumer group the record is addressed to (``ce_targetgroup``), None when it is not."""


class _Catalog(Protocol):
    """What :class:`Envelope` needs from the registry; see :class:`a2a_fast.transport.registry.SchemaCatalog`."""

    def writer_codec(self, kind: str) -> Codec: ...

    def reader_codec(self, kind: str) -> Codec: ...

    def schema_uri(self, kind: str) -> str: ...

    def cached_schema(self, schema_id: int) -> tuple[str, Codec] | None:
        """``(record full name, codec of that schema)`` of a known id, None when not fetched yet."""


class Consumed(Protocol):
    """A consumed record as :meth:`Envelope.decode_many` reads it (``confluent_kafka.Message`` is one)."""

    def key(self) -> bytes | None: ...

    def headers(self) -> dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None: ...

    def value(self) -> bytes | None: ...

    def topic(self) -> str | None: ...

    def partition(self) -> int | None: ...

    def offset(self) -> int | None: ...


class Envelope:
    """Encodes records into CloudEvent Kafka records and decodes them back, for one agent."""

    def __init__(
        self, catalog: _Catalog, topics: TopicNames, agent_id: str, limits: MessageLimits | None = None
    ) -> None:
        self.catalog = catalog
        self.topics = topics
        self.agent_id = agent_id
        self.source = f"a2a://agents/{agent_id}"
        self.limits = limits
        """Size and age limits :meth:`decode` enforces (none when None)."""
        self._writers: dict[str, tuple[Codec, str, str, EnvelopeEncoder | None]] = {}
        self._decoder = EnvelopeDecoder(
            [
                (kind, spec.record, ["capability"] if kind == KIND_TASK_REQUEST else [])
                for kind, spec in MESSAGE_KINDS.items()
            ],
            Inbound,
        )

    def _writer(self, kind: str) -> tuple[Codec, str, str, EnvelopeEncoder | None]:
        """``(codec, schema URI, topic, native encoder)`` of ``kind``, looked up again when the catalog's codec
        changes; the native encoder is None when a constant attribute breaks a CloudEvents rule (the general
        path then raises the error on every call)."""
        codec = self.catalog.writer_codec(kind)
        cached = self._writers.get(kind)
        if cached is None or cached[0] is not codec:
            schema_uri = self.catalog.schema_uri(kind)
            try:
                native: EnvelopeEncoder | None = EnvelopeEncoder(
                    codec,
                    source=self.source,
                    ce_type=kind,
                    dataschema=schema_uri,
                    protocolversion=PROTOCOL_VERSION,
                    messagetype=MESSAGE_KINDS[kind].record,
                    sourceagent=self.agent_id,
                )
            except ValueError:
                native = None
            cached = self._writers[kind] = (codec, schema_uri, self.topics.for_kind(kind), native)
        return cached

    def encode(
        self,
        kind: str,
        record: Mapping[str, Any],
        *,
        target_agent: str | None = None,
        collaboration_id: str | None = None,
        traceparent: str | None = None,
        event_id: str | None = None,
        priority: str | None = None,
        ttl: int | None = None,
        target_group: str | None = None,
    ) -> KafkaRecord:
        """The Kafka record carrying ``record`` as a ``kind`` message; the key is its ``task_id``."""
        return KafkaRecord(
            *self.encode_parts(
                kind,
                record,
                target_agent=target_agent,
                collaboration_id=collaboration_id,
                traceparent=traceparent,
                event_id=event_id,
                priority=priority,
                ttl=ttl,
                target_group=target_group,
            )
        )

    def encode_parts(
        self,
        kind: str,
        record: Mapping[str, Any],
        *,
        target_agent: str | None = None,
        collaboration_id: str | None = None,
        traceparent: str | None = None,
        event_id: str | None = None,
        priority: str | None = None,
        ttl: int | None = None,
        target_group: str | None = None,
    ) -> tuple[str, bytes, Headers, bytes]:
        """:meth:`encode` as a ``(topic, key, headers, value)`` tuple, in one native call for the usual record.

        ``target_group`` addresses the record to one consumer group (``ce_targetgroup``): any member of it may
        act on it, the members of other groups reading the topic skip it."""
        codec, schema_uri, topic, native = self._writer(kind)
        task_id = record.get("task_id")
        if not task_id:
            raise ValidationError("record field 'task_id' is missing or empty")
        event_id = event_id or uuid.uuid4().hex
        if native is not None:
            parts = native.encode(record, task_id, event_id, target_agent, collaboration_id, traceparent, priority, ttl)
            if parts is not None:
                key, headers, value = parts
                if target_group:
                    headers.append((TARGET_GROUP_HEADER, target_group.encode()))
                return topic, key, headers, value
        event = {
            "specversion": "1.0",
            "id": event_id,
            "source": self.source,
            "type": kind,
            "time": _utc_now(),
            "datacontenttype": CONTENT_TYPE,
            "dataschema": schema_uri,
            "protocol": PROTOCOL,
            "protocolversion": PROTOCOL_VERSION,
            "messagetype": MESSAGE_KINDS[kind].record,
            "sourceagent": self.agent_id,
            "targetagent": target_agent,
            "collaborationid": collaboration_id,
            "traceparent": traceparent,
            "priority": priority,
            "ttl": ttl,
            "targetgroup": target_group,
            "partitionkey": task_id,
            "data": codec.encode(record),
        }
        raw_key, raw_headers, raw_value = to_kafka(event)
        return topic, _as_bytes(raw_key or task_id), raw_headers, raw_value or b""

    def decode_record(self, record: Consumed, check_age: bool = True) -> Inbound | ValueError:
        """:meth:`decode` of one consumed record, the error returned rather than raised; ``check_age`` False
        reads a record past its ttl as any other."""
        try:
            return self.decode(
                record.key(),
                record.headers(),
                record.value(),
                record.topic() or "",
                record.partition() or 0,
                record.offset() or 0,
                check_age=check_age,
            )
        except ValueError as error:
            return error

    def decode(
        self,
        key: bytes | None,
        headers: InHeaders | dict[str, Any] | None,
        value: bytes | None,
        topic: str = "",
        partition: int = -1,
        offset: int = -1,
        *,
        check_age: bool = True,
    ) -> Inbound:
        """The message in a consumed record. Raises :class:`DecodeError`, :class:`ValidationError` or
        :class:`SchemaError` (all ``ValueError``) naming what is wrong, or a
        :class:`~a2a_fast.errors.LimitError` for a message too large or expired; a writer schema id must already
        be in the catalog's cache (see :meth:`schema_ids`)."""
        limits = self.limits
        if limits is not None:
            limits.check_size(len(value or b""))
        event = from_kafka(list(headers.items() if isinstance(headers, dict) else headers or ()), value, key)
        kind, data, schema_id, writer = self._check_event(event, check_age)
        record = self.catalog.reader_codec(kind).decode(data, writer)
        return self._inbound(event, kind, record, schema_id, key, topic, partition, offset)

    def decode_many(self, records: Sequence[Consumed]) -> list[Inbound | ValueError]:
        """:meth:`decode` of each consumed record, in one native call for the whole batch.

        Returns, in order, the message or the error (:class:`DecodeError`, :class:`ValidationError`,
        :class:`SchemaError`, :class:`~a2a_fast.errors.LimitError`) that :meth:`decode` would have raised
        for that record, so one bad record never costs the others their batch. Records the native rules
        refuse, and those whose writer schema is not in the catalog, go through :meth:`decode` itself.
        """
        decoder = self._decoder
        catalog = self.catalog
        for kind in MESSAGE_KINDS:
            try:
                reader = catalog.reader_codec(kind)
            except SchemaError:
                continue  # its records go through decode(), which names the missing schema
            if decoder.reader(kind) is not reader:
                decoder.set_reader(kind, reader)
        limits = self.limits
        bounds = None
        if limits is not None:
            bounds = (limits.config.max_message_bytes, float(limits.config.default_ttl_seconds), limits.clock())
        out, pending = decoder.decode_many(records, bounds)
        retry = []
        for index in pending:
            item = out[index]
            if type(item) is int:
                known = catalog.cached_schema(item)
                if known is not None:
                    decoder.add_writer(item, *known)
                    retry.append(index)
                    continue
            if item is None or type(item) is int:
                out[index] = self.decode_record(records[index])
        if retry:
            again, still = decoder.decode_many([records[index] for index in retry], bounds)
            for position in still:
                again[position] = self.decode_record(records[retry[position]])
            for index, item in zip(retry, again, strict=True):
                out[index] = item
        return cast(list[Inbound | ValueError], out)

    def unknown_schema_ids(self, records: Iterable[Consumed]) -> set[int]:
        """Writer schema ids of the records' values that the catalog has not fetched yet."""
        catalog = self.catalog
        return {
            schema_id
            for schema_id in self._decoder.unknown_schema_ids(records)
            if catalog.cached_schema(schema_id) is None
        }

    def _check_event(self, event: Mapping[str, Any], check_age: bool = True) -> tuple[str, bytes, int, Codec]:
        """``(kind, Avro data, writer schema id, writer codec)`` of a CloudEvent that is an A2A message."""
        for required in ("id", "source", "type"):
            if not event.get(required):
                raise ValidationError(f"CloudEvent attribute {required!r} is missing (header ce_{required})")
        if self.limits is not None and check_age:
            self.limits.check_age(event.get("time"), event.get("ttl"))
        kind = event["type"]
        if kind not in MESSAGE_KINDS:
            raise ValidationError(f"ce_type {kind!r} is not an A2A message type")
        if event.get("protocol") != PROTOCOL:
            raise ValidationError(f"ce_protocol {event.get('protocol')!r} is not {PROTOCOL}")
        if event.get("datacontenttype") != CONTENT_TYPE:
            raise ValidationError(f"content-type {event.get('datacontenttype')!r} is not {CONTENT_TYPE}")
        if not event.get("sourceagent"):
            raise ValidationError("CloudEvent attribute 'sourceagent' is missing (header ce_sourceagent)")
        data = event.get("data")
        if not isinstance(data, bytes):
            raise ValidationError(f"CloudEvent data is {type(data).__name__}, expected Avro bytes")
        schema_id = read_schema_id(data)
        known = self.catalog.cached_schema(schema_id)
        if known is None:
            raise SchemaError(f"schema id {schema_id} is unknown to the registry")
        name, writer = known
        expected = MESSAGE_KINDS[kind].record
        if name.rsplit(".", 1)[-1] != expected:
            raise ValidationError(f"schema id {schema_id} is a {name} schema, ce_type {kind} needs {expected}")
        return kind, data, schema_id, writer

    @staticmethod
    def _inbound(
        event: Mapping[str, Any],
        kind: str,
        record: dict[str, Any],
        schema_id: int,
        key: bytes | None,
        topic: str,
        partition: int,
        offset: int,
    ) -> Inbound:
        task_id = record.get("task_id") or ""
        if key is not None and key.decode(errors="replace") != task_id:
            raise ValidationError(f"record key {key!r} differs from field task_id {task_id!r}")
        _validate(kind, record)
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

    @staticmethod
    def schema_ids(values: Iterable[bytes | None]) -> set[int]:
        """The schema ids named by wire-format values (others are skipped), to fetch before decoding."""
        found = set()
        for value in values:
            if value and len(value) >= _WIRE_HEADER.size and value[0] == 0:
                found.add(_WIRE_HEADER.unpack_from(value)[1])
        return found


_second: tuple[int, str] = (-1, "")


def _utc_now() -> str:
    """The time now as RFC 3339 UTC text with milliseconds (``2025-01-02T03:04:05.678Z``)."""
    global _second
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    if _second[0] != seconds:
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second[1]}.{nanos // 1_000_000:03d}Z"


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


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
