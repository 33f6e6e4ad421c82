"""MeshRouter: rules in order, callables, and the strategies."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from a2a_fast.config import HeartbeatConfig, ProtocolConfig
from a2a_fast.errors import (
    ValidationError,
)
from a2a_fast.mesh import MeshRouter
from a2a_fast.mesh import directory as directory_module
from a2a_fast.mesh.directory import AgentCard, AgentDirectory, AgentState, Presence
from a2a_fast.transport.memory import MemoryTransport
from tests.scenarios import Mesh, fresh_mesh, run_strict


def test_router_rules_in_order_with_callables() -> None:
    router = MeshRouter()
    router.upsert("planner", ["plan"])
    router.upsert("worker-a", ["translate"], priority=1)
    router.upsert("worker-b", ["translate"], priority=1)
    router.upsert("auditor", ["audit"])
    router.add_routing_rule("audits", lambda event: event.get("priority") == "HIGH", "capability:audit")
    router.add_routing_rule("plans", {"type": "a2a.PLAN*"}, "agent:planner")
    router.add_routing_rule("nowhere", {"type": "*"}, "capability:teleport")
    assert [rule.name for rule in router.get_all_routing_rules()] == ["audits", "plans", "nowhere"]
    assert router.route_message({"type": "a2a.PLAN_REQUEST"}) == "planner"
    assert router.route_message({"type": "a2a.PLAN_REQUEST", "priority": "HIGH"}) == "auditor"
    assert router.route_message({"type": "a2a.OTHER", "targetagent": "worker-b"}) == "worker-b"
    assert router.route_message({"type": "a2a.OTHER", "targetagent": "ghost"}) is None
    assert router.route_message({"type": "a2a.OTHER", "targetcapability": "translate"}) in {"worker-a", "worker-b"}
    assert router.route_message({"type": "a2a.OTHER"}) is None
    router.add_routing_rule("audits", {"priority": "LOW"}, "capability:audit")  # replaced in place
    assert router.get_all_routing_rules()[0].predicate == {"priority": "LOW"}
    assert router.route_message({"type": "a2a.PLAN_REQUEST", "priority": "HIGH"}) == "planner"
    assert router.remove_routing_rule("plans") and not router.remove_routing_rule("plans")
    assert [rule.name for rule in router.get_all_routing_rules()] == ["audits", "nowhere"]
    assert sorted(router.route("Translate") or "" for _ in range(2)) == ["worker-a", "worker-b"]
    with pytest.raises(ValidationError, match="strategy"):
        MeshRouter(strategy="random")
    with pytest.raises(ValidationError, match="target"):
        router.add_routing_rule("bad", {"type": "x"}, "somewhere")


# --- following the directory, on the in-memory transport -----------------------------------------------


@contextlib.asynccontextmanager
async def listed(mesh: Mesh, *cards: AgentCard) -> AsyncIterator[tuple[AgentDirectory, dict[str, Presence]]]:
    """A directory with one registered presence per card."""
    directory = AgentDirectory(mesh.transport, mesh.topics.agents, ProtocolConfig())
    async with directory:
        presences = {card.agent_id: Presence(directory, card) for card in cards}
        try:
            for presence in presences.values():
                await presence.start()
            yield directory, presences
        finally:
            for presence in presences.values():
                await presence.stop()


def card(agent_id: str, role: str = "executor", priority: int = 0, weight: int = 1, **resources: Any) -> AgentCard:
    return AgentCard(agent_id, role, capabilities=("translate",), priority=priority, weight=weight, resources=resources)


def test_the_highest_priority_tier_is_chosen_round_robin_by_weight_and_the_next_tier_when_it_empties() -> None:
    async def scenario(mesh: Mesh) -> tuple[list[str | None], list[str | None], list[str | None]]:
        cards = [card("fallback"), card("b", priority=1, weight=2), card("c", priority=1)]
        async with listed(mesh, *cards) as (directory, presences):
            router = MeshRouter(directory, strategy="round_robin")
            six = [router.route("translate") for _ in range(6)]
            await presences["b"].sync(AgentState(status="ERROR"))  # a failing agent is left out at once
            await directory.wait_for(lambda d: getattr(d.get_agent("b"), "status", None) == "ERROR", 10)
            without_b = [router.route("translate") for _ in range(2)]
            await presences["c"].stop()
            await directory.wait_for(lambda d: not d.is_agent_alive("c"), 10)
            last = [router.route("translate") for _ in range(2)]
            router.close()
            return six, without_b, last

    with fresh_mesh(MemoryTransport()) as mesh:
        six, without_b, last = run_strict(lambda: scenario(mesh))
    assert sorted(six, key=str) == ["b", "b", "b", "b", "c", "c"], six  # weight 2 to 1, the lower tier never
    assert without_b == ["c", "c"] and last == ["fallback", "fallback"]


def test_least_loaded_follows_the_loads_the_agents_report() -> None:
    async def scenario(mesh: Mesh) -> tuple[str | None, str | None]:
        async with listed(mesh, card("a"), card("b")) as (directory, presences):
            router = MeshRouter(directory, strategy="least_loaded")
            await presences["a"].sync(AgentState(status="BUSY", load=5))
            await presences["b"].sync(AgentState(status="BUSY", load=1))
            await directory.wait_for(
                lambda d: [(i.agent_id, i.load) for i in d.get_all_agents()] == [("a", 5), ("b", 1)], 10
            )
            first = router.route("translate")
            await presences["b"].sync(AgentState(status="BUSY", load=9))
            await directory.wait_for(lambda d: getattr(d.get_agent("b"), "load", None) == 9, 10)
            second = router.route("translate")
            router.close()
            return first, second

    with fresh_mesh(MemoryTransport()) as mesh:
        assert run_strict(lambda: scenario(mesh)) == ("b", "a")


def test_a_state_sent_slowly_is_not_overtaken_by_a_later_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """An ERROR whose send waits for a busy thread, then a heartbeat (IDLE) sampled after it: the directory ends
    with the newer state, so the recovered agent is routed to again."""
    held, release = threading.Event(), threading.Event()
    produce = directory_module._produce_and_wait

    def slow_errors(producer: Any, topic: str, key: bytes, headers: Any, value: bytes | None, patience: float) -> int:
        if value is not None and b'"ERROR"' in value:
            held.set()
            release.wait(10)
        return produce(producer, topic, key, headers, value, patience)

    monkeypatch.setattr(directory_module, "_produce_and_wait", slow_errors)

    async def scenario(mesh: Mesh) -> str | None:
        async with AgentDirectory(mesh.transport, mesh.topics.agents, ProtocolConfig()) as directory:
            presence = Presence(directory, card("a"), sync_interval=3600)  # no state syncs of its own
            await presence.start()
            error = asyncio.create_task(presence.sync(AgentState(status="ERROR")))
            assert await asyncio.to_thread(held.wait, 10)
            heartbeat = asyncio.create_task(presence.heartbeat())  # samples IDLE, after the ERROR
            await asyncio.sleep(0.2)  # room for the heartbeat to be sent first
            release.set()
            await asyncio.gather(error, heartbeat)
            sent = mesh.records(mesh.topics.agents)
            await directory.wait_for(lambda d: d.position >= sent, 10)
            router = MeshRouter(directory)
            try:
                return router.route("translate")
            finally:
                router.close()
                await presence.stop()

    with fresh_mesh(MemoryTransport()) as mesh:
        assert run_strict(lambda: scenario(mesh)) == "a"


def test_a_role_keeps_the_choice_to_its_agents_and_pool_of_reads_their_card() -> None:
    async def scenario(mesh: Mesh) -> tuple[list[str], list[str], str | None, str | None, str | None]:
        cards = [card("p1", "provider", group="providers.translate"), card("e1", group="executors.translate")]
        async with listed(mesh, *cards) as (directory, _):
            router = MeshRouter(directory)
            found = (
                router.agents_for("Translate"),
                router.agents_for("translate", role="provider"),
                router.route("translate", role="executor"),
                router.pool_of("p1"),
                router.pool_of("ghost"),
            )
            router.close()
            return found

    with fresh_mesh(MemoryTransport()) as mesh:
        every, providers, executor, pool, unknown = run_strict(lambda: scenario(mesh))
    assert (every, providers, executor) == (["e1", "p1"], ["p1"], "e1")
    assert (pool, unknown) == ("providers.translate", None)


def test_an_agent_silent_past_its_timeout_is_not_routed_to_even_before_the_next_sweep() -> None:
    # The directory sweeps liveness every sweep_interval (here: not between the crash and the checks); its
    # answers and the router must agree at any moment all the same.
    config = ProtocolConfig(heartbeat=HeartbeatConfig(interval_seconds=0.1, timeout_seconds=0.5))

    async def scenario(mesh: Mesh) -> tuple[str | None, str | None, bool, str | None]:
        directory = AgentDirectory(mesh.transport, mesh.topics.agents, config, sweep_interval=3)
        async with directory:
            router = MeshRouter(directory)
            crashed = Presence(directory, card("a"))
            await crashed.start()
            before = router.route("translate")
            await crashed.stop(deregister=False)  # no DEREGISTER, no more heartbeats
            await asyncio.sleep(config.heartbeat.timeout_seconds + 0.3)
            after = router.route("translate")
            alive = directory.is_agent_alive("a")
            newcomer = Presence(directory, card("b"))
            await newcomer.start()
            then = router.route("translate")
            await newcomer.stop()
            router.close()
            return before, after, alive, then

    with fresh_mesh(MemoryTransport()) as mesh:
        assert run_strict(lambda: scenario(mesh)) == ("a", None, False, "b")
