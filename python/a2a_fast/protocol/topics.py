"""Topic names shared by every agent: the base names, one mesh's prefixed names, and short aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from a2a_fast.protocol.kinds import MESSAGE_KINDS

__all__ = [
    "A2A_EVENTS",
    "A2A_MESSAGES",
    "A2A_REQUESTS",
    "AGENTS",
    "COLLABORATIONS",
    "DEAD_LETTER",
    "NEGOTIATIONS",
    "TASK_REQUESTS",
    "TASK_RESPONSES",
    "TASK_TOPICS",
    "TOPIC_ALIASES",
    "TopicNames",
    "resolve_topic",
]

TASK_REQUESTS = "task-requests"
TASK_RESPONSES = "task-responses"
NEGOTIATIONS = "negotiations"
COLLABORATIONS = "collaborations"
DEAD_LETTER = "a2a.dlq"
AGENTS = "a2a.agents"
"""The agent directory: compacted, one partition, keyed by agent id (see :mod:`a2a_fast.mesh.directory`)."""


A2A_MESSAGES = "a2a.messages"
"""A2A JSON messages carried as CloudEvents (see :mod:`a2a_fast.mesh.gateway`)."""


A2A_REQUESTS = "a2a.requests"
"""Calls of A2A operations, keyed by task id (see :mod:`a2a_fast.a2a`)."""
A2A_EVENTS = "a2a.events"
"""A2A agents' task events and answers, keyed by task id (see :mod:`a2a_fast.a2a`)."""


TASK_TOPICS = (TASK_REQUESTS, TASK_RESPONSES, NEGOTIATIONS)


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The topics one agent mesh uses; ``prefix`` gives a test or tenant its own namespace."""

    prefix: str = ""

    @property
    def requests(self) -> str:
        """Task requests."""
        return self.prefix + TASK_REQUESTS

    @property
    def responses(self) -> str:
        """Task responses: negotiation answers, acceptance, progress, outcomes."""
        return self.prefix + TASK_RESPONSES

    @property
    def negotiations(self) -> str:
        """The requesters' negotiation turns."""
        return self.prefix + NEGOTIATIONS

    @property
    def collaborations(self) -> str:
        """Workflow sessions: their events, step requests and step results."""
        return self.prefix + COLLABORATIONS

    @property
    def dlq(self) -> str:
        """Dead letters: records that could not be decoded, validated or handled."""
        return self.prefix + DEAD_LETTER

    @property
    def agents(self) -> str:
        """The agent directory's compacted topic (not in :meth:`all`: it is created with its own settings)."""
        return self.prefix + AGENTS

    @property
    def messages(self) -> str:
        """A2A JSON messages as CloudEvents (not in :meth:`all`)."""
        return self.prefix + A2A_MESSAGES

    @property
    def a2a_requests(self) -> str:
        """The A2A binding's calls (SendMessage, GetTask, CancelTask...) from clients to A2A agents."""
        return self.prefix + A2A_REQUESTS

    @property
    def a2a_events(self) -> str:
        """The A2A binding's answers and task events from A2A agents to their clients."""
        return self.prefix + A2A_EVENTS

    def for_kind(self, kind: str) -> str:
        """The topic that carries messages of ``kind`` (``a2a.task.request``...)."""
        role = MESSAGE_KINDS[kind].topic_role
        name: str = getattr(self, role)
        return name

    def all(self) -> tuple[str, ...]:
        """The task, negotiation, collaboration, dead-letter and A2A topics, as agents create them."""
        return (
            self.requests,
            self.responses,
            self.negotiations,
            self.collaborations,
            self.dlq,
            self.a2a_requests,
            self.a2a_events,
        )


TOPIC_ALIASES: Final = {
    "requests": "requests",
    "task-requests": "requests",
    "responses": "responses",
    "task-responses": "responses",
    "negotiations": "negotiations",
    "collaborations": "collaborations",
    "dlq": "dlq",
    "a2a.dlq": "dlq",
    "a2a.requests": "a2a_requests",
    "a2a.events": "a2a_events",
}


def resolve_topic(name: str, topics: TopicNames) -> str:
    """``task-requests`` (or ``requests``) → the prefixed topic name; any other name is taken as it is."""
    role = TOPIC_ALIASES.get(name)
    return str(getattr(topics, role)) if role else name
