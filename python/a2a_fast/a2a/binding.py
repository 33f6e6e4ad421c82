"""The A2A Kafka binding's wire contract, shared by the client transport and the agent side.

The binding document is ``docs/a2a-kafka-binding.md``; this module is where its rules live in code:

* the binding's identifier (:data:`KAFKA_BINDING`, the ``protocolBinding`` of our cards' interfaces) and the
  A2A version it speaks (:data:`A2A_VERSION`);
* the methods (the A2A operations under their gRPC/JSON-RPC names) with their request and response messages,
  all of package ``lf.a2a.v1`` in the protobuf binary encoding (:func:`encode`, :func:`decode`);
* service parameters as Kafka headers (:func:`service_parameter_headers`, :func:`service_parameters`), with the
  names the binding reserves and the credential headers it refuses to write to a durable log;
* the error table: A2A error classes ↔ codes (the JSON-RPC numbering) ↔ details (:func:`error_fields`,
  :func:`error_from`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, TypeVar

from a2a.client.errors import A2AClientError
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    SendMessageRequest,
    SendMessageResponse,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
)
from a2a.utils.error_handlers import build_error_details
from a2a.utils.errors import JSON_RPC_ERROR_CODE_MAP, A2AError, InternalError, InvalidParamsError, InvalidRequestError
from google.api.field_behavior_pb2 import REQUIRED, field_behavior  # type: ignore[import-untyped]
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import DecodeError, Message

from a2a_fast.protocol.ids import random_id

__all__ = [
    "A2A_VERSION",
    "CREDENTIAL_PARAMETERS",
    "KAFKA_BINDING",
    "METHODS",
    "PRODUCE_SETTINGS",
    "SEND_MESSAGE",
    "SEND_STREAMING_MESSAGE",
    "TASK_METHODS",
    "TEXT_LIMIT",
    "Method",
    "decode",
    "decode_into",
    "encode",
    "error_fields",
    "error_from",
    "json_view",
    "new_id",
    "service_parameter_headers",
    "service_parameters",
    "validate_required",
]

KAFKA_BINDING: Final = "urn:a2a-fast:binding:kafka:v1"
"""The ``protocolBinding`` of the Kafka interface our agent cards advertise, and the label the client transport
registers under with ``ClientFactory.register``. A URI, as the spec asks of custom bindings (§5.8); a breaking
change to the binding gets a new one (``...:v2``)."""

A2A_VERSION: Final = "1.0"
"""The A2A protocol version this binding carries (``protocolVersion`` of the interface, ``A2A-Version``)."""

VERSION_PARAMETER: Final = "a2a-version"
EXTENSIONS_PARAMETER: Final = "a2a-extensions"
TEXT_LIMIT: Final = 500
"""How much of a message's or artifact's text the records repeat in their ``text`` field, for timelines."""

RESERVED_PREFIXES: Final = ("ce_", "dlq.")
RESERVED_NAMES: Final = frozenset({"content-type"})
CREDENTIAL_PARAMETERS: Final = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
"""Service parameters that carry credentials: never written to the log (every record is kept and replayable),
refused with an error naming the broker's own authentication instead."""

PRODUCE_SETTINGS: Final = {"max.in.flight.requests.per.connection": 1}
"""librdkafka settings of both sides' producers. With one request in flight, the records of the calls made
meanwhile wait for the next request, so the batches grow with the load while a lone call goes out at once; with
librdkafka's default of five, its broker thread spent three times the CPU per call at 32 concurrent callers."""

M = TypeVar("M", bound=Message)


@dataclass(frozen=True, slots=True)
class Method:
    """One A2A operation: its name, request and response message types, and whether it is about one task (the
    record is keyed by that task's id) or a message send (handled in the task's order)."""

    name: str
    request: type[Message]
    response: type[Message]
    on_task: bool
    sends: bool = False


SEND_MESSAGE: Final = "SendMessage"
SEND_STREAMING_MESSAGE: Final = "SendStreamingMessage"

METHODS: Final[dict[str, Method]] = {
    method.name: method
    for method in (
        Method(SEND_MESSAGE, SendMessageRequest, SendMessageResponse, True, True),
        Method(SEND_STREAMING_MESSAGE, SendMessageRequest, SendMessageResponse, True, True),
        Method("GetTask", GetTaskRequest, Task, True),
        Method("ListTasks", ListTasksRequest, ListTasksResponse, False),
        Method("CancelTask", CancelTaskRequest, Task, True),
        Method("SubscribeToTask", SubscribeToTaskRequest, Task, True),
        Method("GetExtendedAgentCard", GetExtendedAgentCardRequest, AgentCard, False),
        Method("CreateTaskPushNotificationConfig", TaskPushNotificationConfig, TaskPushNotificationConfig, True),
        Method("GetTaskPushNotificationConfig", GetTaskPushNotificationConfigRequest, TaskPushNotificationConfig, True),
        Method(
            "ListTaskPushNotificationConfigs",
            ListTaskPushNotificationConfigsRequest,
            ListTaskPushNotificationConfigsResponse,
            True,
        ),
        Method("DeleteTaskPushNotificationConfig", DeleteTaskPushNotificationConfigRequest, Empty, True),
    )
}
"""Every A2A operation (spec §5.3), by its method name."""

