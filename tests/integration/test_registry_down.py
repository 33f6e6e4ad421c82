"""The schema registry down while agents run, on a private stack (the shared one is never stopped).

Records written with schemas an agent has cached are handled as usual; those whose writer schema it has not
fetched yet wait on their partitions (nothing is dead-lettered) and are read again with back-off; once the
registry answers again they are handled, and nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST
from a2a_fast.protocol.topics import TopicNames
from bench.chaos import PrivateStack
from tests.integration.test_agents import HANDLERS, SKILLS, Mesh, run_strict
from tests.integration.test_agents_schema import NEW_SCHEMAS, seen_by


def test_agents_go_on_with_cached_schemas_and_lose_nothing_while_the_registry_is_down(
    private_stack: PrivateStack, caplog: pytest.LogCaptureFixture
) -> None:
    mesh = Mesh(private_stack.endpoints, TopicNames(f"t-{uuid.uuid4().hex[:10]}."))
    registry = private_stack.stack.registry

    async def scenario() -> None:
        provider = Provider(mesh.config("provider-1"), SKILLS)
        old = Requester(mesh.config("old-requester", join_mesh=False))
        new = Requester(mesh.config("new-requester", schemas=NEW_SCHEMAS, join_mesh=False))
        answered = seen_by(provider)
        # The new requester registers its schema version while the registry is up; the provider has never read a
        # record written with it, so it has not fetched it.
        async with provider, Executor(mesh.config("executor-1"), HANDLERS), old, new:
            await asyncio.to_thread(registry.stop)
            try:
                waiting = [await new.submit(f"new {n}", 150.0, capability="summarize") for n in range(3)]
                going = [await old.submit(f"old {n}", 150.0, capability="summarize") for n in range(3)]
                done = await asyncio.wait_for(asyncio.gather(*(old.outcome(i) for i in going)), 60)
                assert [outcome.status for outcome in done] == ["COMPLETED"] * 3
                assert {m.task_id for m in answered if m.kind == KIND_TASK_REQUEST} == set(going)
                assert provider.failure is None and provider.is_running
            finally:
                await asyncio.to_thread(registry.start)
            later = await asyncio.wait_for(asyncio.gather(*(new.outcome(i) for i in waiting)), 120)
        assert {m.task_id for m in answered if m.kind == KIND_TASK_REQUEST} == set(going) | set(waiting)
        assert [outcome.status for outcome in later] == ["COMPLETED"] * 3
        assert int(provider.metrics.counter_total("dead_letters_total")) == 0

    with caplog.at_level(logging.WARNING, logger="a2a_fast.agent"):
        run_strict(scenario)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("provider-1: ")]
    outage = [line for line in lines if "cannot reach the schema registry" in line]
    assert len(outage) == 1 and "tried again with back-off" in outage[0]  # one line, not one per record or retry
    assert sum("the schema registry answers again" in line for line in lines) == 1
