"""MeshRouter: rules in order, callables, and the strategies."""

from __future__ import annotations

import pytest

from a2a_fast.errors import (
    ValidationError,
)
from a2a_fast.mesh import MeshRouter


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
