"""The provider role on the in-memory transport: pricing a request, each negotiation turn, rejections with their
reason, and which pool answers; asserted on the responses it writes."""

from __future__ import annotations

from a2a_fast.agents.executor import Executor
from a2a_fast.agents.policies import PricingPolicy
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.tasks import TaskContext
from a2a_fast.protocol.kinds import KIND_NEGOTIATION, KIND_TASK_REQUEST
from a2a_fast.transport.memory import MemoryTransport
from tests.scenarios import Mesh, eventually, fresh_mesh, run_strict
from tests.scenarios.cancel import running
from tests.unit.agents.support import Peer, answers, negotiation, request


async def echo(task: TaskContext) -> dict[str, str]:
    return {"done": task.task_id}


def statuses(mesh: Mesh, task_id: str) -> list[tuple[str, str, float | None, float | None, int]]:
    """``(responder, status, counter_offer, agreed_cost, round)`` of each response about the task."""
    return [
        (m.source_agent, m.record["status"], m.record["counter_offer"], m.record["agreed_cost"], m.record["round"])
        for m in answers(mesh, task_id)
    ]


def test_an_offer_at_the_minimum_is_accepted_and_addressed_to_a_live_executors_pool() -> None:
    async def scenario(mesh: Mesh) -> tuple[str, str]:
        provider = Provider(mesh.config("provider-1"), {"analyze": 100})
        executor = Executor(mesh.config("executor-1"), {"analyze": echo})
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(provider, executor, peer):
            await eventually(lambda: bool(provider.mesh and provider.mesh.router.agents_for("analyze", "executor")),
                             10, "the provider sees the executor")  # fmt: skip
            await peer.publish(KIND_TASK_REQUEST, request("t1", "analyze", 100.0), target_group=provider.group_id)
            await eventually(lambda: executor.counts["COMPLETED"] == 1, 10, "the executor ran it")
            return provider.group_id, executor.group_id

    with fresh_mesh(MemoryTransport()) as mesh:
        _, executors = run_strict(lambda: scenario(mesh))
        accepted, *after = answers(mesh, "t1")
    assert [(m.source_agent, m.record["status"]) for m in after][-1] == ("executor-1", "COMPLETED")
    assert (accepted.source_agent, accepted.target_agent, accepted.target_group) == ("provider-1", "peer-1", executors)
    assert accepted.record["status"] == "ACCEPTED" and accepted.record["agreed_cost"] == 100.0
    assert (accepted.record["description"], accepted.record["parameters"]) == ("do t1", {"n": "1"})


def test_a_low_offer_is_countered_then_each_turn_concedes_until_the_round_limit() -> None:
    pricing = PricingPolicy(markup=1.5, concession=0.5, max_rounds=2)

    async def scenario(mesh: Mesh) -> None:
        provider = Provider(mesh.config("provider-1"), {"analyze": 100}, pricing)
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(provider, peer):
            pool = provider.group_id
            await peer.publish(KIND_TASK_REQUEST, request("t1", "analyze", 10.0), target_group=pool)
            await eventually(lambda: sum(provider.decisions.values()) == 1, 10, "the request answered")
            await peer.publish(KIND_NEGOTIATION, negotiation("t1", 1, "COUNTER", 20.0), target_group=pool)
            await eventually(lambda: sum(provider.decisions.values()) == 2, 10, "round 1 answered")
            await peer.publish(KIND_NEGOTIATION, negotiation("t1", 2, "COUNTER", 30.0), target_group=pool)
            await eventually(lambda: sum(provider.decisions.values()) == 3, 10, "round 2 answered")

    with fresh_mesh(MemoryTransport()) as mesh:
        run_strict(lambda: scenario(mesh))
        assert statuses(mesh, "t1") == [
            ("provider-1", "NEGOTIATING", 150.0, None, 1),
            ("provider-1", "NEGOTIATING", 125.0, None, 2),
            ("provider-1", "REJECTED", None, None, 2),
        ]
        assert answers(mesh, "t1")[-1].record["message"] == "no agreement after 2 rounds"


