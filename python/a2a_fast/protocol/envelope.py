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

Every rule of the envelope lives in the native core (:class:`EnvelopeDecoder`): the size and age limits,
the CloudEvents binding, the A2A attributes, the wire header, the writer schema and the rules of the record
(its key is its ``task_id``, required fields are not empty, costs are at least 0, progress is from 0 to 1),
each error worded as agents put it in their dead letters. :meth:`Envelope.decode_many` decodes a consumed
batch in one native call and returns, per record, the message or its error, so one bad record never costs
the others their batch; :meth:`Envelope.decode` is the same call for one record. :meth:`Envelope.encode`
makes the usual record in one native call too (:class:`EnvelopeEncoder`, whose constant headers are made
once per kind), and anything unusual through :func:`to_kafka`.

The CloudEvents binding and the Avro codec are reached only through :func:`to_kafka`, :class:`Codec`,
:func:`read_schema_id`, :class:`EnvelopeDecoder` and :class:`EnvelopeEncoder`; those names are the seam to
the native core.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

from a2a_fast._native import EnvelopeDecoder, EnvelopeEncoder, envelope_check_task_id
from a2a_fast.codecs.avro import Codec
from a2a_fast.codecs.avro import schema_id_of as read_schema_id
from a2a_fast.codecs.cloudevents import to_kafka
from a2a_fast.errors import SchemaError
from a2a_fast.protocol.ids import random_id
from a2a_fast.protocol.kinds import CONTENT_TYPE, MESSAGE_KINDS, PROTOCOL, PROTOCOL_VERSION
from a2a_fast.protocol.limits import MessageLimits
from a2a_fast.protocol.topics import TopicNames

__all__ = [
    "SOURCE_AGENT_HEADER",
    "TARGET_AGENT_HEADER",
    "TARGET_GROUP_HEADER",
    "Consumed",
    "Envelope",
    "Headers",
    "Inbound",
    "KafkaRecord",
    "header_text",
    "header_texts",
    "json_or_text",
    "read_schema_id",
]

Headers = list[tuple[str, bytes]]
InHeaders = Iterable[tuple[str, Any]]
_WIRE_HEADER = struct.Struct(">bI")
TARGET_GROUP_HEADER: Final = "ce_targetgroup"
SOURCE_AGENT_HEADER: Final = "ce_sourceagent"
TARGET_AGENT_HEADER: Final = "ce_targetagent"


def header_text(headers: Iterable[tuple[str, Any]] | None, name: str) -> str | None:
    """The text of header ``name`` in a consumed record's headers, None when absent."""
    for found, value in headers or ():
        if found == name:
            if value is None:
                return None
            return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return None


def header_texts(headers: Iterable[tuple[str, Any]] | None, first: str, second: str) -> tuple[str | None, str | None]:
    """:func:`header_text` of two headers, read in one pass over the headers."""
    found_first = found_second = _ABSENT
    for found, value in headers or ():
        if found == first:
            if found_first is _ABSENT:
                found_first = value
        elif found == second and found_second is _ABSENT:
            found_second = value
    # the texts as header_text gives them, inline: this runs for every record a requester reads
    if found_first is _ABSENT or found_first is None:
        first_text = None
    else:
        first_text = found_first.decode(errors="replace") if isinstance(found_first, bytes) else str(found_first)
    if found_second is _ABSENT or found_second is None:
        return first_text, None
    return first_text, found_second.decode(errors="replace") if isinstance(found_second, bytes) else str(found_second)


_ABSENT: Any = object()


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
        self._decoder = EnvelopeDecoder([(kind, spec.record) for kind, spec in MESSAGE_KINDS.items()], Inbound)

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
        envelope_check_task_id(task_id)
        event_id = event_id or random_id()
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
        # task_id is present and not empty: envelope_check_task_id raised otherwise
        return topic, _as_bytes(raw_key or cast(str | bytes, task_id)), raw_headers, raw_value or b""

    def decode_record(self, record: Consumed, check_age: bool = True) -> Inbound | ValueError:
        """:meth:`decode` of one consumed record, the error returned rather than raised; ``check_age`` False
        reads a record past its ttl as any other."""
        decoder = self._ready_decoder()
        [found] = decoder.decode_many([record], self._bounds(), check_age, self.catalog.cached_schema)
        return cast(Inbound | ValueError, found)

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
        :class:`~a2a_fast.errors.LimitError` for a message too large or expired (unless ``check_age`` is
        False); a writer schema id must already be in the catalog's cache (see :meth:`schema_ids`)."""
        found = self._ready_decoder().decode(
            key, headers, value, topic, partition, offset, self._bounds(), check_age, self.catalog.cached_schema
        )
        if isinstance(found, ValueError):
            raise found
        return cast(Inbound, found)

    def decode_many(self, records: Sequence[Consumed]) -> list[Inbound | ValueError]:
        """:meth:`decode` of each consumed record, in one native call for the whole batch.

        Returns, in order, the message or the error (:class:`DecodeError`, :class:`ValidationError`,
        :class:`SchemaError`, :class:`~a2a_fast.errors.LimitError`) that :meth:`decode` would have raised
        for that record, so one bad record never costs the others their batch. Records whose writer schema
        the catalog has cached are decoded with it; other ids give a :class:`SchemaError`.
        """
        decoder = self._ready_decoder()
        return cast(
            list[Inbound | ValueError],
            decoder.decode_many(records, self._bounds(), True, self.catalog.cached_schema),
        )

    def _ready_decoder(self) -> EnvelopeDecoder:
        """The native decoder with the catalog's current reader codec of each kind (or, for a kind the
        catalog has none of, its error, which that kind's records then give)."""
        decoder = self._decoder
        for kind in MESSAGE_KINDS:
            try:
                reader = self.catalog.reader_codec(kind)
            except SchemaError as error:
                decoder.set_reader_error(kind, error)
                continue
            if decoder.reader(kind) is not reader:
                decoder.set_reader(kind, reader)
        return decoder

    def _bounds(self) -> tuple[int, float, float] | None:
        """``(max bytes, default ttl, now)`` of the size and age limits, None without limits."""
        limits = self.limits
        if limits is None:
            return None
        return limits.config.max_message_bytes, float(limits.config.default_ttl_seconds), limits.clock()

    def unknown_schema_ids(self, records: Iterable[Consumed]) -> set[int]:
        """Writer schema ids of the records' values that the catalog has not fetched yet."""
        catalog = self.catalog
        return {
            schema_id
            for schema_id in self._decoder.unknown_schema_ids(records)
            if catalog.cached_schema(schema_id) is None
        }

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
