"""docker-compose.yml cannot run here, so its agreement with the code is checked instead."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from a2a_fast.cli import build_parser
from a2a_fast.observability.http import DEFAULT_PORTS
from a2a_fast.stack import KAFKA_BROKER_ENV, SCHEMA_REGISTRY_ENV
from tests.conftest import REPO


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def agent_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("build") or svc.get("image") == "a2a-fast:latest"
    }


def test_every_agent_command_parses_with_our_cli(compose: dict[str, Any]) -> None:
    services = agent_services(compose)
    assert {"requester", "provider-1", "provider-2", "executor-1", "executor-2", "coordinator", "demo"} <= set(services)
    parser = build_parser()
    for name, service in services.items():
        args = parser.parse_args(service["command"])
        if args.command == "agent":
            assert args.http_port == DEFAULT_PORTS[args.role], name


def test_agents_use_the_same_environment_as_the_code(compose: dict[str, Any]) -> None:
    for name, service in agent_services(compose).items():
        env = service["environment"]
        assert env[KAFKA_BROKER_ENV] == "redpanda:9092", name
        assert env[SCHEMA_REGISTRY_ENV] == "http://redpanda:8081", name
        assert env["A2A_FAST_HTTP_HOST"] == "0.0.0.0", name


def test_redpanda_serves_kafka_and_its_schema_registry_where_the_agents_look(compose: dict[str, Any]) -> None:
    command = " ".join(compose["services"]["redpanda"]["command"])
    assert "internal://redpanda:9092" in command
    assert "--schema-registry-addr internal://0.0.0.0:8081" in command
    assert "console" in compose["services"]
