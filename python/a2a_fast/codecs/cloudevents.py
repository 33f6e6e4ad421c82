"""CloudEvents 1.0 for agent messages, in native code.

A CloudEvent here is a plain ``dict`` in the CloudEvents JSON format::

    {"specversion": "1.0", "id": "42", "source": "/agents/planner", "type": "a2a.TASK_REQUEST",
     "time": "2025-01-02T03:04:05Z", "datacontenttype": "application/json",
     "priority": "HIGH",                 # extensions: lower-case a-z0-9 names, str/int/bool/bytes values
     "data": {"task": "sum"}}            # any JSON value, or bytes (written as data_base64)

Every writer validates the event first (required attributes, ``specversion`` "1.0", extension names and
value types, String values without control characters or noncharacters, RFC 3339 ``time``, media types,
data matching ``datacontenttype``) and raises
:class:`~a2a_fast.errors.ValidationError` naming the attribute; every reader raises
:class:`~a2a_fast.errors.DecodeError` with the byte offset for malformed JSON. An attribute set to ``None``
is the same as an absent one; ``data=None`` is an explicit JSON ``null`` payload.

Formats and bindings:

* Structured JSON (``application/cloudevents+json``): :func:`to_json` / :func:`from_json`, and the
  ``_many`` forms that convert a list in one native call with the GIL released.
* JSON batch (``application/cloudevents-batch+json``): :func:`to_json_batch` / :func:`from_json_batch`.
* Kafka binary content mode: :func:`to_kafka` returns ``(key, headers, value)`` ready for
  ``confluent_kafka.Producer.produce(topic, value, key, headers=headers)``; :func:`from_kafka` reads
  ``msg.headers(), msg.value(), msg.key()`` in binary or structured mode. Headers carry attributes as
  text, so integer and boolean extensions come back as strings; data without ``datacontenttype`` is sent
  with an explicit ``content-type`` (``application/json``, or ``application/octet-stream`` for bytes)
  so the receiver reads it back as it was. The record key becomes the ``partitionkey`` extension unless
  a header already carries it, as the official SDKs do.

A2A messages map to CloudEvents losslessly (``to_a2a(from_a2a(m)) == m`` for every valid ``m``):
``messageId`` → ``id``, ``timestamp`` → ``time``, ``payload`` → ``data`` (``application/json``),
``source`` is ``/agents/<agentId>``, ``type`` is ``a2a.<messageType>``, and extensions ``protocol``,
``protocolversion``, ``messagetype``, ``sourceagent``, ``sourceagenttype``, ``agentcapabilities``
(comma-separated), ``targetagent``, ``targetagenttype``, ``targetagentcapabilities``, ``priority``,
``ttl``, ``correlationid``, ``collaborationid`` and ``traceparent``. An optional field that is
explicitly ``null`` becomes an empty-string extension, an absent one no extension. A valid message has
exactly the A2A fields; capabilities are non-empty strings without commas; ``ttl`` is 0..2**31-1.
:func:`a2a_to_json_many` and :func:`json_to_a2a_many` go straight between A2A dicts and CloudEvent JSON
bytes, the path producers and consumers use most.

Gateways that receive A2A JSON and forward CloudEvents (or the reverse) need no Python objects at all:
:func:`a2a_json_to_event_json` and :func:`event_json_to_a2a_json` (and their ``_many`` forms) convert
bytes to bytes with the same validation and errors as the dict functions, and write the same bytes:
``a2a_json_to_event_json(json.dumps(m).encode()) == a2a_to_json(m)`` and
``json.loads(event_json_to_a2a_json(b)) == json_to_a2a(b)``.

>>> from a2a_fast.codecs import cloudevents
>>> event = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": {"x": 1}}
>>> cloudevents.from_json(cloudevents.to_json(event)) == event
True
"""

from __future__ import annotations

from typing import Any

from a2a_fast._native import (
    ce_a2a_json_to_event_json as a2a_json_to_event_json,
)
from a2a_fast._native import (
    ce_a2a_json_to_event_json_many as a2a_json_to_event_json_many,
)
from a2a_fast._native import (
    ce_a2a_to_json as a2a_to_json,
)
from a2a_fast._native import (
    ce_a2a_to_json_many as a2a_to_json_many,
)
from a2a_fast._native import (
    ce_event_json_to_a2a_json as event_json_to_a2a_json,
)
from a2a_fast._native import (
    ce_event_json_to_a2a_json_many as event_json_to_a2a_json_many,
)
from a2a_fast._native import (
    ce_from_a2a as from_a2a,
)
from a2a_fast._native import (
    ce_from_a2a_many as from_a2a_many,
)
from a2a_fast._native import (
    ce_from_json as from_json,
)
from a2a_fast._native import (
    ce_from_json_batch as from_json_batch,
)
from a2a_fast._native import (
    ce_from_json_many as from_json_many,
)
from a2a_fast._native import (
    ce_from_kafka as from_kafka,
)
from a2a_fast._native import (
    ce_from_kafka_many as from_kafka_many,
)
from a2a_fast._native import (
    ce_is_valid_a2a,
)
from a2a_fast._native import (
    ce_json_to_a2a as json_to_a2a,
)
from a2a_fast._native import (
    ce_json_to_a2a_many as json_to_a2a_many,
)
from a2a_fast._native import (
    ce_to_a2a as to_a2a,
)
from a2a_fast._native import (
    ce_to_a2a_many as to_a2a_many,
)
from a2a_fast._native import (
    ce_to_json as to_json,
)
from a2a_fast._native import (
    ce_to_json_batch as to_json_batch,
)
from a2a_fast._native import (
    ce_to_json_many as to_json_many,
)
from a2a_fast._native import (
    ce_to_kafka as to_kafka,
)
from a2a_fast._native import (
    ce_to_kafka_many as to_kafka_many,
)
from a2a_fast._native import (
    ce_validate_a2a as validate_a2a,
)
from a2a_fast.errors import DecodeError, ValidationError

__all__ = [
    "CONTENT_TYPE",
    "CONTENT_TYPE_BATCH",
    "DecodeError",
    "ValidationError",
    "a2a_json_to_event_json",
    "a2a_json_to_event_json_many",
    "a2a_to_json",
    "a2a_to_json_many",
    "event_json_to_a2a_json",
    "event_json_to_a2a_json_many",
    "from_a2a",
    "from_a2a_many",
    "from_json",
    "from_json_batch",
    "from_json_many",
    "from_kafka",
    "from_kafka_many",
    "is_valid",
    "json_to_a2a",
    "json_to_a2a_many",
    "to_a2a",
    "to_a2a_many",
    "to_json",
    "to_json_batch",
    "to_json_many",
    "to_kafka",
    "to_kafka_many",
    "validate_a2a",
]

CONTENT_TYPE = "application/cloudevents+json"
"""Media type of one event in the JSON format (structured content mode)."""

CONTENT_TYPE_BATCH = "application/cloudevents-batch+json"
"""Media type of a JSON batch of events."""


def is_valid(message: Any) -> bool:
    """True when ``message`` is a valid A2A message; :func:`validate_a2a` says what is wrong otherwise."""
    return ce_is_valid_a2a(message)
