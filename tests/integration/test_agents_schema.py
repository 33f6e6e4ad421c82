"""Schema evolution between agents: old and new agents talk both ways; the registry refuses a breaking change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from a2a_fast.agents.base import Agent
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.errors import SchemaError
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST, KIND_TASK_RESPONSE
from a2a_fast.stack import Endpoints
from a2a_fast.transport.registry import SchemaCatalog, default_schemas
from tests.integration.test_agents import HANDLERS, SKILLS, Mesh, fresh_mesh, run_strict


@pytest.fixture
def mesh(endpoints: Endpoints) -> Iterator[Mesh]:
    with fresh_mesh(endpoints) as fresh:
        yield fresh


def evolved(kind: str, field: dict[str, Any]) -> str:
    schema = json.loads(default_schemas()[kind])
    schema["fields"].append(field)
    return json.dumps(schema)


NEW_SCHEMAS = {
    KIND_TASK_REQUEST: evolved(KIND_TASK_REQUEST, {"name": "deadline_ms", "type": "long", "default": 0}),
    KIND_TASK_RESPONSE: evolved(KIND_TASK_RESPONSE, {"name": "currency", "type": "string", "default": "EUR"}),
}


def seen_by(agent: Agent) -> list[Inbound]:
    seen: list[Inbound] = []
    agent.observers.append(lambda event, message: seen.append(message) if event == "handled" and message else None)
    return seen


def test_old_and_new_agents_exchange_messages_both_ways(mesh: Mesh) -> None:
    async def scenario() -> None:
        # a new requester with old provider and executor
        old_provider = Provider(mesh.config("old-provider"), SKILLS)
        new_requester = Requester(mesh.config("new-requester", schemas=NEW_SCHEMAS))
        old_provider_saw, new_requester_saw = seen_by(old_provider), seen_by(new_requester)
        async with old_provider, Executor(mesh.config("old-executor"), HANDLERS), new_requester:
            outcome = await new_requester.request_task("Summarise", 120.0, capability="summarize", max_wait=60)
            assert outcome.status == "COMPLETED"
        request = next(m for m in old_provider_saw if m.kind == KIND_TASK_REQUEST)
        assert "deadline_ms" not in request.record  # old reader, new writer: the new field is skipped
        responses = [m for m in new_requester_saw if m.kind == KIND_TASK_RESPONSE]
        assert responses and all(m.record["currency"] == "EUR" for m in responses)  # filled from the default

        # an old requester with new provider and executor
        new_provider = Provider(mesh.config("new-provider", schemas=NEW_SCHEMAS), SKILLS)
        old_requester = Requester(mesh.config("old-requester"))
        new_provider_saw, old_requester_saw = seen_by(new_provider), seen_by(old_requester)
        async with new_provider, Executor(mesh.config("new-executor", schemas=NEW_SCHEMAS), HANDLERS), old_requester:
            outcome = await old_requester.request_task("Translate", 70.0, capability="translate", max_wait=60)
            assert outcome.status == "COMPLETED"
        request = next(m for m in new_provider_saw if m.kind == KIND_TASK_REQUEST)
        assert request.record["deadline_ms"] == 0
        responses = [m for m in old_requester_saw if m.kind == KIND_TASK_RESPONSE]
        assert responses and all("currency" not in m.record for m in responses)

        # both versions are registered under the same subject, and each message names its writer's id
        old_id = request.schema_id
        new_id = next(m for m in old_provider_saw if m.kind == KIND_TASK_REQUEST).schema_id
        assert old_id != new_id

    run_strict(scenario)


def test_registry_refuses_an_incompatible_change(mesh: Mesh, endpoints: Endpoints) -> None:
    with SchemaCatalog(endpoints.schema_registry, mesh.topics) as catalog:
        catalog.register()
        assert catalog.compatibility_of(KIND_TASK_REQUEST) == "BACKWARD"
    breaking = {KIND_TASK_REQUEST: evolved(KIND_TASK_REQUEST, {"name": "deadline_ms", "type": "long"})}
    with (
        SchemaCatalog(endpoints.schema_registry, mesh.topics, breaking) as catalog,
        pytest.raises(SchemaError, match=r"registry refused the a2a\.task\.request schema"),
    ):
        catalog.register()


def test_agents_registering_at_once_all_succeed(mesh: Mesh, endpoints: Endpoints) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def register() -> dict[str, int]:
        with SchemaCatalog(endpoints.schema_registry, mesh.topics) as catalog:
            return catalog.register()

    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda _: register(), range(5)))

    assert all(ids == results[0] for ids in results)
    with SchemaCatalog(endpoints.schema_registry, mesh.topics) as catalog:
        assert catalog.compatibility_of(KIND_TASK_REQUEST) == "BACKWARD"
