"""Schema evolution between agents: old and new agents talk both ways; the registry refuses a breaking change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema

from a2a_fast.agents.base import Agent
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.errors import SchemaError
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST, KIND_TASK_RESPONSE
from a2a_fast.stack import Endpoints
from a2a_fast.transport import KafkaTransport
from a2a_fast.transport.registry import SchemaCatalog, default_schemas
from tests.integration.test_agents import HANDLERS, SKILLS, Mesh, fresh_mesh, run_strict
from tests.scenarios.cancel import V1_SCHEMA, v3_schema


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


def test_task_response_v2_is_registered_as_a_backward_compatible_new_version_of_v1(
    mesh: Mesh, endpoints: Endpoints
) -> None:
    """Agents on today's schema registered v1 first; an agent with CANCELED registers v2 under the same subject,
    which BACKWARD compatibility accepts. FULL would refuse it, since a v1 reader (no enum default) cannot read
    the new symbols: that is why v1 agents dead-letter them. From v2 on, with the default, a further symbol
    passes even FULL."""
    with SchemaCatalog(endpoints.schema_registry, mesh.topics, {KIND_TASK_RESPONSE: V1_SCHEMA}) as old:
        v1_id = old.register()[KIND_TASK_RESPONSE]
        subject = old.subject(KIND_TASK_RESPONSE)
    with SchemaCatalog(endpoints.schema_registry, mesh.topics) as new:
        v2_id = new.register()[KIND_TASK_RESPONSE]
        assert new.compatibility_of(KIND_TASK_RESPONSE) == "BACKWARD"
    registry = KafkaTransport("", endpoints.schema_registry).registry()
    try:
        assert registry.get_versions(subject) == [1, 2] and v1_id != v2_id
        assert [registry.get_version(subject, n).schema_id for n in (1, 2)] == [v1_id, v2_id]

        probe = f"{mesh.topics.prefix}status-probe-value"
        registry.register_schema(probe, Schema(V1_SCHEMA, "AVRO"))
        registry.set_compatibility(subject_name=probe, level="FULL")
        assert not registry.test_compatibility(probe, Schema(default_schemas()[KIND_TASK_RESPONSE], "AVRO"))
        registry.set_compatibility(subject_name=probe, level="BACKWARD")
        registry.register_schema(probe, Schema(default_schemas()[KIND_TASK_RESPONSE], "AVRO"))
        registry.set_compatibility(subject_name=probe, level="FULL")
        assert registry.test_compatibility(probe, Schema(v3_schema(), "AVRO"))
        registry.delete_subject(probe)
        registry.delete_subject(probe, permanent=True)
    finally:
        registry.close()
