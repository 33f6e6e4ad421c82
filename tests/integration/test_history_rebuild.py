"""Agents rebuild their state from the log with the same fold as ``a2a-fast replay`` (a2a_fast.history.tasks)."""

from __future__ import annotations

import asyncio
from typing import Any

from a2a_fast.agents.executor import Executor
from a2a_fast.agents.policies import BudgetPolicy
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.history.tasks import read_log
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.transport.registry import SchemaCatalog
from tests.integration.test_agents import HANDLERS, SKILLS, Mesh, mesh, run_strict

__all__ = ["mesh"]


class HeldProvider(Provider):
    """A provider that answers only once ``release`` is set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.release = asyncio.Event()

    async def handle(self, message: Inbound) -> None:
        await self.release.wait()
        await super().handle(message)


def test_a_counter_offer_that_arrived_while_the_requester_was_down_is_answered_after_restart(mesh: Mesh) -> None:
    async def scenario() -> None:
        # The provider counters only once the requester is down: the turn waits in the requester's group.
        countered = asyncio.Event()
        provider = HeldProvider(mesh.config("provider-1"), SKILLS)
        provider.observers.append(lambda event, _message: countered.set() if event == "handled" else None)
        async with provider:
            async with Requester(mesh.config("requester-1"), BudgetPolicy(max_rounds=4)) as first:
                assert isinstance(first, Requester)
                task_id = await first.submit("Translate", 20.0, capability="translate", budget=75)
            provider.release.set()
            await asyncio.wait_for(countered.wait(), 60)

        async with (
            Provider(mesh.config("provider-1"), SKILLS),
            Executor(mesh.config("executor-1"), HANDLERS, serve_steps=False),
            # Budgets are private, never on the log: the restarted requester is given its budget again.
            Requester(mesh.config("requester-1"), BudgetPolicy(75, max_rounds=4)) as again,
        ):
            assert isinstance(again, Requester)
            assert again.resumed == 1
            [pending] = again.get_pending_requests()
            assert (pending.task_id, pending.state, pending.rounds) == (task_id, "NEGOTIATING", 0)
            outcome = await asyncio.wait_for(again.outcome(task_id), 60)
            assert outcome.status == "COMPLETED", outcome

        catalog = SchemaCatalog(mesh.endpoints.schema_registry, mesh.topics)
        catalog.load_readers()
        try:
            task = read_log(mesh.endpoints.kafka, catalog, mesh.topics).get(task_id)
        finally:
            catalog.close()
        assert task is not None and task.state == "COMPLETED" and task.answered_round >= 1
        assert [entry.event for entry in task.timeline][:3] == ["REQUESTED", "NEGOTIATING", "COUNTER"]

    run_strict(scenario)
