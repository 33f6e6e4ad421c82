"""The runtime: its lanes on the in-memory transport (records of one key one after the other, except those a role
gives a lane of their own, ``Agent.lane``, which reach a handler of their key while it still runs), its offsets past a
record held back (``Agent.admits``), and its start while the broker or registry does not answer (fail at once naming
the service, or wait and retry)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import signal
import time
from typing import Any

import pytest

from a2a_fast.agents import base
from a2a_fast.agents.base import Agent, serve
from a2a_fast.agents.provider import Provider
from a2a_fast.errors import ConfigError, ServiceUnavailableError
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_TASK_RESPONSE
from a2a_fast.transport.memory import MemoryTransport
from tests.scenarios import eventually, fresh_mesh, run_strict
from tests.unit.agents.support import Peer


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


def test_an_agent_not_told_to_wait_fails_at_start_naming_the_service() -> None:
    transport = MemoryTransport()
    transport.unreachable.add("broker")

    async def scenario() -> None:
        with fresh_mesh(transport) as mesh:
            provider = Provider(mesh.config("provider-1"), {"summarize": 10})
            with pytest.raises(ServiceUnavailableError, match="in-memory broker"):
                await provider.start()

    run_strict(scenario)


def test_an_agent_told_to_wait_retries_with_a_line_per_attempt_then_starts(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(base, "_RETRY_FIRST_SECONDS", 0.02)
    transport = MemoryTransport()
    transport.unreachable.update({"broker", "registry"})

    async def scenario() -> None:
        with fresh_mesh(transport) as mesh:
            provider = Provider(mesh.config("provider-1", wait_for_services=True), {"summarize": 10})
            starting = asyncio.ensure_future(provider.start())
            await asyncio.sleep(0.2)
            assert not starting.done()
            transport.unreachable.discard("broker")
            await asyncio.sleep(0.2)
            assert not starting.done()
            transport.unreachable.discard("registry")
            await asyncio.wait_for(starting, 10)
            await provider.stop()

    with caplog.at_level(logging.WARNING, logger="a2a_fast.agent"):
        run_strict(scenario)
    messages = [record.getMessage() for record in caplog.records]
    waits = [message for message in messages if "trying again" in message]
    assert any("cannot reach the in-memory broker at memory://broker (broker)" in message for message in waits)
    assert any("cannot reach the in-memory registry at mock://registry (registry)" in message for message in waits)
    assert all(message.startswith("provider-1: ") and "(attempt " in message for message in waits)
    assert messages[-1] == f"provider-1: the broker and the registry answer, after {len(waits)} failed attempts"


def test_serve_ends_cleanly_on_sigterm_while_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_RETRY_FIRST_SECONDS", 0.02)
    transport = MemoryTransport()
    transport.unreachable.add("broker")

    async def scenario() -> int:
        with fresh_mesh(transport) as mesh:
            provider = Provider(mesh.config("provider-1", wait_for_services=True), {"summarize": 10})
            asyncio.get_running_loop().call_later(0.3, os.kill, os.getpid(), signal.SIGTERM)
            return await serve(provider, ready=lambda agent: pytest.fail("it cannot have started"))

    assert run_strict(scenario) == 0


def test_a_taken_monitoring_port_fails_the_start_naming_it_or_moves_when_told_to() -> None:
    async def scenario(mesh: Any) -> tuple[int | None, str, int | None]:
        first = Provider(mesh.config("provider-1", http_port=0), {"count": 10})
        async with first:
            taken = first.http_port
            strict = Provider(mesh.config("provider-2", http_port=taken), {"count": 10})
            with pytest.raises(ConfigError) as refused:
                await strict.start()
            moving = Provider(mesh.config("provider-3", http_port=taken, http_port_fallback=True), {"count": 10})
            async with moving:
                return taken, str(refused.value), moving.http_port

    with fresh_mesh(MemoryTransport()) as mesh:
        taken, refused, moved = run_strict(lambda: scenario(mesh))
    assert refused == (
        f"http_port: cannot listen on 127.0.0.1:{taken} (Address already in use); give another port "
        "(--http-port N, 0 for any free one, -1 for none)"
    )
    assert moved not in (None, 0, taken)


def test_run_eagerly_needs_no_task_for_a_coroutine_that_never_suspends() -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="outside")

    async def returns() -> str:
        marker.set("inside")
        return "done"

    async def raises() -> str:
        raise ValueError("bad input")

    async def suspends() -> str:
        marker.set("inside")
        await asyncio.sleep(0)
        return marker.get()

    async def main() -> None:
        finished = base.run_eagerly(returns())
        assert finished.done() and not isinstance(finished, asyncio.Task) and finished.result() == "done"
        failed = base.run_eagerly(raises())
        assert failed.done() and isinstance(failed.exception(), ValueError)
        running = base.run_eagerly(suspends())
        assert isinstance(running, asyncio.Task) and not running.done()
        assert await running == "inside"  # its Task goes on in the context its first step ran in
        assert marker.get() == "outside"  # that context was a copy: nothing it set leaks here
        stopped = base.run_eagerly(suspends())
        stopped.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stopped

    run_strict(main)


class Gate(Agent):
    """Handles task responses, but takes no ACCEPTED while ``closed`` (its partition is held back there)."""

    role = "gate"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.closed = True
        self.handled: list[str] = []

    def subscriptions(self) -> list[str]:
        return [self.topics.responses]

    def admits(self, message: Inbound) -> bool:
        return not (self.closed and message.record["status"] == "ACCEPTED")

    async def handle(self, message: Inbound) -> None:
        self.handled.append(message.record["status"])


def test_a_record_skipped_after_one_held_back_is_not_committed_past_it() -> None:
    async def scenario(mesh: Any) -> tuple[list[int | None], list[str]]:
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        gate = Gate(mesh.config("gate-1", join_mesh=False))
        await peer.start()
        try:
            # one key, so one partition, in this order: handled, held back, then addressed to another group (skipped)
            await peer.publish(KIND_TASK_RESPONSE, response("RUNNING"))
            await peer.publish(KIND_TASK_RESPONSE, response("ACCEPTED"))
            await peer.publish(KIND_TASK_RESPONSE, response("COMPLETED"), target_group="another-pool")
        finally:
            await peer.stop()
        [partition] = {message.partition() for message in mesh.raw(mesh.topics.responses)}
        broker = mesh.transport.broker

        def committed() -> int | None:
            return broker.committed(gate.group_id, mesh.topics.responses, partition)

        seen = []
        async with gate:
            await eventually(lambda: gate.handled == ["RUNNING"] and committed() == 1, 10, "the RUNNING committed")
            await asyncio.sleep(5 * gate.config.commit_interval)
            seen.append(committed())  # not past the ACCEPTED held back, whatever came after it
            gate.closed = False
            gate.admit_more()
            await eventually(lambda: committed() == 3, 10, "everything committed once the ACCEPTED was taken")
            seen.append(committed())
        return seen, gate.handled

    with fresh_mesh(MemoryTransport()) as mesh:
        seen, handled = run_strict(lambda: scenario(mesh))
    assert seen == [1, 3]
    assert handled == ["RUNNING", "ACCEPTED"]
