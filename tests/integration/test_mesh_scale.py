"""The directory at the mesh's default size (``mesh.max_agents``, 1,000 agents) on the real broker.

The agents live in this process and share one producer, as a process hosting many agents does. A directory
started afterwards must see every one of them alive, and routing over it must choose only live agents that
offer the capability, also after some of them deregistered and some went silent.
"""

from __future__ import annotations

import asyncio

import pytest

from a2a_fast.config import HeartbeatConfig, ProtocolConfig
from a2a_fast.mesh.directory import AgentCard, AgentDirectory, Presence
from a2a_fast.mesh.router import MeshRouter
from a2a_fast.stack import Endpoints
from a2a_fast.transport import as_transport
from a2a_fast.transport.producer import Producer
from tests.integration.test_agents import run_strict

CONFIG = ProtocolConfig(heartbeat=HeartbeatConfig(interval_seconds=1.0, timeout_seconds=4.0))
AGENTS = CONFIG.mesh.max_agents
CAPABILITIES = [f"cap-{n:02d}" for n in range(20)]


def card(number: int) -> AgentCard:
    first = number % len(CAPABILITIES)
    second = (first + 1 + number // len(CAPABILITIES)) % len(CAPABILITIES)
    capabilities = (CAPABILITIES[first],) if second == first else (CAPABILITIES[first], CAPABILITIES[second])
    return AgentCard(f"agent-{number:04d}", "worker", capabilities=capabilities, weight=1 + number % 3)


def offering(capability: str, numbers: set[int]) -> set[str]:
    return {f"agent-{n:04d}" for n in numbers if capability in card(n).capabilities}


def alive(directory: AgentDirectory) -> set[str]:
    return {info.agent_id for info in directory.get_all_agents() if info.alive}


def check_routing(router: MeshRouter, live: set[int]) -> None:
    for capability in CAPABILITIES:
        expected = offering(capability, live)
        assert set(router.agents_for(capability)) == expected, capability
        chosen = {router.route(capability) for _ in range(3 * len(expected))}
        assert chosen <= expected, f"{capability}: routed to {sorted(map(str, chosen - expected))}"
        # weighted round robin over the tier: every offering agent is chosen within three rounds of weights
        assert chosen == expected, capability


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_new_directory_sees_1000_live_agents_and_routes_only_to_live_ones(
    endpoints: Endpoints, agents_topic: str
) -> None:
    assert AGENTS == 1000

    async def scenario() -> None:
        transport = as_transport(endpoints.kafka)
        hosting = AgentDirectory(transport, agents_topic, CONFIG)
        await hosting.start()
        producer = Producer(transport, "mesh-scale-test", on_deliveries=lambda _batch: None)
        producer.start()
        presences = [Presence(hosting, card(n), producer=producer) for n in range(AGENTS)]
        late = AgentDirectory(transport, agents_topic, CONFIG)
        try:
            await asyncio.gather(*(presence.start() for presence in presences))

            await late.start()
            everyone = {f"agent-{n:04d}" for n in range(AGENTS)}
            await late.wait_for(lambda d: alive(d) == everyone, 60)
            assert [info.card for info in late.get_all_agents()] == [card(n) for n in range(AGENTS)]
            router = MeshRouter(late)
            check_routing(router, set(range(AGENTS)))

            deregistered = set(range(0, AGENTS, 10))
            silent = set(range(5, AGENTS, 10))
            await asyncio.gather(
                *(presences[n].stop() for n in deregistered),
                *(presences[n].stop(deregister=False) for n in silent),
            )
            live = set(range(AGENTS)) - deregistered - silent
            live_ids = {f"agent-{n:04d}" for n in live}
            # silent agents are dead once heartbeat.timeout_seconds has passed without a record from them
            await late.wait_for(lambda d: alive(d) == live_ids, 30)
            assert all(late.get_agent(f"agent-{n:04d}") is None for n in deregistered)
            assert all(not late.is_agent_alive(f"agent-{n:04d}") for n in silent)
            check_routing(router, live)
            for capability in CAPABILITIES:
                found = {info.agent_id for info in late.find_agents_by_capability(capability)}
                assert found == offering(capability, live)
            router.close()
        finally:
            await asyncio.gather(*(presence.stop() for presence in presences if presence.registered))
            await producer.close(10.0)
            await late.stop()
            await hosting.stop()

    run_strict(scenario)