TASK_METHODS: Final = frozenset(name for name, method in METHODS.items() if method.on_task)


def encode(message: Message) -> bytes:
    """A protobuf message in its binary encoding, as the records carry it."""
    return message.SerializeToString()


def decode(data: bytes | None, kind: type[M], what: str) -> M:
    """The ``kind`` message in ``data``; raises :class:`InvalidRequestError` naming ``what`` when it is not one
    (a record whose bytes another program wrote badly)."""
    message = kind()
    decode_into(message, data, what)
    return message


def decode_into(message: Message, data: bytes | None, what: str) -> None:
    """:func:`decode` into ``message`` (a field of another message, say: no copy made); raises as it does."""
    try:
        message.ParseFromString(data or b"")
    except DecodeError as error:
        raise InvalidRequestError(
            f"{what} is not a {message.DESCRIPTOR.full_name} in protobuf encoding: {error}"
        ) from None


def validate_required(message: Message) -> None:
    """Raises :class:`InvalidParamsError` when a field the A2A proto marks ``REQUIRED`` is unset, anywhere in
    ``message``: the SDK's check (the same rules, messages and ``data["errors"]``), with each message type's
    required fields worked out once instead of on every call."""
    errors = _violations(message)
    if errors:
        raise InvalidParamsError(message="Validation failed", data={"errors": errors})


def _violations(message: Message) -> list[dict[str, str]]:
    required, nested = _plan(message.DESCRIPTOR)
    errors: list[dict[str, str]] = []
    for field in required:
        value = getattr(message, field.name)
        if field.is_repeated:
            missing, text = not value, "Field must contain at least one element."
        elif field.has_presence:
            missing, text = not message.HasField(field.name), "Field is required."
        else:
            missing, text = value == field.default_value, "Field is required."
        if missing:
            errors.append({"field": field.name, "message": text})
    for field, kind in nested:
        value = getattr(message, field.name)
        if kind == "one":
            if message.HasField(field.name):
                found = _violations(value)
                if found:
                    errors.extend(_nested(field.name, found))
        elif kind == "map":
            for key, item in value.items():
                found = _violations(item)
                if found:
                    errors.extend(_nested(f"{field.name}[{key}]", found))
        else:
            for index, item in enumerate(value):
                found = _violations(item)
                if found:
                    errors.extend(_nested(f"{field.name}[{index}]", found))
    return errors


def _nested(prefix: str, errors: list[dict[str, str]]) -> list[dict[str, str]]:
    return [
        {"field": f"{prefix}.{error['field']}" if error["field"] else prefix, "message": error["message"]}
        for error in errors
    ]


@cache
def _plan(descriptor: Descriptor) -> tuple[tuple[FieldDescriptor, ...], tuple[tuple[FieldDescriptor, str], ...]]:
    """A message type's required fields, and its message fields whose types have required fields somewhere."""
    required = tuple(field for field in descriptor.fields if REQUIRED in field.GetOptions().Extensions[field_behavior])
    nested = []
    for field in descriptor.fields:
        kind_of = field.message_type
        if field.type != FieldDescriptor.TYPE_MESSAGE or kind_of is None or not _has_required(kind_of, frozenset()):
            continue
        if kind_of.GetOptions().map_entry:
            kind = "map"
        elif field.is_repeated:
            kind = "many"
        else:
            kind = "one"
        nested.append((field, kind))
    return required, tuple(nested)


def _has_required(descriptor: Descriptor, seen: frozenset[str]) -> bool:
    if descriptor.full_name in seen:
        return False
    seen = seen | {descriptor.full_name}
    for field in descriptor.fields:
        if REQUIRED in field.GetOptions().Extensions[field_behavior]:
            return True
        kind_of = field.message_type
        if field.type == FieldDescriptor.TYPE_MESSAGE and kind_of is not None and _has_required(kind_of, seen):
            return True
    return False


