"""RoutingTable through the binding: selection, rules, errors and threads."""

from __future__ import annotations

import threading
from collections import Counter
from types import MappingProxyType

import pytest

from a2a_fast.errors import ValidationError
from a2a_fast.mesh.routing import RoutingEntry, RoutingTable


@pytest.fixture
def table() -> RoutingTable:
    t = RoutingTable()
    t.upsert_agent("a", ["translate", "summarise"], priority=1, weight=1)
    t.upsert_agent("b", ["translate"], priority=1, weight=3)
    t.upsert_agent("backup", ["translate"], priority=0)
    return t


def test_round_robin_uses_the_top_tier_by_weight(table: RoutingTable) -> None:
    assert Counter(table.route("translate") for _ in range(400)) == {"a": 100, "b": 300}
    assert table.route("summarise") == "a"
    assert table.route("unknown") is None


def test_exclude_moves_to_another_agent_then_a_lower_tier_then_none(table: RoutingTable) -> None:
    for strategy in ("round_robin", "least_loaded"):
        assert table.route("translate", strategy, exclude=["a"]) == "b"
        assert table.route("translate", strategy, exclude=("a", "b")) == "backup"
        assert table.route("translate", strategy, exclude={"a", "b", "backup"}) is None


def test_least_loaded_uses_load_per_weight(table: RoutingTable) -> None:
    assert table.route("translate", "least_loaded") == "a"
    assert table.add_load("a", 2) == 2
    assert table.set_load("b", 5)
    assert table.route("translate", "least_loaded") == "b"  # 5/3 < 2/1
    assert table.add_load("b", 1) == 6
    assert table.route("translate", "least_loaded") == "a"  # 2/1 == 6/3: smaller id wins


def test_agents_and_loads(table: RoutingTable) -> None:
    table.set_load("a", 4)
    table.upsert_agent("a", ["summarise"], priority=2)
    assert table.load("a") == 4, "upsert without load keeps the load"
    table.upsert_agent("a", ["summarise"], load=1)
    assert table.agent("a") == RoutingEntry("a", ["summarise"], 0, 1, 1)
    assert table.agents_for("translate") == ["b", "backup"]
    assert [agent.agent_id for agent in table.agents()] == ["a", "b", "backup"]
    assert len(table) == 3 and "b" in table and "zed" not in table
    assert table.remove_agent("b") is True
    assert table.remove_agent("b") is False
    assert table.set_load("b", 1) is False
    assert table.add_load("b", 1) is None and table.load("b") is None and table.agent("b") is None
    assert repr(table.agent("a")) == (
        "RoutingEntry(agent_id='a', capabilities=('summarise',), priority=0, weight=1, load=1)"
    )


def test_route_many_matches_route(table: RoutingTable) -> None:
    other = RoutingTable()
    for agent in table.agents():
        other.upsert_agent(agent.agent_id, agent.capabilities, agent.priority, agent.weight)
    names = ["translate", "summarise", "nothing", "translate"] * 5
    assert table.route_many(names) == [other.route(name) for name in names]
    assert table.route_many(names, "least_loaded") == [other.route(name, "least_loaded") for name in names]


def test_upsert_and_replace_many_are_atomic_and_validated(table: RoutingTable) -> None:
    with pytest.raises(ValidationError, match=r"agents\[1\]\.weight"):
        table.upsert_agents([RoutingEntry("c", ["x"]), RoutingEntry("d", ["x"], weight=0)])
    assert "c" not in table
    table.replace_agents([RoutingEntry("c", ["x"], load=3), RoutingEntry("d", ["x"])])
    assert [agent.agent_id for agent in table.agents()] == ["c", "d"]
    assert table.load("c") == 3
    with pytest.raises(ValidationError, match=r"agents\[0\]"):
        table.upsert_agents([("e", ["x"])])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda t: t.route("translate", "random"), "strategy"),
        (lambda t: t.route(""), "capability"),
        (lambda t: t.route_many(["translate", ""]), r"capabilities\[1\]"),
        (lambda t: t.route_many("translate"), "capabilities"),
        (lambda t: t.agents_for(""), "capability"),
        (lambda t: t.upsert_agent("", ["x"]), "agent_id"),
        (lambda t: t.upsert_agent("z", "translate"), "capabilities"),
        (lambda t: t.upsert_agent("z", ["x", 3]), r"capabilities\[1\]"),
        (lambda t: t.upsert_agent("z", ["x", ""]), r"capabilities\[1\]"),
        (lambda t: t.upsert_agent("z", ["x"], weight=0), "weight"),
        (lambda t: t.upsert_agent("z", ["x"], load=-1), "load"),
        (lambda t: t.set_load("a", -1), "load"),
        (lambda t: t.add_load("a", -1), "delta"),
        (lambda t: t.route("translate", exclude="a"), "exclude"),
        (lambda t: t.add_rule("r", {"type": "x"}, "a"), "target"),
        (lambda t: t.add_rule("r", {"type": "x"}, "queue:a"), "target"),
        (lambda t: t.add_rule("r", {"Type": "x"}, "agent:a"), r"match\.Type"),
        (lambda t: t.add_rule("r", {"type": 1}, "agent:a"), r"match\.type"),
        (lambda t: t.add_rule("", {}, "agent:a"), "name"),
        (lambda t: t.route_message({"targetcapability": 5}), r"event\.targetcapability"),
        (lambda t: RoutingTable(capability_attribute="no-dash"), "capability_attribute"),
    ],
)
def test_bad_input_raises_validation_error_naming_the_argument(
    table: RoutingTable, call: object, argument: str
) -> None:
    with pytest.raises(ValidationError, match=f"^{argument}: "):
        call(table)  # type: ignore[operator]
    assert len(table) == 3 and table.load("a") == 0, "a rejected call changes nothing"


