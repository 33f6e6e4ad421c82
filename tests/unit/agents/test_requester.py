"""The requester role on the in-memory transport: a task from request to outcome, its negotiation turns, a
capability no one offers, and an open task taken up again from the log by a restarted requester."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from a2a_fast.agents.executor import Executor
from a2a_fast.agents.policies import BudgetPolicy
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester, TaskOutcome
from a2a_fast.agents.tasks import TaskContext
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST
from a2a_fast.transport.memory import MemoryProducer, MemoryTransport
from tests.scenarios import Mesh, eventually, fresh_mesh, run_strict
from tests.scenarios.cancel import HeldProvider, running, state
from tests.unit.agents.support import answers


async def word_count(task: TaskContext) -> dict[str, Any]:
    await task.progress(0.5, "counting")
    return {"words": len(task.description.split()), "lang": task.parameters.get("lang")}


def turns(mesh: Mesh, task_id: str) -> list[tuple[str, str, float | None, int]]:
    """``(sender, action, offer, round)`` of each negotiation turn of the task."""
    return [
        (m.source_agent, m.record["action"], m.record["offer"], m.record["round"])
        for m in answers(mesh, task_id, mesh.topics.negotiations)
    ]


def test_a_task_goes_from_request_to_its_result() -> None:
    async def scenario(mesh: Mesh) -> tuple[TaskOutcome, Requester]:
        provider = Provider(mesh.config("provider-1"), {"count": 10})
        executor = Executor(mesh.config("executor-1"), {"count": word_count})
        requester = Requester(mesh.config("requester-1"))
        async with running(provider, executor, requester):
            outcome = await requester.request_task(
                "one two three", 12.0, capability="count", parameters={"lang": "en"}, max_wait=30
            )
            return outcome, requester

    with fresh_mesh(MemoryTransport()) as mesh:
        outcome, requester = run_strict(lambda: scenario(mesh))
        said = [(m.source_agent, m.record["status"], m.record["progress"]) for m in answers(mesh, outcome.task_id)]
        [sent] = answers(mesh, outcome.task_id, mesh.topics.requests)
    assert (outcome.status, outcome.agreed_cost, outcome.rounds, outcome.error) == ("COMPLETED", 12.0, 0, None)
    assert (outcome.provider, outcome.executor, outcome.capability) == ("provider-1", "executor-1", "count")
    assert outcome.result == {"words": 3, "lang": "en"}
    assert said == [
        ("provider-1", "ACCEPTED", None),
        ("executor-1", "RUNNING", 0.0),
        ("executor-1", "RUNNING", 0.5),
        ("executor-1", "COMPLETED", 1.0),
    ]
    assert sent.record["requester_id"] == "requester-1" and str(sent.target_group).endswith(".providers.count")
    assert requester.get_pending_requests() == [] and requester.outcomes == {"COMPLETED": 1}


def test_the_requester_counters_within_its_budget_and_accepts_the_first_ask_it_can_pay() -> None:
    async def scenario(mesh: Mesh) -> TaskOutcome:
        provider = Provider(mesh.config("provider-1"), {"count": 100})  # asks 150, then 125, then 112.5
        executor = Executor(mesh.config("executor-1"), {"count": word_count})
        requester = Requester(mesh.config("requester-1"))
        async with running(provider, executor, requester):
            return await requester.request_task("a b", 20.0, capability="count", budget=130.0, max_wait=30)

    with fresh_mesh(MemoryTransport()) as mesh:
        outcome = run_strict(lambda: scenario(mesh))
        negotiated = turns(mesh, outcome.task_id)
    assert (outcome.status, outcome.agreed_cost, outcome.rounds) == ("COMPLETED", 125.0, 2)
    assert negotiated == [("requester-1", "COUNTER", 85.0, 1), ("requester-1", "ACCEPT", 125.0, 2)]


def test_a_request_that_names_no_price_takes_the_providers_first_ask() -> None:
    async def scenario(mesh: Mesh) -> TaskOutcome:
        provider = Provider(mesh.config("provider-1"), {"count": 100})  # asks 150
        executor = Executor(mesh.config("executor-1"), {"count": word_count})
        requester = Requester(mesh.config("requester-1"))
        async with running(provider, executor, requester):
            return await requester.request_task("a b", capability="count", max_wait=30)

    with fresh_mesh(MemoryTransport()) as mesh:
        outcome = run_strict(lambda: scenario(mesh))
        negotiated = turns(mesh, outcome.task_id)
    assert (outcome.status, outcome.agreed_cost, outcome.rounds) == ("COMPLETED", 150.0, 1)
    assert negotiated == [("requester-1", "ACCEPT", 150.0, 1)]


def test_the_requester_gives_up_after_its_rounds_and_the_task_ends_rejected() -> None:
    async def scenario(mesh: Mesh) -> TaskOutcome:
        provider = Provider(mesh.config("provider-1"), {"count": 100})
        executor = Executor(mesh.config("executor-1"), {"count": word_count})
        requester = Requester(mesh.config("requester-1"), BudgetPolicy(max_rounds=2))
        async with running(provider, executor, requester):
            return await requester.request_task("a b", 20.0, capability="count", budget=60.0, max_wait=30)

    with fresh_mesh(MemoryTransport()) as mesh:
        outcome = run_strict(lambda: scenario(mesh))
        negotiated = turns(mesh, outcome.task_id)
    assert (outcome.status, outcome.agreed_cost, outcome.executor) == ("REJECTED", None, None)
    assert outcome.error == "requester withdrew: gave up after 2 rounds: ask 125.0 over budget 60.0"
    assert negotiated == [("requester-1", "COUNTER", 60.0, 1), ("requester-1", "REJECT", None, 2)]


def test_a_capability_no_live_provider_offers_is_rejected_by_the_requester_itself() -> None:
    async def scenario(mesh: Mesh) -> tuple[TaskOutcome, str]:
        provider = Provider(mesh.config("provider-1"), {"count": 10})
        requester = Requester(mesh.config("requester-1"))
        async with running(provider, requester):
            outcome = await requester.request_task("x", 5.0, capability="juggle", max_wait=30)
            return outcome, requester.group_id

    with fresh_mesh(MemoryTransport()) as mesh:
        (outcome, own_group) = run_strict(lambda: scenario(mesh))
        [sent] = answers(mesh, outcome.task_id, mesh.topics.requests)
        said = [(m.source_agent, m.record["status"]) for m in answers(mesh, outcome.task_id)]
    assert (outcome.status, outcome.error) == ("REJECTED", "no live provider offers capability 'juggle'")
    assert sent.kind == KIND_TASK_REQUEST and sent.target_group == own_group  # on the log, read by no provider
    assert said == [("requester-1", "REJECTED")]


def test_a_restarted_requester_takes_its_open_task_up_from_the_log() -> None:
    async def scenario(mesh: Mesh) -> tuple[Any, TaskOutcome, int]:
        provider = HeldProvider(mesh.config("provider-1"), {"count": 100})
        executor = Executor(mesh.config("executor-1"), {"count": word_count})
        async with running(provider, executor):
            first = Requester(mesh.config("requester-1"), BudgetPolicy(budget=150.0))
            async with running(first):
                task_id = await first.submit("a b c", 20.0, capability="count")
                await eventually(lambda: bool(provider.turns), 10, "the requester answered the counter-offer")
                assert state(first, task_id) == "NEGOTIATING"
            again = Requester(mesh.config("requester-1"), BudgetPolicy(budget=150.0))
            async with running(again):
                [pending] = again.get_pending_requests()
                provider.released.set()
                outcome = await asyncio.wait_for(again.outcome(task_id), 30)
                return pending, outcome, again.resumed

    with fresh_mesh(MemoryTransport()) as mesh:
        pending, outcome, resumed = run_strict(lambda: scenario(mesh))
    assert resumed == 1
    assert (pending.state, pending.rounds, pending.provider, pending.budget) == ("NEGOTIATING", 1, "provider-1", 150.0)
    # the held turn accepted the ask of 150; the provider's ACCEPTED reaches the restarted requester
    assert (outcome.status, outcome.agreed_cost, outcome.rounds) == ("COMPLETED", 150.0, 1)
    assert outcome.result == {"words": 3, "lang": None}


def test_a_task_with_no_final_state_within_max_wait_comes_back_timed_out_and_stays_open() -> None:
    async def scenario(mesh: Mesh) -> tuple[TaskOutcome, list[str]]:
        provider = HeldProvider(mesh.config("provider-1"), {"count": 100})
        requester = Requester(mesh.config("requester-1"), BudgetPolicy(budget=150.0))
        async with running(provider, requester):
            outcome = await requester.request_task("a b", 20.0, capability="count", max_wait=0.5)
            still_open = [pending.task_id for pending in requester.get_pending_requests()]
            provider.released.set()
            return outcome, still_open

    with fresh_mesh(MemoryTransport()) as mesh:
        outcome, still_open = run_strict(lambda: scenario(mesh))
    assert (outcome.status, outcome.error, outcome.rounds) == ("TIMED_OUT", "no final state within 0.5s", 1)
    assert still_open == [outcome.task_id]


def test_a_restarted_requester_negotiates_within_the_budget_given_to_submit(tmp_path: Path) -> None:
    async def scenario(mesh: Mesh) -> tuple[float, list[str], TaskOutcome]:
        provider = HeldProvider(mesh.config("provider-1"), {"count": 100})  # asks 150, then 125
        executor = Executor(mesh.config("executor-1"), {"count": word_count})
        async with running(provider, executor):
            first = Requester(mesh.config("requester-1", state_dir=tmp_path))
            async with running(first):
                task_id = await first.submit("a b c", 20.0, capability="count", budget=140.0)
                gone = await first.submit("d", 20.0, capability="juggle", budget=90.0)  # rejected at once
                await eventually(lambda: state(first, gone) is None, 10, "the unserved task settled")
                await eventually(lambda: bool(provider.turns), 10, "the requester answered the counter-offer")
            again = Requester(mesh.config("requester-1", state_dir=tmp_path))
            async with running(again):
                [pending] = again.get_pending_requests()
                book = sorted(again.budget_book.read()) if again.budget_book else []
                provider.released.set()
                outcome = await asyncio.wait_for(again.outcome(task_id), 30)
                return pending.budget, book, outcome

    with fresh_mesh(MemoryTransport()) as mesh:
        budget, book, outcome = run_strict(lambda: scenario(mesh))
    assert budget == 140.0  # the policy alone allows the proposed cost, 20
    assert book == [outcome.task_id]  # the settled task's budget left the book at the restart
    assert (outcome.status, outcome.agreed_cost) == ("COMPLETED", 125.0)


def test_a_request_the_broker_does_not_take_fails_the_wait_for_its_outcome_and_submit() -> None:
    # request_task does not wait for the request's acknowledgement on its own: a request not delivered must still
    # come back to the caller as the delivery error, not as a task that never ends.
    lost = KafkaError(KafkaError._MSG_TIMED_OUT, "request lost")

    async def scenario(mesh: Mesh) -> tuple[list[BaseException | TaskOutcome], Requester]:
        provider = Provider(mesh.config("provider-1"), {"count": 10})
        requester = Requester(mesh.config("requester-1"))
        async with running(provider, requester):
            client = requester.producer.client if requester.producer else None
            assert isinstance(client, MemoryProducer)
            found: list[BaseException | TaskOutcome] = []
            for ask in (
                lambda: requester.request_task("a b", 20.0, capability="count", max_wait=30),
                lambda: requester.submit("a b", 20.0, capability="count"),
            ):
                client.fail_next = lost
                try:
                    found.append(await asyncio.wait_for(ask(), 10))
                except KafkaException as error:
                    found.append(error)
            return found, requester

    with fresh_mesh(MemoryTransport()) as mesh:
        found, requester = run_strict(lambda: scenario(mesh))
    assert [type(outcome) for outcome in found] == [KafkaException, KafkaException]
    assert all(outcome.args[0].code() == KafkaError._MSG_TIMED_OUT for outcome in found)  # type: ignore[union-attr]
    assert requester.metrics.counter_total("messages_produced_total") == 0