def test_rejections_name_their_reason() -> None:
    """An unknown skill, a requester who withdraws, an accepted price below the minimum, and no live executor."""

    async def scenario(mesh: Mesh) -> None:
        provider = Provider(mesh.config("provider-1"), {"analyze": 100})
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(provider, peer):
            pool = provider.group_id
            await peer.publish(KIND_TASK_REQUEST, request("t1", "juggle", 500.0), target_group=pool)
            await peer.publish(
                KIND_NEGOTIATION, negotiation("t2", 1, "REJECT", None, reason="too dear"), target_group=pool
            )
            await peer.publish(KIND_NEGOTIATION, negotiation("t3", 1, "ACCEPT", 50.0), target_group=pool)
            await peer.publish(KIND_TASK_REQUEST, request("t4", "analyze", 500.0), target_group=pool)
            await eventually(lambda: provider.decisions["REJECTED"] == 4, 10, "four rejections")

    with fresh_mesh(MemoryTransport()) as mesh:
        run_strict(lambda: scenario(mesh))
        reasons = {task: [(m.record["status"], m.record["message"]) for m in answers(mesh, task)] for task in
                   ("t1", "t2", "t3", "t4")}  # fmt: skip
    assert reasons == {
        "t1": [("REJECTED", "provider provider-1 has no skill 'juggle'")],
        "t2": [("REJECTED", "requester withdrew: too dear")],
        "t3": [("REJECTED", "accepted price 50.0 is below the minimum 100.0")],
        "t4": [("REJECTED", "no live executor runs capability 'analyze'")],
    }


def test_only_the_pool_a_request_is_addressed_to_answers_it() -> None:
    async def scenario(mesh: Mesh) -> tuple[dict[str, int], dict[str, int]]:
        analysts = Provider(mesh.config("provider-1"), {"analyze": 100})
        translators = Provider(mesh.config("provider-2"), {"translate": 10})
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(analysts, translators, peer):
            # the same task id: one partition, so the second request is read after the first
            await peer.publish(KIND_TASK_REQUEST, request("t1", "analyze", 1.0), target_group=translators.group_id)
            await peer.publish(KIND_TASK_REQUEST, request("t1", "analyze", 2.0), target_group=analysts.group_id)
            await eventually(lambda: sum(analysts.decisions.values()) == 1, 10, "the analysts answered")
            await eventually(lambda: sum(translators.decisions.values()) == 1, 10, "the translators answered")
            return dict(analysts.decisions), dict(translators.decisions)

    with fresh_mesh(MemoryTransport()) as mesh:
        analysts, translators = run_strict(lambda: scenario(mesh))
        answered = [(m.source_agent, m.record["status"], m.record["message"]) for m in answers(mesh, "t1")]
    # a pool without the skill that is asked anyway says so; the analysts answered their own request only
    assert (analysts, translators) == ({"NEGOTIATING": 1}, {"REJECTED": 1})
    assert answered == [
        ("provider-2", "REJECTED", "provider provider-2 has no skill 'analyze'"),
        ("provider-1", "NEGOTIATING", None),
    ]


def test_a_redelivered_request_is_answered_with_the_same_event_id() -> None:
    async def scenario(mesh: Mesh) -> None:
        provider = Provider(mesh.config("provider-1"), {"analyze": 100})
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(provider, peer):
            for _ in range(2):  # the same ce_id twice, as a redelivery after a crash has it
                await peer.publish(
                    KIND_TASK_REQUEST, request("t1", "analyze", 10.0), target_group=provider.group_id, event_id="e-1"
                )
            await eventually(lambda: provider.status()["consumed"] == 2, 10, "both read")

    with fresh_mesh(MemoryTransport()) as mesh:
        run_strict(lambda: scenario(mesh))
        ids = {m.event_id for m in answers(mesh, "t1")}
    assert len(ids) == 1, ids
