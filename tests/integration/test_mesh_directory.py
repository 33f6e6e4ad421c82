"""The agent directory on the real broker: registration, liveness, refusals, each test on its own topic."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from a2a_fast.config import HeartbeatConfig, MeshConfig, ProtocolConfig
from a2a_fast.errors import AgentIdInUseError, MaxAgentsError
from a2a_fast.mesh.directory import AgentCard, AgentDirectory, AgentState, Incarnation, Presence
from a2a_fast.stack import Endpoints
from tests.integration.test_agents import run_strict

FAST = ProtocolConfig(heartbeat=HeartbeatConfig(interval_seconds=0.2, timeout_seconds=1.5))
PATIENT = ProtocolConfig(heartbeat=HeartbeatConfig(interval_seconds=0.2, timeout_seconds=600))
"""A claim that lapses only after ten minutes: whatever takes it over sooner did not wait it out."""


def card(agent_id: str, *capabilities: str) -> AgentCard:
    return AgentCard(
        agent_id,
        "executor",
        "2.1",
        capabilities,
        {"metrics": "http://127.0.0.1:8003/metrics"},
        {"cpus": 2, "memory_mb": 512},
    )


def test_registration_state_sync_and_deregistration(endpoints: Endpoints, agents_topic: str) -> None:
    async def scenario() -> None:
        state = AgentState()
        async with AgentDirectory(endpoints.kafka, agents_topic, FAST) as watcher:
            own_directory = AgentDirectory(endpoints.kafka, agents_topic, FAST)
            presence = Presence(own_directory, card("worker-1", "summarize"), lambda: state)
            await own_directory.start()
            await presence.start()
            await watcher.wait_for(lambda d: d.is_agent_alive("worker-1"), 30)
            [info] = watcher.get_all_agents()
            assert info.card == card("worker-1", "summarize") and info.status == "IDLE" and info.alive
            assert info.memory > 0 and info.instance_id == presence.instance_id
            assert [i.agent_id for i in watcher.find_agents_by_capability("SUMMARIZE")] == ["worker-1"]
            assert watcher.find_agents_by_capability("translate") == []

            state = AgentState(status="BUSY", current_task="task-7", progress=0.5, load=3)
            await watcher.wait_for(lambda d: (d.get_agent("worker-1") or info).current_task == "task-7", 30)
            busy = watcher.get_agent("worker-1")
            assert busy is not None and (busy.status, busy.progress, busy.load) == ("BUSY", 0.5, 3)

            # a directory started later rebuilds the same view from the topic
            async with AgentDirectory(endpoints.kafka, agents_topic, FAST) as late:
                assert [i.agent_id for i in late.find_agents_by_capability("summarize")] == ["worker-1"]

            await presence.stop()
            await presence.directory.stop()
            await watcher.wait_for(lambda d: d.get_agent("worker-1") is None, 30)
            assert watcher.get_all_agents() == [] and not watcher.is_agent_alive("worker-1")

    run_strict(scenario)


def test_silent_agent_is_reported_dead_after_the_timeout_and_may_restart(
    endpoints: Endpoints, agents_topic: str
) -> None:
    async def scenario() -> None:
        async with AgentDirectory(endpoints.kafka, agents_topic, FAST) as directory:
            first = Presence(directory, card("worker-1", "summarize"))
            await first.start()
            await asyncio.sleep(FAST.heartbeat.interval_seconds * 4)
            assert directory.is_agent_alive("worker-1")  # heartbeats kept it alive past several intervals
            await first.stop(deregister=False)  # as a crash: no DEREGISTER
            silent_since = time.time()
            await directory.wait_for(lambda d: not d.is_agent_alive("worker-1"), 30)
            assert time.time() - silent_since >= FAST.heartbeat.timeout_seconds - FAST.heartbeat.interval_seconds
            info = directory.get_agent("worker-1")
            assert info is not None and not info.alive
            assert directory.find_agents_by_capability("summarize") == []

            restarted = Presence(directory, card("worker-1", "summarize"))
            await restarted.start()
            info = directory.get_agent("worker-1")
            assert info is not None and info.alive and info.instance_id == restarted.instance_id
            await restarted.stop()

    run_strict(scenario)


def test_a_crashed_agent_restarted_at_once_takes_its_id_back_when_the_claim_lapses(
    endpoints: Endpoints, agents_topic: str
) -> None:
    async def scenario() -> None:
        async with AgentDirectory(endpoints.kafka, agents_topic, FAST) as directory:
            crashed = Presence(directory, card("worker-1", "summarize"))
            await crashed.start()
            await asyncio.sleep(FAST.heartbeat.interval_seconds * 2)
            await crashed.stop(deregister=False)  # as a crash: no DEREGISTER
            last_heard = (directory.get_agent("worker-1") or pytest.fail("registered")).last_seen
            restarted = Presence(directory, card("worker-1", "summarize"))
            await restarted.start()  # waits out the silent claim instead of refusing
            assert time.time() - last_heard > FAST.heartbeat.timeout_seconds
            info = directory.get_agent("worker-1")
            assert info is not None and info.alive and info.instance_id == restarted.instance_id
            await restarted.stop()

    run_strict(scenario)


def test_the_next_incarnation_on_the_host_takes_a_dead_claim_over_at_once(
    endpoints: Endpoints, agents_topic: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with AgentDirectory(endpoints.kafka, agents_topic, PATIENT) as directory:
            place = tmp_path / "worker-1.json"
            crashed = Presence(directory, card("worker-1", "summarize"), incarnation=Incarnation(place))
            await crashed.start()
            await crashed.stop(deregister=False)  # as a crash: no DEREGISTER; the lock goes with the process
            held = directory.get_agent("worker-1")
            assert held is not None and held.alive and held.instance_id == crashed.instance_id
            restarted = Presence(directory, card("worker-1", "summarize"), incarnation=Incarnation(place))
            await restarted.start()
            info = directory.get_agent("worker-1")
            assert info is not None and info.alive and info.instance_id == restarted.instance_id
            assert info.registered_at - held.last_seen < PATIENT.heartbeat.timeout_seconds  # the claim had not lapsed
            # Another reader of the log applies the same rule and agrees.
            async with AgentDirectory(endpoints.kafka, agents_topic, PATIENT) as late:
                seen = late.get_agent("worker-1")
                assert seen is not None and seen.instance_id == restarted.instance_id
            await restarted.stop()

    run_strict(scenario)


def test_an_incarnation_never_takes_over_a_live_holder_or_without_the_secret(
    endpoints: Endpoints, agents_topic: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with AgentDirectory(endpoints.kafka, agents_topic, PATIENT) as directory:
            place = tmp_path / "worker-1.json"
            holder = Presence(directory, card("worker-1", "summarize"), incarnation=Incarnation(place))
            await holder.start()
            # Same host, same file, holder alive: the lock is taken, so no secret is read and the claim stands.
            twin = Presence(directory, card("worker-1", "summarize"), incarnation=Incarnation(place))
            with pytest.raises(AgentIdInUseError, match="'worker-1' is in use by a live instance"):
                await twin.start()
            await twin.stop()
            await holder.stop(deregister=False)
            # Dead holder, but a process with another file (another host) has no secret: it waits the claim out.
            stranger = Presence(
                directory, card("worker-1", "summarize"), incarnation=Incarnation(tmp_path / "elsewhere.json")
            )
            waiting = asyncio.ensure_future(stranger.start())
            await asyncio.sleep(PATIENT.heartbeat.interval_seconds * 10)
            assert not waiting.done()
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            await stranger.stop()
            info = directory.get_agent("worker-1")
            assert info is not None and info.instance_id == holder.instance_id

    run_strict(scenario)


def test_second_live_instance_of_an_id_is_refused(endpoints: Endpoints, agents_topic: str) -> None:
    async def scenario() -> None:
        async with AgentDirectory(endpoints.kafka, agents_topic, FAST) as directory:
            holder = Presence(directory, card("worker-1", "summarize"))
            await holder.start()
            intruder = Presence(directory, card("worker-1", "translate"))
            with pytest.raises(AgentIdInUseError, match="'worker-1' is in use by a live instance"):
                await intruder.start()
            await intruder.stop()
            # racing claims from two fresh processes: the log's order decides, exactly one wins
            a, b = (Presence(AgentDirectory(endpoints.kafka, agents_topic, FAST), card("worker-2")) for _ in "ab")
            await asyncio.gather(a.directory.start(), b.directory.start())
            outcomes = await asyncio.gather(a.start(), b.start(), return_exceptions=True)
            assert sorted(type(o).__name__ for o in outcomes) == ["AgentIdInUseError", "NoneType"]
            winner = a if outcomes[0] is None else b
            await directory.wait_for(lambda d: d.get_agent("worker-2") is not None, 30)
            info, held = directory.get_agent("worker-2"), directory.get_agent("worker-1")
            assert info is not None and info.instance_id == winner.instance_id
            assert (
                held is not None and held.instance_id == holder.instance_id and held.card.capabilities == ("summarize",)
            )
            for presence in (holder, a, b):
                await presence.stop()
            await asyncio.gather(a.directory.stop(), b.directory.stop())

    run_strict(scenario)


def test_max_agents_is_enforced(endpoints: Endpoints, agents_topic: str) -> None:
    config = ProtocolConfig(heartbeat=FAST.heartbeat, mesh=MeshConfig(max_agents=2))

    async def scenario() -> None:
        async with AgentDirectory(endpoints.kafka, agents_topic, config) as directory:
            first, second = Presence(directory, card("worker-1")), Presence(directory, card("worker-2"))
            await first.start()
            await second.start()
            third = Presence(directory, card("worker-3"))
            with pytest.raises(MaxAgentsError, match=r"already has 2 live agents \(mesh.max_agents=2\)"):
                await third.start()
            assert [info.agent_id for info in directory.get_all_agents()] == ["worker-1", "worker-2"]
            await first.stop()
            third = Presence(directory, card("worker-3"))
            await third.start()
            assert [info.agent_id for info in directory.get_all_agents()] == ["worker-2", "worker-3"]
            await second.stop()
            await third.stop()

    run_strict(scenario)
