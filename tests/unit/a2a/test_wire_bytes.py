"""Bytes the binding writes without building the message they encode: the same bytes as the SDK types give."""

from __future__ import annotations

import pytest
from a2a.helpers import get_message_text, new_task_from_user_message, new_text_message, new_text_part
from a2a.types import (
    Artifact,
    Message,
    Part,
    Role,
    StreamResponse,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from google.protobuf.message import Message as ProtoMessage

from a2a_fast.a2a.client import _text_of
from a2a_fast.a2a.server import _stream_response

_FIELDS = {"task": 1, "message": 2, "status_update": 3, "artifact_update": 4}


def _events() -> list[tuple[str, ProtoMessage]]:
    status = TaskStatus(state=TaskState.TASK_STATE_WORKING, message=new_text_message("working"))
    return [
        ("task", new_task_from_user_message(new_text_message("echo", role=Role.ROLE_USER))),
        ("task", new_task_from_user_message(new_text_message("x" * 20_000, role=Role.ROLE_USER))),
        ("message", new_text_message("hello")),
        ("status_update", TaskStatusUpdateEvent(task_id="t", context_id="c", status=status)),
        ("status_update", TaskStatusUpdateEvent()),
        ("artifact_update", TaskArtifactUpdateEvent(task_id="t", artifact=Artifact(parts=[new_text_part("a" * 126)]))),
        ("artifact_update", TaskArtifactUpdateEvent(artifact=Artifact(parts=[new_text_part("b" * 2**21)]))),
    ]


@pytest.mark.parametrize(("field", "event"), _events())
def test_an_event_is_framed_as_the_stream_response_holding_it(field: str, event: ProtoMessage) -> None:
    framed = _stream_response(_FIELDS[field], event)
    assert framed == StreamResponse(**{field: event}).SerializeToString()  # type: ignore[arg-type]
    assert getattr(StreamResponse.FromString(framed), field) == event


@pytest.mark.parametrize(
    "parts",
    [[], [new_text_part("one")], [new_text_part("one"), Part(url="https://x"), new_text_part("two")], [Part(raw=b"")]],
)
def test_a_calls_text_is_the_sdks_message_text(parts: list[Part]) -> None:
    message = Message(message_id="m", parts=parts)
    assert _text_of(message) == get_message_text(message)
