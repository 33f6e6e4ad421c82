"""Avro binary codec backed by the native core, byte-compatible with fastavro.

Build a :class:`Codec` once per schema and reuse it; the schema is parsed and compiled once::

    from a2a_fast.codecs.avro import Codec, schema_id_of

    codec = Codec(
        {
            "type": "record",
            "name": "TaskRequest",
            "fields": [
                {"name": "task_id", "type": "string"},
                {"name": "priority", "type": "int", "default": 1},
            ],
        },
        schema_id=7,
    )
    data = codec.encode({"task_id": "t-1"})  # b"\\x00\\x00\\x00\\x00\\x07..." (priority takes its default)
    assert schema_id_of(data) == 7
    assert codec.decode(data) == {"task_id": "t-1", "priority": 1}

Schemas are ``.avsc`` JSON text, a dict, or a list (a union). The whole Avro 1.11 type system is
supported: primitives, records, enums (with defaults), arrays, maps, unions, fixed, named-type
references and namespaces.

Values map to Python as in fastavro: record and map → ``dict``, array → ``list``, enum → ``str``,
bytes and fixed → ``bytes``, union → the value of its branch. When encoding a union the branch is
chosen as fastavro does: ``None`` → null, ``bool`` → boolean, ``int`` → the first of int/long/float/
double that fits, ``float`` → double (preferred over float), ``str`` → string or a matching enum
symbol, ``bytes`` → bytes or fixed of that size, ``dict`` → the record sharing most field names, or a
map. Fields missing from a dict take their default, or null when their type allows it. Records and
maps must be ``dict`` (or a subclass); arrays ``list`` or ``tuple``. fastavro's ``(name, value)``
tuple notation for unions is not supported.

Logical types are read and written as their underlying type: a ``timestamp-millis`` is an ``int`` of
milliseconds, a ``date`` an ``int`` of days, a ``uuid`` a ``str``, a ``decimal`` its raw ``bytes``.
(fastavro converts them to ``datetime``/``Decimal``/``UUID`` objects; pass those through your own
conversion, or compare with fastavro on a schema without ``logicalType``.)

With ``schema_id`` every message is framed in the Confluent wire format: magic byte 0, the schema id
as 4 big-endian bytes, then the Avro body. :func:`schema_id_of` reads the id of a message so a
consumer can fetch the writer's schema from a registry; pass that schema (JSON text, dict or another
:class:`Codec`, the fastest) as ``writer_schema`` and the message is read with Avro schema
resolution: added fields take their defaults, removed ones are skipped, enum symbols unknown to the
reader take the reader's enum default, int → long → float → double and string ↔ bytes are promoted.
Resolution is planned once per writer schema and cached by its canonical form.

Errors: :class:`~a2a_fast.errors.ValidationError` names the field path of a value that does not
fit (``TaskRequest.priority: expected int, got str``); :class:`~a2a_fast.errors.DecodeError` names
the byte offset of truncated or malformed data (trailing bytes included);
:class:`~a2a_fast.errors.SchemaError` reports invalid schemas, unresolvable writer/reader pairs, and
messages framed with another schema id when no ``writer_schema`` was given.
"""

from __future__ import annotations

from a2a_fast._native import AvroCodec as Codec
from a2a_fast._native import avro_parse_wire_header as parse_wire_header
from a2a_fast.errors import DecodeError, SchemaError, ValidationError

__all__ = ["Codec", "DecodeError", "SchemaError", "ValidationError", "parse_wire_header", "schema_id_of"]


def schema_id_of(data: bytes) -> int:
    """Schema id of a message in the Confluent wire format; :class:`DecodeError` if it is not framed."""
    return parse_wire_header(data)[0]
