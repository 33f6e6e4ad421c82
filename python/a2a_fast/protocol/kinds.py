"""The kinds of A2A messages: CloudEvent type, Avro record and the topic each travels on.

Every Kafka record the agents exchange is a CloudEvent in Kafka *binary* content mode whose ``ce_type`` is one
of these kinds and whose value is the kind's Avro record in Confluent wire format; the envelope
(:mod:`a2a_fast.protocol.envelope`) reads and writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CONTENT_TYPE",
    "KIND_A2A_EVENT",
    "KIND_A2A_REQUEST",
    "KIND_NEGOTIATION",
    "KIND_SESSION_EVENT",
    "KIND_STEP_REQUEST",
    "KIND_STEP_RESULT",
    "KIND_TASK_REQUEST",
    "KIND_TASK_RESPONSE",
    "MESSAGE_KINDS",
    "PROTOCOL",
    "PROTOCOL_VERSION",
    "MessageKind",
]

KIND_TASK_REQUEST: Final = "a2a.task.request"
KIND_TASK_RESPONSE: Final = "a2a.task.response"
KIND_NEGOTIATION: Final = "a2a.negotiation"
KIND_SESSION_EVENT: Final = "a2a.collaboration.session"
KIND_STEP_REQUEST: Final = "a2a.collaboration.step.request"
KIND_STEP_RESULT: Final = "a2a.collaboration.step.result"
KIND_A2A_REQUEST: Final = "a2a.binding.request"
"""A call of an A2A operation (the A2A protocol over Kafka, :mod:`a2a_fast.a2a`)."""
KIND_A2A_EVENT: Final = "a2a.binding.event"
"""What an A2A agent sends back: task events and the answers to calls."""
PROTOCOL: Final = "A2A"
PROTOCOL_VERSION: Final = "0.3"
CONTENT_TYPE: Final = "application/avro"


@dataclass(frozen=True, slots=True)
class MessageKind:
    """One kind of message: its CloudEvent type, Avro record name and the topic role it travels on.

    ``shared_topic`` kinds travel with other kinds on one topic, so their registry subject is
    ``<topic>-<record full name>`` (TopicRecordNameStrategy) instead of ``<topic>-value``.
    """

    type: str
    record: str
    schema_file: str
    topic_role: str
    shared_topic: bool = False


MESSAGE_KINDS: Final[dict[str, MessageKind]] = {
    KIND_TASK_REQUEST: MessageKind(KIND_TASK_REQUEST, "TaskRequest", "TaskRequest.avsc", "requests"),
    KIND_TASK_RESPONSE: MessageKind(KIND_TASK_RESPONSE, "TaskResponse", "TaskResponse.avsc", "responses"),
    KIND_NEGOTIATION: MessageKind(KIND_NEGOTIATION, "Negotiation", "Negotiation.avsc", "negotiations"),
    KIND_SESSION_EVENT: MessageKind(KIND_SESSION_EVENT, "SessionEvent", "SessionEvent.avsc", "collaborations", True),
    KIND_STEP_REQUEST: MessageKind(KIND_STEP_REQUEST, "StepRequest", "StepRequest.avsc", "collaborations", True),
    KIND_STEP_RESULT: MessageKind(KIND_STEP_RESULT, "StepResult", "StepResult.avsc", "collaborations", True),
    KIND_A2A_REQUEST: MessageKind(KIND_A2A_REQUEST, "A2ARequest", "A2ARequest.avsc", "a2a_requests"),
    KIND_A2A_EVENT: MessageKind(KIND_A2A_EVENT, "A2AEvent", "A2AEvent.avsc", "a2a_events"),
}
