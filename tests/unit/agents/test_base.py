"""The runtime's lanes on the in-memory transport: records of one key one after the other, except those a role
gives a lane of their own (``Agent.lane``), which reach a handler of their key while it still runs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from a2a_fast.agents.base import Agent
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_TASK_RESPONSE
from a2a_fast.transport.memory import MemoryTransport
from tests.scenarios import eventually, fresh_mesh, run_strict


class Holder(Agent):
    """Holds RUNNING until a CANCELING of its task arrives; with ``cancels_jump`` the CANCELING has its own lane."""

    role = "holder"

    def __init__(self, *args: Any, cancels_jump: bool) -> None:
        super().__init__(*args)
        self.cancels_jump = cancels_jump
        self.seen: list[str] = []
        self.handled: list[str] = []
        self.released = asyncio.Event()
        self.observers.append(lambda event, message: self.handled.append(message.record["status"]) if message else None)

    def subscriptions(self) -> list[str]:
        return [self.topics.responses]

    def lane(self, message: Inbound, key: bytes | None) -> bytes | None:
        if self.cancels_jump and message.record["status"] == "CANCELING":
            return (key or b"") + b"/cancel"
        return key

    async def handle(self, message: Inbound) -> None:
        status = message.record["status"]
        self.seen.append(status)
        if status == "RUNNING":
            await self.released.wait()
        elif status == "CANCELING":
            self.released.set()


def response(status: str) -> dict[str, Any]:
    return {"task_id": "t1", "responder_id": "x", "status": status, "timestamp": int(time.time() * 1000)}


async def hold_then_cancel(agent: Holder) -> list[str]:
    """What the agent had seen once all three records were dispatched (and the lane let them through)."""
    await agent.start()
    try:
        await agent.wait_assigned()
        for status in ("RUNNING", "COMPLETED", "CANCELING"):
            await agent.publish(KIND_TASK_RESPONSE, response(status))
        await eventually(lambda: agent.status()["consumed"] == 3, 10, "all three records consumed")
        if agent.cancels_jump:
            await eventually(lambda: len(agent.handled) == 3, 10, "all three handled")
        return list(agent.seen)
    finally:
        agent.released.set()  # lets a held lane go, so the agent stops
        await agent.stop()


def test_a_record_in_a_lane_of_its_own_reaches_a_handler_of_its_key_still_running() -> None:
    with fresh_mesh(MemoryTransport()) as mesh:
        agent = Holder(mesh.config("holder-1", join_mesh=False), cancels_jump=True)
        seen = run_strict(lambda: hold_then_cancel(agent))
    # the cancel went past the running handler; the record queued behind that handler still waited for it
    assert seen == ["RUNNING", "CANCELING", "COMPLETED"]
    assert agent.handled == ["CANCELING", "RUNNING", "COMPLETED"]


def test_by_default_a_record_waits_behind_the_handler_of_its_key() -> None:
    with fresh_mesh(MemoryTransport()) as mesh:
        agent = Holder(mesh.config("holder-1", join_mesh=False), cancels_jump=False)
        seen = run_strict(lambda: hold_then_cancel(agent))
    assert seen == ["RUNNING"], "nothing else of the key ran while its first handler held"
    assert agent.seen == agent.handled == ["RUNNING", "COMPLETED", "CANCELING"]