def new_id() -> str:
    """A new random id (uuid4 form, with its dashes): tasks, contexts and calls."""
    hexed = random_id()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def json_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """An ``A2ARequest`` or ``A2AEvent`` record as JSON, its protobuf payloads in ProtoJSON (camelCase names, enum
    names, RFC 3339 UTC timestamps, base64 bytes): how ``a2a-fast tail --json`` shows the binding's records."""
    view = dict(record)
    method = METHODS.get(str(record.get("method")))
    for name, kind in (
        ("params", method.request if method else None),
        ("reply", method.response if method else None),
        ("task", Task),
    ):
        data = record.get(name)
        if isinstance(data, bytes):
            view[name] = _proto_json(data, kind)
    if "events" in record:
        view["events"] = [_proto_json(data, StreamResponse) for data in record.get("events") or ()]
    return view


def _proto_json(data: bytes, kind: type[Message] | None) -> Any:
    if kind is None:
        return {"bytes": data.hex()}
    try:
        return json_format.MessageToDict(kind.FromString(data))
    except DecodeError as error:
        return {"undecodable": str(error), "bytes": data.hex()}


# --- service parameters ----------------------------------------------------------------------------------------


_DEFAULT_HEADERS: Final = (("A2A-Version", A2A_VERSION.encode()),)


def service_parameter_headers(parameters: Mapping[str, str] | None) -> list[tuple[str, bytes]]:
    """Kafka headers carrying a call's service parameters, each under its own name; ``A2A-Version`` is added
    when missing. Raises :class:`A2AClientError` for a name the binding reserves, and for a credential (see
    :data:`CREDENTIAL_PARAMETERS`), which would stay readable in the log for as long as it is retained."""
    if not parameters:
        return list(_DEFAULT_HEADERS)
    headers: list[tuple[str, bytes]] = []
    seen = set()
    for name, value in (parameters or {}).items():
        folded = name.lower()
        if folded in CREDENTIAL_PARAMETERS:
            raise A2AClientError(
                f"service parameter {name!r} carries a credential: the Kafka binding does not write credentials to "
                "the log; the broker authenticates clients (SASL or mTLS) and its ACLs authorise them"
            )
        if folded in RESERVED_NAMES or folded.startswith(RESERVED_PREFIXES) or not folded:
            raise A2AClientError(f"service parameter {name!r}: the name is reserved by the Kafka binding")
        if folded in seen:
            raise A2AClientError(f"service parameter {name!r} given twice (names are case-insensitive)")
        seen.add(folded)
        headers.append((name, str(value).encode()))
    if VERSION_PARAMETER not in seen:
        headers.append(("A2A-Version", A2A_VERSION.encode()))
    return headers


def service_parameters(headers: Iterable[tuple[str, Any]] | None) -> dict[str, str]:
    """The service parameters among a consumed record's headers, keys in lower case (they compare
    case-insensitively); the envelope's own headers are left out."""
    found: dict[str, str] = {}
    for name, value in headers or ():
        if name[:3] == "ce_":
            continue
        folded = name.lower()
        if folded in RESERVED_NAMES or folded.startswith(RESERVED_PREFIXES):
            continue
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        found[folded] = "" if value is None else str(value)
    return found


# --- errors ----------------------------------------------------------------------------------------------------

_CLASS_OF_CODE: Final = {code: cls for cls, code in JSON_RPC_ERROR_CODE_MAP.items()}
_ERROR_INFO: Final = "type.googleapis.com/google.rpc.ErrorInfo"


def error_fields(error: A2AError) -> dict[str, Any]:
    """The ``error_*`` fields of an A2AEvent record saying ``error``: its code, message and details."""
    code = JSON_RPC_ERROR_CODE_MAP.get(type(error))
    if code is None:
        code = next((c for cls, c in JSON_RPC_ERROR_CODE_MAP.items() if isinstance(error, cls)), None)
    if code is None:
        error = InternalError(str(error) or type(error).__name__)
        code = JSON_RPC_ERROR_CODE_MAP[InternalError]
    return {
        "error_code": code,
        "error_message": error.message,
        "error_details": json.dumps(build_error_details(error), separators=(",", ":"), default=str),
    }


def error_from(code: int, message: str | None, details: str | None) -> A2AError:
    """The SDK's error for the ``error_*`` fields of a record (the class of the code, ``data`` from the
    ``ErrorInfo`` detail's metadata); an unknown code gives an :class:`A2AClientError` naming it."""
    data: dict[str, Any] | None = None
    try:
        parsed = json.loads(details) if details else []
    except ValueError:
        parsed = []
    for detail in parsed if isinstance(parsed, list) else ():
        if isinstance(detail, dict) and detail.get("@type") == _ERROR_INFO:
            metadata = detail.get("metadata")
            data = metadata if isinstance(metadata, dict) and metadata else None
            break
    cls = _CLASS_OF_CODE.get(code)
    if cls is None:
        return A2AClientError(f"A2A error {code}: {message}")
    return cls(message, data=data)