def test_route_message_order(table: RoutingTable) -> None:
    table.upsert_agent("ledger", ["audit"])
    table.add_rule("missing", {"type": "com.acme.invoice.*"}, "agent:nobody")
    table.add_rule("invoices", {"type": "com.acme.invoice.*"}, "capability:summarise")
    table.add_rule("audit", {"source": "/ledger", "type": "*"}, "agent:ledger")
    assert table.route_message({"type": "com.acme.invoice.paid", "source": "/ledger"}) == "a"
    assert table.route_message({"type": "com.acme.order", "source": "/ledger"}) == "ledger"
    assert table.route_message({"source": "/ledger"}) is None, "a missing attribute never matches"
    assert table.route_message({"type": "x", "targetcapability": "audit"}) == "ledger"
    assert table.route_message({"type": "com.acme.invoice.paid", "targetagent": "backup"}) == "backup"
    assert table.route_message({"targetagent": "nobody", "targetcapability": "audit"}) is None
    assert table.route_message(MappingProxyType({"targetcapability": "audit"})) == "ledger"
    assert [rule.name for rule in table.rules()] == ["missing", "invoices", "audit"]
    assert table.rules()[2].match == {"source": "/ledger", "type": "*"}
    assert table.rules()[2].target == "agent:ledger"
    table.add_rule("missing", {}, "capability:audit")
    assert [rule.name for rule in table.rules()] == ["missing", "invoices", "audit"], "replaced in place"
    assert table.route_message({"type": "anything"}) == "ledger"
    assert table.remove_rule("missing") is True
    assert table.remove_rule("missing") is False
    assert table.route_message({"type": "anything"}) is None


def test_capability_attribute_is_configurable() -> None:
    table = RoutingTable(capability_attribute="type")
    table.upsert_agent("x1", ["com.acme.ping"])
    assert table.capability_attribute == "type"
    assert table.route_message({"type": "com.acme.ping"}) == "x1"
    assert table.route_message({"targetcapability": "com.acme.ping"}) is None


def test_threads_lose_no_load_update_and_no_agent() -> None:
    table = RoutingTable()
    table.upsert_agent("hot", ["x"])
    threads, increments = 4, 5_000
    start = threading.Barrier(threads + 1)

    def bump() -> None:
        start.wait()
        for _ in range(increments):
            table.add_load("hot", 1)
            table.route("x", "least_loaded")

    def upsert() -> None:
        start.wait()
        for i in range(300):
            table.upsert_agent(f"new-{i}", ["x"], priority=-1)
            table.upsert_agent("hot", ["x"], priority=i % 2)

    workers = [threading.Thread(target=bump) for _ in range(threads)] + [threading.Thread(target=upsert)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert table.load("hot") == threads * increments
    assert len(table) == 301


def test_threads_never_see_a_torn_configuration() -> None:
    first = [RoutingEntry("a1", ["x", "y"]), RoutingEntry("a2", ["x"], weight=2)]
    second = [RoutingEntry("b1", ["x"], 2), RoutingEntry("b2", ["x", "y"], 2), RoutingEntry("b3", ["x"])]
    table = RoutingTable()
    table.replace_agents(first)
    stop = threading.Event()
    seen: set[tuple[str, ...]] = set()
    failures: list[str] = []

    def write() -> None:
        for i in range(2_000):
            table.replace_agents(second if i % 2 == 0 else first)
        stop.set()

    def read() -> None:
        while not stop.is_set():
            ids = tuple(table.agents_for("x"))
            seen.add(ids)
            x, y = table.route_many(["x", "y"])
            if (x in ("a1", "a2")) != (y == "a1"):
                failures.append(f"one call saw two configurations: {x} and {y}")

    workers = [threading.Thread(target=write), *(threading.Thread(target=read) for _ in range(2))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not failures
    assert seen <= {("a1", "a2"), ("b1", "b2", "b3")}


def test_skills_match_exact_capabilities_never_substrings() -> None:
    table = RoutingTable()
    table.upsert_agent("p1", ["summarize", "translate"])
    table.upsert_agent("p2", ["translate"])
    assert table.route("summarize") == "p1"
    assert table.route("summ") is None and table.route("summarize the report") is None
    assert {table.route("translate"), table.route("translate")} == {"p1", "p2"}
