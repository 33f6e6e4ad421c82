"""Properties of routing, checked on generated tables (hypothesis)."""

from __future__ import annotations

import fnmatch
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from a2a_fast.mesh.routing import RoutingTable

CAPABILITIES = ["c0", "c1", "c2"]
agent = st.tuples(
    st.lists(st.sampled_from(CAPABILITIES), unique=True),
    st.integers(-2, 2),  # priority
    st.integers(1, 5),  # weight
    st.integers(0, 50),  # load
)
tables = st.dictionaries(st.sampled_from([f"agent{i}" for i in range(8)]), agent, max_size=8)

Agents = dict[str, tuple[list[str], int, int, int]]


def build(agents: Agents) -> RoutingTable:
    table = RoutingTable()
    for agent_id, (capabilities, priority, weight, load) in agents.items():
        table.upsert_agent(agent_id, capabilities, priority, weight, load)
    return table


def eligible_top_tier(agents: Agents, capability: str, exclude: set[str]) -> set[str]:
    offering = {a: v for a, v in agents.items() if capability in v[0] and a not in exclude}
    if not offering:
        return set()
    top = max(priority for _, priority, _, _ in offering.values())
    return {a for a, (_, priority, _, _) in offering.items() if priority == top}


@given(tables, st.sampled_from(CAPABILITIES), st.sets(st.sampled_from([f"agent{i}" for i in range(8)])))
def test_route_returns_an_eligible_agent_of_the_top_tier(agents: Agents, capability: str, exclude: set[str]) -> None:
    table = build(agents)
    expected = eligible_top_tier(agents, capability, exclude)
    for strategy in ("round_robin", "least_loaded"):
        for _ in range(3):
            chosen = table.route(capability, strategy, exclude=exclude)
            if expected:
                assert chosen in expected
            else:
                assert chosen is None


@given(tables, st.sampled_from(CAPABILITIES), st.integers(1, 3))
def test_round_robin_visits_the_top_tier_in_proportion_to_weight(agents: Agents, capability: str, cycles: int) -> None:
    table = build(agents)
    tier = eligible_top_tier(agents, capability, set())
    total = sum(agents[a][2] for a in tier)
    picks = Counter(table.route(capability) for _ in range(total * cycles))
    assert picks == {a: agents[a][2] * cycles for a in tier}


@given(tables, st.sampled_from(CAPABILITIES))
def test_least_loaded_returns_a_minimum_load_per_weight_agent(agents: Agents, capability: str) -> None:
    table = build(agents)
    tier = eligible_top_tier(agents, capability, set())
    chosen = table.route(capability, "least_loaded")
    if not tier:
        assert chosen is None
        return
    assert chosen is not None

    def ratio(agent_id: str) -> float:
        _, _, weight, load = agents[agent_id]
        return load / weight

    best = min(ratio(a) for a in tier)
    assert ratio(chosen) == best
    assert chosen == min(a for a in tier if ratio(a) == best), "ties go to the smallest id"
    assert table.route(capability, "least_loaded") == chosen, "deterministic"


@given(st.text(alphabet="ab.*", max_size=8), st.text(alphabet="ab.", max_size=10))
def test_glob_agrees_with_fnmatch_on_star_only_patterns(pattern: str, value: str) -> None:
    table = RoutingTable()
    table.upsert_agent("hit", ["target"])
    table.add_rule("r", {"type": pattern}, "agent:hit")
    expected = "hit" if fnmatch.fnmatchcase(value, pattern) else None
    assert table.route_message({"type": value}) == expected
