"""The mesh's parts that need no broker: limits, protocol metrics, priority slots, routing rules, claim rules."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest

from a2a_fast.agents.executor import PrioritySlots
from a2a_fast.cli import main
from a2a_fast.codecs.cloudevents import to_kafka
from a2a_fast.config import HeartbeatConfig, MeshConfig, MessageConfig, ProtocolConfig
from a2a_fast.errors import (
    AgentIdInUseError,
    MaxAgentsError,
    MessageExpiredError,
    MessageTooLargeError,
    ValidationError,
)
from a2a_fast.mesh import AgentCard, AgentDirectory, MeshRouter
from a2a_fast.mesh.directory import DEREGISTER, HEARTBEAT, REGISTER, Incarnation
from a2a_fast.observability.protocol_metrics import ProtocolMetrics
from a2a_fast.protocol.limits import MessageLimits

NOW = 1_700_000_000.0


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


# --- limits -----------------------------------------------------------------------------------------


def test_limits_size_and_age() -> None:
    limits = MessageLimits(MessageConfig(default_ttl_seconds=60, max_message_bytes=100), clock=lambda: NOW)
    limits.check_size(100)
    with pytest.raises(MessageTooLargeError, match=r"^message is 101 bytes, more than messages.max_message_bytes=100$"):
        limits.check_size(101)
    limits.check_age(iso(NOW - 59), None)
    with pytest.raises(MessageExpiredError, match=r"sent 61.0s ago, messages.default_ttl_seconds is 60s$"):
        limits.check_age(iso(NOW - 61), None)
    limits.check_age(iso(NOW - 61), "120")
    with pytest.raises(MessageExpiredError, match=r"sent 11.0s ago, its ttl is 10s$"):
        limits.check_age(NOW - 11, 10)
    limits.check_age(iso(NOW - 10_000), "0")  # ttl 0: never expires
    limits.check_age(None, "1")  # no send time: nothing to measure
    with pytest.raises(ValidationError, match=r"^ttl: 'soon' is not a number"):
        limits.check_age(iso(NOW), "soon")
    with pytest.raises(ValidationError, match=r"^time: 'yesterday' is not an RFC 3339"):
        limits.check_age("yesterday", "5")


# --- protocol metrics -------------------------------------------------------------------------------


def test_protocol_metrics_stats_and_reset() -> None:
    stats = ProtocolMetrics()
    for seconds in (0.001, 0.002, 0.003):
        stats.record_success("mesh", "heartbeat", seconds)
    stats.record_failure("mesh", "heartbeat", 0.5)
    stats.record_success("mesh", "register", 0.01)
    with pytest.raises(RuntimeError), stats.timer("a2a", "negotiate"):
        raise RuntimeError("boom")
    mesh = stats.get_stats("mesh")
    assert (mesh["total_operations"], mesh["errors"], mesh["error_rate"]) == (5, 1, 0.2)
    heartbeat = mesh["operations"]["heartbeat"]
    assert set(heartbeat) == {"count", "errors", "min", "mean", "max", "p50", "p99"}
    assert (heartbeat["count"], heartbeat["errors"]) == (4, 1)
    assert heartbeat["min"] == pytest.approx(0.001, rel=0.01) and heartbeat["max"] == pytest.approx(0.5)
    assert heartbeat["p50"] == pytest.approx(0.002, rel=0.01) and heartbeat["p99"] == pytest.approx(0.5, rel=0.01)
    assert stats.get_stats("a2a")["operations"]["negotiate"]["errors"] == 1
    text = stats.prometheus()
    assert 'a2a_protocol_latency_seconds_count{protocol="mesh",operation="heartbeat"} 4' in text
    assert 'a2a_protocol_errors_total{protocol="mesh",operation="heartbeat"} 1' in text
    stats.reset_all_stats()
    after = stats.get_stats("mesh")
    assert (after["total_operations"], after["errors"], after["error_rate"]) == (0, 0, 0.0)
    assert {name: op["count"] for name, op in after["operations"].items()} == {"heartbeat": 0, "register": 0}


# --- priority slots ---------------------------------------------------------------------------------


def test_priority_slots_serve_high_first_and_keep_a_slot_from_low() -> None:
    async def scenario() -> list[str]:
        slots = PrioritySlots(3, reserved=1)
        order: list[str] = []
        await slots.acquire(0)
        await slots.acquire(0)  # LOW now holds every slot it may have
        assert slots.in_use == 2

        async def job(name: str, level: int) -> None:
            await slots.acquire(level)
            order.append(name)
            slots.release()

        tasks = [asyncio.create_task(job(f"low{n}", 0)) for n in range(3)]
        await asyncio.sleep(0)
        assert slots.waiting == 3 and order == []
        await asyncio.create_task(job("high", 2))  # the reserved slot, at once
        await asyncio.create_task(job("normal", 1))  # ahead of the LOW waiters
        assert order == ["high", "normal"] and slots.waiting == 3
        slots.release()
        slots.release()
        await asyncio.gather(*tasks)
        assert slots.in_use == 0
        return order

    assert asyncio.run(scenario()) == ["high", "normal", "low0", "low1", "low2"]
    with pytest.raises(ValueError, match="reserved 2"):
        PrioritySlots(2, reserved=2)


# --- routing rules ----------------------------------------------------------------------------------


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


# --- directory claim rules (applied to records as read from the topic) -------------------------------


def record(
    kind: str, agent_id: str, instance: str, at: float, incarnation: dict[str, str] | None = None
) -> tuple[Any, Any, Any]:
    data: dict[str, Any] = {"card": AgentCard(agent_id, "worker").to_json(), "state": {"status": "IDLE"}}
    if incarnation is not None:
        data["incarnation"] = incarnation
    event = {
        "specversion": "1.0",
        "id": f"{agent_id}-{instance}-{at}",
        "source": f"a2a://agents/{agent_id}",
        "type": kind,
        "time": iso(at),
        "datacontenttype": "application/json",
        "instanceid": instance,
        "partitionkey": agent_id,
        "data": data,
    }
    return to_kafka(event)


def test_directory_claim_rules() -> None:
    config = ProtocolConfig(heartbeat=HeartbeatConfig(1.0, 10.0), mesh=MeshConfig(max_agents=2))
    directory = AgentDirectory("unused:9092", "agents", config)

    def apply(kind: str, agent_id: str, instance: str, at: float) -> None:
        key, headers, value = record(kind, agent_id, instance, at)
        directory._apply(key, headers, value)

    apply(REGISTER, "a", "i1", NOW)
    apply(REGISTER, "a", "i2", NOW + 5)  # i1 alive at that time
    assert isinstance(directory.refusal("a", "i2"), AgentIdInUseError)
    apply(DEREGISTER, "a", "i2", NOW + 6)  # not the holder's: ignored
    assert directory._agents["a"].instance == "i1"
    apply(REGISTER, "a", "i3", NOW + 20)  # i1 silent for longer than the timeout: a restart
    assert directory.refusal("a", "i3") is None and directory._agents["a"].instance == "i3"
    apply(HEARTBEAT, "b", "j1", NOW + 21)  # only a heartbeat left after compaction: still a member
    apply(REGISTER, "c", "k1", NOW + 22)
    assert isinstance(directory.refusal("c", "k1"), MaxAgentsError)
    apply(DEREGISTER, "a", "i3", NOW + 23)
    apply(REGISTER, "c", "k2", NOW + 24)
    assert sorted(directory._agents) == ["b", "c"]
    directory._apply(b"b", [], None)  # tombstone
    assert sorted(directory._agents) == ["c"]


def test_incarnation_file_hands_its_secret_to_the_next_process_only(tmp_path: Path) -> None:
    place = tmp_path / "incarnations" / "worker.json"
    first = Incarnation(place)
    assert first.begin() and first.previous == []
    twin = Incarnation(place)
    assert not twin.begin()  # locked by a live process: no secret for it
    assert twin.takeover(first.successor) is None
    first.end()  # what the process's death does to the lock
    second = Incarnation(place)
    assert second.begin()
    assert second.takeover(first.successor) == first.secret
    assert second.takeover(second.successor) is None  # its own secret stays in the file, for the next one
    assert second.takeover("0" * 64) is None
    second.end()


def test_directory_hands_a_live_claim_over_only_to_the_secret_of_its_successor() -> None:
    config = ProtocolConfig(heartbeat=HeartbeatConfig(1.0, 10.0))
    directory = AgentDirectory("unused:9092", "agents", config)
    secret = "s" * 64
    successor = hashlib.sha256(secret.encode()).hexdigest()

    def apply(kind: str, instance: str, at: float, incarnation: dict[str, str] | None = None) -> None:
        key, headers, value = record(kind, "a", instance, at, incarnation)
        directory._apply(key, headers, value)

    apply(REGISTER, "i1", NOW, {"successor": successor})
    apply(REGISTER, "i2", NOW + 1, {"successor": "x", "takeover": "wrong"})  # i1 alive, no proof
    assert isinstance(directory.refusal("a", "i2"), AgentIdInUseError)
    apply(HEARTBEAT, "i9", NOW + 2, {"successor": "x", "takeover": secret})  # only a REGISTER takes over
    assert directory._agents["a"].instance == "i1"
    apply(REGISTER, "i3", NOW + 3, {"successor": "y", "takeover": secret})
    assert directory.refusal("a", "i3") is None and directory._agents["a"].instance == "i3"
    assert directory.successor("a") == "y"
    apply(REGISTER, "i4", NOW + 4, {"successor": "z", "takeover": secret})  # a spent secret proves nothing now
    assert isinstance(directory.refusal("a", "i4"), AgentIdInUseError)


# --- the agent command's protocol config -------------------------------------------------------------


@pytest.mark.parametrize("via", ["--config", "environment"])
def test_agent_command_refuses_a_bad_config_naming_the_key(
    via: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "protocol.yaml"
    bad.write_text("heartbeat:\n  interval_seconds: 10\n  timeout_seconds: 5\n")
    argv = ["agent", "provider", "--http-port", "-1"]
    if via == "--config":
        argv += ["--config", str(bad)]
    else:
        monkeypatch.setenv("A2A_FAST_CONFIG", str(bad))
    assert main(argv) == 1
    assert capsys.readouterr().err.strip() == (
        "a2a-fast: heartbeat.timeout_seconds: must be greater than heartbeat.interval_seconds"
    )
