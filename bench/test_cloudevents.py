"""A2A message ⇄ CloudEvent JSON bytes: a2a_fast against the official SDK and a msgspec converter.

Every implementation does the same work on the same inputs: validate the A2A message, map it to a
CloudEvents 1.0 event (the mapping documented in ``a2a_fast.codecs.cloudevents``) and write structured JSON; and
back: parse the JSON, check the event, rebuild the A2A dict. Outputs are asserted equal (as decoded JSON
values, not bytes) before timing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
import pytest
from cloudevents.v1.conversion import to_json as sdk_to_json
from cloudevents.v1.http import CloudEvent as SdkCloudEvent
from cloudevents.v1.http import from_json as sdk_from_json

from a2a_fast.codecs import cloudevents as ce

BATCH = 1000
UNSET = msgspec.UNSET


def make_message(i: int) -> dict[str, Any]:
    message: dict[str, Any] = {
        "protocol": "A2A",
        "version": "1.0",
        "messageId": f"msg-{i:08d}",
        "timestamp": f"2025-03-01T12:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
        "sourceAgent": {"agentId": f"planner-{i % 7}", "agentType": "planner", "capabilities": ["plan", "route"]},
        "targetAgent": {"agentId": f"worker-{i % 13}", "agentType": "executor", "capabilities": ["execute"]},
        "messageType": "TASK_REQUEST",
        "payload": {
            "task": "summarize",
            "document": {"id": i, "title": f"Quarterly report {i}", "pages": [1, 2, 3]},
            "deadlineSeconds": 30.5,
            "tags": ["finance", "q1"],
        },
        "metadata": {"priority": ("HIGH", "NORMAL", "LOW")[i % 3], "ttl": 300, "correlationId": f"corr-{i}"},
    }
    if i % 2:
        message["metadata"]["traceparent"] = f"00-{i:032x}-{i:016x}-01"
    if i % 5 == 0:
        message["targetAgent"] = None
        message["metadata"]["collaborationId"] = f"collab-{i % 3}"
    return message


MESSAGES = [make_message(i) for i in range(BATCH)]


# --- the official CloudEvents SDK (v1 API), with the same mapping in Python -------------------


def _caps(agent: dict[str, Any]) -> str:
    for capability in agent["capabilities"]:
        if not isinstance(capability, str) or not capability or "," in capability:
            raise ValueError("capabilities must be non-empty strings without commas")
    return ",".join(agent["capabilities"])


def a2a_attributes(m: dict[str, Any]) -> dict[str, Any]:
    if m.get("protocol") != "A2A":
        raise ValueError("protocol")
    meta = m["metadata"]
    if meta["priority"] not in ("HIGH", "NORMAL", "LOW"):
        raise ValueError("priority")
    ttl = meta["ttl"]
    if type(ttl) is not int or not 0 <= ttl < 2**31:
        raise ValueError("ttl")
    source = m["sourceAgent"]
    attrs: dict[str, Any] = {
        "specversion": "1.0",
        "id": m["messageId"],
        "source": f"/agents/{source['agentId']}",
        "type": f"a2a.{m['messageType']}",
        "time": m["timestamp"],
        "datacontenttype": "application/json",
        "protocol": "A2A",
        "protocolversion": m["version"],
        "messagetype": m["messageType"],
        "sourceagent": source["agentId"],
        "sourceagenttype": source["agentType"],
        "agentcapabilities": _caps(source),
    }
    if "targetAgent" in m:
        target = m["targetAgent"]
        if target is None:
            attrs["targetagent"] = ""
        else:
            attrs["targetagent"] = target["agentId"]
            attrs["targetagenttype"] = target["agentType"]
            attrs["targetagentcapabilities"] = _caps(target)
    attrs["priority"] = meta["priority"]
    attrs["ttl"] = ttl
    attrs["correlationid"] = meta["correlationId"]
    for field, ext in (("collaborationId", "collaborationid"), ("traceparent", "traceparent")):
        if field in meta:
            attrs[ext] = "" if meta[field] is None else meta[field]
    return attrs


def _split_caps(text: str) -> list[str]:
    return text.split(",") if text else []


def attributes_to_a2a(attrs: dict[str, Any], data: Any) -> dict[str, Any]:
    if attrs.get("protocol") != "A2A":
        raise ValueError("protocol")
    message: dict[str, Any] = {
        "protocol": "A2A",
        "version": attrs["protocolversion"],
        "messageId": attrs["id"],
        "timestamp": attrs["time"],
        "sourceAgent": {
            "agentId": attrs["sourceagent"],
            "agentType": attrs["sourceagenttype"],
            "capabilities": _split_caps(attrs["agentcapabilities"]),
        },
    }
    target = attrs.get("targetagent")
    if target == "":
        message["targetAgent"] = None
    elif target is not None:
        message["targetAgent"] = {
            "agentId": target,
            "agentType": attrs["targetagenttype"],
            "capabilities": _split_caps(attrs["targetagentcapabilities"]),
        }
    message["messageType"] = attrs["messagetype"]
    message["payload"] = data
    meta: dict[str, Any] = {
        "priority": attrs["priority"],
        "ttl": int(attrs["ttl"]),
        "correlationId": attrs["correlationid"],
    }
    for ext, field in (("collaborationid", "collaborationId"), ("traceparent", "traceparent")):
        if ext in attrs:
            meta[field] = attrs[ext] or None
    message["metadata"] = meta
    return message


def sdk_encode(m: dict[str, Any]) -> bytes:
    attrs = a2a_attributes(m)
    return sdk_to_json(SdkCloudEvent(attrs, m["payload"]))  # type: ignore[no-any-return]


def sdk_decode(data: bytes) -> dict[str, Any]:
    event = sdk_from_json(data)
    return attributes_to_a2a(event.get_attributes(), event.get_data())


# --- msgspec: typed Structs for both shapes, one reusable encoder and decoder ------------------

Rfc3339 = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
Capability = Annotated[str, msgspec.Meta(min_length=1, pattern=r"^[^,]*$")]
Ttl = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]


class AgentRef(msgspec.Struct, forbid_unknown_fields=True):
    agentId: NonEmpty
    agentType: NonEmpty
    capabilities: list[Capability]


class Metadata(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    priority: Literal["HIGH", "NORMAL", "LOW"]
    ttl: Ttl
    correlationId: NonEmpty
    collaborationId: NonEmpty | msgspec.UnsetType | None = UNSET
    traceparent: NonEmpty | msgspec.UnsetType | None = UNSET


class A2AMessage(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    protocol: Literal["A2A"]
    version: NonEmpty
    messageId: NonEmpty
    timestamp: Rfc3339
    sourceAgent: AgentRef
    messageType: NonEmpty
    payload: Any
    metadata: Metadata
    targetAgent: AgentRef | msgspec.UnsetType | None = UNSET


class CloudEvent(msgspec.Struct, omit_defaults=True):
    specversion: Literal["1.0"]
    id: NonEmpty
    source: NonEmpty
    type: NonEmpty
    time: Rfc3339
    datacontenttype: str
    protocol: Literal["A2A"]
    protocolversion: NonEmpty
    messagetype: NonEmpty
    sourceagent: NonEmpty
    sourceagenttype: NonEmpty
    agentcapabilities: str
    priority: Literal["HIGH", "NORMAL", "LOW"]
    ttl: Ttl
    correlationid: NonEmpty
    data: Any
    targetagent: str | msgspec.UnsetType = UNSET
    targetagenttype: str | msgspec.UnsetType = UNSET
    targetagentcapabilities: str | msgspec.UnsetType = UNSET
    collaborationid: str | msgspec.UnsetType = UNSET
    traceparent: str | msgspec.UnsetType = UNSET


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(CloudEvent)


def _caps_list(text: str) -> list[str]:
    return text.split(",") if text else []


def msgspec_encode(raw: dict[str, Any]) -> bytes:
    return msgspec_encode_struct(msgspec.convert(raw, A2AMessage))


def msgspec_encode_struct(m: A2AMessage) -> bytes:
    meta = m.metadata
    target = m.targetAgent
    event = CloudEvent(
        specversion="1.0",
        id=m.messageId,
        source="/agents/" + m.sourceAgent.agentId,
        type="a2a." + m.messageType,
        time=m.timestamp,
        datacontenttype="application/json",
        protocol="A2A",
        protocolversion=m.version,
        messagetype=m.messageType,
        sourceagent=m.sourceAgent.agentId,
        sourceagenttype=m.sourceAgent.agentType,
        agentcapabilities=",".join(m.sourceAgent.capabilities),
        priority=meta.priority,
        ttl=meta.ttl,
        correlationid=meta.correlationId,
        data=m.payload,
        targetagent=UNSET if target is UNSET else ("" if target is None else target.agentId),
        targetagenttype=target.agentType if isinstance(target, AgentRef) else UNSET,
        targetagentcapabilities=",".join(target.capabilities) if isinstance(target, AgentRef) else UNSET,
        collaborationid=UNSET if meta.collaborationId is UNSET else (meta.collaborationId or ""),
        traceparent=UNSET if meta.traceparent is UNSET else (meta.traceparent or ""),
    )
    return _ENCODER.encode(event)


def msgspec_decode(data: bytes) -> dict[str, Any]:
    e = _DECODER.decode(data)
    message: dict[str, Any] = {
        "protocol": "A2A",
        "version": e.protocolversion,
        "messageId": e.id,
        "timestamp": e.time,
        "sourceAgent": {
            "agentId": e.sourceagent,
            "agentType": e.sourceagenttype,
            "capabilities": _caps_list(e.agentcapabilities),
        },
    }
    if e.targetagent == "":
        message["targetAgent"] = None
    elif e.targetagent is not UNSET:
        message["targetAgent"] = {
            "agentId": e.targetagent,
            "agentType": e.targetagenttype,
            "capabilities": _caps_list(e.targetagentcapabilities or ""),
        }
    message["messageType"] = e.messagetype
    message["payload"] = e.data
    meta: dict[str, Any] = {"priority": e.priority, "ttl": e.ttl, "correlationId": e.correlationid}
    if e.collaborationid is not UNSET:
        meta["collaborationId"] = e.collaborationid or None
    if e.traceparent is not UNSET:
        meta["traceparent"] = e.traceparent or None
    message["metadata"] = meta
    return message


# --- bytes to bytes, as a gateway converts: parse, validate, map, write -------------------------

_A2A_DECODER = msgspec.json.Decoder(A2AMessage)


def _agent_struct(agent_id: str, agent_type: str, capabilities: str) -> AgentRef:
    return AgentRef(agentId=agent_id, agentType=agent_type, capabilities=_caps_list(capabilities))


def msgspec_a2a_json_to_event_json(data: bytes) -> bytes:
    return msgspec_encode_struct(_A2A_DECODER.decode(data))


def msgspec_event_json_to_a2a_json(data: bytes) -> bytes:
    e = _DECODER.decode(data)
    target: AgentRef | msgspec.UnsetType | None = UNSET
    if e.targetagent == "":
        target = None
    elif e.targetagent is not UNSET:
        target = _agent_struct(e.targetagent, e.targetagenttype or "", e.targetagentcapabilities or "")
    message = A2AMessage(
        protocol="A2A",
        version=e.protocolversion,
        messageId=e.id,
        timestamp=e.time,
        sourceAgent=_agent_struct(e.sourceagent, e.sourceagenttype, e.agentcapabilities),
        messageType=e.messagetype,
        payload=e.data,
        metadata=Metadata(
            priority=e.priority,
            ttl=e.ttl,
            correlationId=e.correlationid,
            collaborationId=UNSET if e.collaborationid is UNSET else (e.collaborationid or None),
            traceparent=UNSET if e.traceparent is UNSET else (e.traceparent or None),
        ),
        targetAgent=target,
    )
    return _ENCODER.encode(message)


def sdk_a2a_json_to_event_json(data: bytes) -> bytes:
    return sdk_encode(json.loads(data))


def sdk_event_json_to_a2a_json(data: bytes) -> bytes:
    return json.dumps(sdk_decode(data), separators=(",", ":"), ensure_ascii=False).encode()


# --- the benchmarks -------------------------------------------------------------------------

ENCODERS_ONE: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "a2a_fast": ce.a2a_to_json,
    "cloudevents-sdk": sdk_encode,
    "msgspec": msgspec_encode,
}
ENCODERS_MANY: dict[str, Callable[[list[dict[str, Any]]], list[bytes]]] = {
    "a2a_fast": ce.a2a_to_json_many,
    "cloudevents-sdk": lambda ms: [sdk_encode(m) for m in ms],
    "msgspec": lambda ms: [msgspec_encode(m) for m in ms],
}
DECODERS_ONE: dict[str, Callable[[bytes], dict[str, Any]]] = {
    "a2a_fast": ce.json_to_a2a,
    "cloudevents-sdk": sdk_decode,
    "msgspec": msgspec_decode,
}
DECODERS_MANY: dict[str, Callable[[list[bytes]], list[dict[str, Any]]]] = {
    "a2a_fast": ce.json_to_a2a_many,
    "cloudevents-sdk": lambda items: [sdk_decode(b) for b in items],
    "msgspec": lambda items: [msgspec_decode(b) for b in items],
}
ENCODED = ce.a2a_to_json_many(MESSAGES)
A2A_JSON = [json.dumps(m).encode() for m in MESSAGES]
GATEWAY_IN: dict[str, Callable[[list[bytes]], list[bytes]]] = {
    "a2a_fast": ce.a2a_json_to_event_json_many,
    "cloudevents-sdk": lambda items: [sdk_a2a_json_to_event_json(b) for b in items],
    "msgspec": lambda items: [msgspec_a2a_json_to_event_json(b) for b in items],
}
GATEWAY_OUT: dict[str, Callable[[list[bytes]], list[bytes]]] = {
    "a2a_fast": ce.event_json_to_a2a_json_many,
    "cloudevents-sdk": lambda items: [sdk_event_json_to_a2a_json(b) for b in items],
    "msgspec": lambda items: [msgspec_event_json_to_a2a_json(b) for b in items],
}


def test_implementations_agree() -> None:
    """Every implementation writes the same events and reads back the same messages."""
    reference = [json.loads(b) for b in ENCODED]
    for name, encode in ENCODERS_MANY.items():
        assert [json.loads(b) for b in encode(MESSAGES)] == reference, name
    for name, decode in DECODERS_MANY.items():
        assert decode(ENCODED) == MESSAGES, name
        assert decode(ENCODERS_MANY[name](MESSAGES)) == MESSAGES, name


def test_gateway_implementations_agree() -> None:
    """Bytes in, bytes out: every implementation writes the same events and the same A2A messages."""
    assert ce.a2a_json_to_event_json_many(A2A_JSON) == ENCODED
    reference = [json.loads(b) for b in ENCODED]
    for name, convert in GATEWAY_IN.items():
        assert [json.loads(b) for b in convert(A2A_JSON)] == reference, name
    for name, convert in GATEWAY_OUT.items():
        assert [json.loads(b) for b in convert(ENCODED)] == MESSAGES, name


@pytest.mark.parametrize("impl", list(GATEWAY_IN))
def test_a2a_json_to_event_json_batch(benchmark: Any, tag: Any, impl: str) -> None:
    tag(f"A2A JSON -> CloudEvent JSON (bytes to bytes), batch of {BATCH}", impl, BATCH)
    convert = GATEWAY_IN[impl]
    assert [json.loads(b) for b in convert(A2A_JSON)] == [json.loads(b) for b in ENCODED]
    benchmark(convert, A2A_JSON)


@pytest.mark.parametrize("impl", list(GATEWAY_OUT))
def test_event_json_to_a2a_json_batch(benchmark: Any, tag: Any, impl: str) -> None:
    tag(f"CloudEvent JSON -> A2A JSON (bytes to bytes), batch of {BATCH}", impl, BATCH)
    convert = GATEWAY_OUT[impl]
    assert [json.loads(b) for b in convert(ENCODED)] == MESSAGES
    benchmark(convert, ENCODED)


@pytest.mark.parametrize("impl", list(ENCODERS_ONE))
def test_a2a_to_json_one(benchmark: Any, tag: Any, impl: str) -> None:
    tag("A2A -> CloudEvent JSON, one message", impl)
    encode = ENCODERS_ONE[impl]
    assert json.loads(encode(MESSAGES[1])) == json.loads(ENCODED[1])
    benchmark(encode, MESSAGES[1])


@pytest.mark.parametrize("impl", list(ENCODERS_MANY))
def test_a2a_to_json_batch(benchmark: Any, tag: Any, impl: str) -> None:
    tag(f"A2A -> CloudEvent JSON, batch of {BATCH}", impl, BATCH)
    encode = ENCODERS_MANY[impl]
    assert [json.loads(b) for b in encode(MESSAGES)] == [json.loads(b) for b in ENCODED]
    benchmark(encode, MESSAGES)


@pytest.mark.parametrize("impl", list(DECODERS_ONE))
def test_json_to_a2a_one(benchmark: Any, tag: Any, impl: str) -> None:
    tag("CloudEvent JSON -> A2A, one message", impl)
    decode = DECODERS_ONE[impl]
    assert decode(ENCODED[1]) == MESSAGES[1]
    benchmark(decode, ENCODED[1])


@pytest.mark.parametrize("impl", list(DECODERS_MANY))
def test_json_to_a2a_batch(benchmark: Any, tag: Any, impl: str) -> None:
    tag(f"CloudEvent JSON -> A2A, batch of {BATCH}", impl, BATCH)
    decode = DECODERS_MANY[impl]
    assert decode(ENCODED) == MESSAGES
    benchmark(decode, ENCODED)


# --- generic CloudEvents JSON (no A2A mapping) ------------------------------------------------

EVENTS = [ce.from_json(b) for b in ENCODED]


def sdk_generic_to_json(event: dict[str, Any]) -> bytes:
    attrs = {k: v for k, v in event.items() if k != "data"}
    return sdk_to_json(SdkCloudEvent(attrs, event.get("data")))  # type: ignore[no-any-return]


def sdk_generic_from_json(data: bytes) -> dict[str, Any]:
    event = sdk_from_json(data)
    return {**event.get_attributes(), "data": event.get_data()}


GENERIC_TO_JSON: dict[str, Callable[[list[dict[str, Any]]], list[bytes]]] = {
    "a2a_fast": ce.to_json_many,
    "cloudevents-sdk": lambda events: [sdk_generic_to_json(e) for e in events],
}
GENERIC_FROM_JSON: dict[str, Callable[[list[bytes]], list[dict[str, Any]]]] = {
    "a2a_fast": ce.from_json_many,
    "cloudevents-sdk": lambda items: [sdk_generic_from_json(b) for b in items],
}


@pytest.mark.parametrize("impl", list(GENERIC_TO_JSON))
def test_to_json_many(benchmark: Any, tag: Any, impl: str) -> None:
    tag(f"CloudEvent dict -> JSON (generic to_json_many), batch of {BATCH}", impl, BATCH)
    encode = GENERIC_TO_JSON[impl]
    assert [json.loads(b) for b in encode(EVENTS)] == [json.loads(b) for b in ENCODED]
    benchmark(encode, EVENTS)


@pytest.mark.parametrize("impl", list(GENERIC_FROM_JSON))
def test_from_json_many(benchmark: Any, tag: Any, impl: str) -> None:
    tag(f"CloudEvent JSON -> dict (generic from_json_many), batch of {BATCH}", impl, BATCH)
    decode = GENERIC_FROM_JSON[impl]
    assert [{k: v for k, v in e.items() if k != "data"} for e in decode(ENCODED)] == [
        {k: v for k, v in e.items() if k != "data"} for e in EVENTS
    ]
    benchmark(decode, ENCODED)


def test_from_json_one(benchmark: Any, tag: Any) -> None:
    tag("CloudEvent JSON -> dict (generic from_json), one event", "a2a_fast")
    assert ce.from_json(ENCODED[1]) == EVENTS[1]
    benchmark(ce.from_json, ENCODED[1])
