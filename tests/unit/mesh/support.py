"""What the gateway tests share, on the in-memory transport and on the broker: an A2A JSON message and a reader
of an inbox."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from a2a_fast.mesh.gateway import MeshInbox

__all__ = ["a2a", "receive_all"]


def a2a(message_id: str, target: str | None, **changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "protocol": "A2A",
        "version": "1.0",
        "messageId": message_id,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sourceAgent": {"agentId": "planner-1", "agentType": "planner", "capabilities": ["plan"]},
        "targetAgent": None if target is None else {"agentId": target, "agentType": "worker", "capabilities": []},
        "messageType": "TASK_REQUEST",
        "payload": {"text": f"message {message_id}"},
        "metadata": {"priority": "NORMAL", "ttl": 60, "correlationId": f"corr-{message_id}"},
    }
    message.update(changes)
    return message


async def receive_all(inbox: MeshInbox, count: int, patience: float = 10, poll: float = 0.1) -> list[dict[str, Any]]:
    """At least ``count`` messages of ``inbox``, read ``poll`` seconds at a time for up to ``patience`` seconds."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(patience):
        while len(got) < count:
            got += await inbox.receive(timeout=poll)
    return got
