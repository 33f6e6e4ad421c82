"""What the role tests share: a peer agent that writes the records a role reads, and readers of what it wrote.

Each test runs one role (or a few) on the in-memory transport, feeds it records from a :class:`Peer` and
asserts on the records the role put on the topics and on its state.
"""

from __future__ import annotations

import time
from typing import Any

from a2a_fast.agents.base import Agent
from a2a_fast.protocol.envelope import Inbound
from tests.scenarios import Mesh

__all__ = ["Peer", "answers", "negotiation", "request", "response"]


class Peer(Agent):
    """An agent that only publishes: it stands for the other side of the role under test."""

    role = "peer"

    def subscriptions(self) -> list[str]:
        return [self.topics.dlq]  # it must read something to start; nothing is written there in these tests

    async def handle(self, message: Inbound) -> None:
        return None


def now_ms() -> int:
    return int(time.time() * 1000)


def request(task_id: str, capability: str, cost: float | None, requester: str = "peer-1") -> dict[str, Any]:
    """A TaskRequest record."""
    return {
        "task_id": task_id,
        "requester_id": requester,
        "description": f"do {task_id}",
        "capability": capability,
        "proposed_cost": cost,
        "priority": 1,
        "parameters": {"n": "1"},
        "timestamp": now_ms(),
    }


def negotiation(
    task_id: str, round_number: int, action: str, offer: float | None, capability: str = "analyze", **fields: Any
) -> dict[str, Any]:
    """A requester's Negotiation turn."""
    return {
        "task_id": task_id,
        "round": round_number,
        "from_agent": "peer-1",
        "to_agent": "provider-1",
        "action": action,
        "offer": offer,
        "reason": None,
        "capability": capability,
        "description": f"do {task_id}",
        "parameters": {"n": "1"},
        "timestamp": now_ms(),
        **fields,
    }


def response(task_id: str, status: str, responder: str = "peer-1", **fields: Any) -> dict[str, Any]:
    """A TaskResponse record."""
    return {
        "task_id": task_id,
        "responder_id": responder,
        "status": status,
        "counter_offer": None,
        "agreed_cost": None,
        "message": None,
        "progress": None,
        "result": None,
        "capability": None,
        "description": None,
        "parameters": {},
        "round": 0,
        "timestamp": now_ms(),
        **fields,
    }


def answers(mesh: Mesh, task_id: str, topic: str | None = None) -> list[Inbound]:
    """The records about ``task_id`` on ``topic`` (default: task-responses), in their partition's order."""
    return [message for message in mesh.log(topic or mesh.topics.responses) if message.task_id == task_id]
