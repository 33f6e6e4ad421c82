"""docker-compose.yml cannot run here, so its agreement with the code is checked instead."""

from __future__ import annotations

import argparse
import re
from typing import Any

import pytest
import yaml

from a2a_fast.cli.agents import build_agent
from a2a_fast.observability.http import DEFAULT_PORTS
from a2a_fast.stack import KAFKA_BROKER_ENV, SCHEMA_REGISTRY_ENV
from tests.conftest import REPO
from tests.unit.deploy.deployment import (
    GROUP_ROLES,
    as_argv,
    check_agent_does_something,
    environment,
    http_port,
    members_per_group,
    parse_command,
)

COMPOSE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def agent_services(compose: dict[str, Any], profile: str | None = None) -> dict[str, dict[str, Any]]:
    """The a2a-fast services of ``profile`` (None: those that run without one, the plain mesh)."""
    return {
        name: svc
        for name, svc in compose["services"].items()
        if (svc.get("build") or svc.get("image") == "a2a-fast:latest")
        and (profile in svc.get("profiles", []) if profile else not set(svc.get("profiles", [])) - {"demo"})
    }


def agents(compose: dict[str, Any], profile: str | None = None) -> dict[str, tuple[dict[str, Any], argparse.Namespace]]:
    """The services running ``a2a-fast agent ...``, with their parsed command."""
    found = {}
    for name, service in agent_services(compose, profile).items():
        args = parse_command(as_argv(service["command"]), f"service {name}")
        if args.command == "agent":
            found[name] = (service, args)
    return found


def replicas(service: dict[str, Any]) -> int:
    count: int = service.get("deploy", {}).get("replicas", 1)
    return count


def published(service: dict[str, Any]) -> list[tuple[str, int]]:
    """(host port, container port) of each short-syntax port mapping; host port "" when Docker picks one."""
    mappings = []
    for spec in service.get("ports", []):
        parts = str(spec).split(":")
        mappings.append((parts[-2] if len(parts) > 1 else "", int(parts[-1])))
    return mappings


def test_every_agent_command_parses_with_our_cli(compose: dict[str, Any]) -> None:
    services = agent_services(compose)
    assert {"requester", "provider", "executor", "coordinator", "demo"} <= set(services)
    for name, service in services.items():
        parse_command(as_argv(service["command"]), f"service {name}")
    for name, (_, args) in agents(compose).items():
        assert http_port(args) == DEFAULT_PORTS[args.role], name


def test_agents_use_the_same_environment_as_the_code(compose: dict[str, Any]) -> None:
    for name, service in agent_services(compose).items():
        env = service["environment"]
        assert env[KAFKA_BROKER_ENV] == "redpanda:9092", name
        assert env[SCHEMA_REGISTRY_ENV] == "http://redpanda:8081", name
    for name, (service, _) in agents(compose).items():
        with environment(service["environment"]):
            agent = build_agent(parse_command(service["command"], f"service {name}"))
        assert agent.config.kafka == "redpanda:9092", name
        assert agent.config.schema_registry == "http://redpanda:8081", name
        assert agent.config.http_host == "0.0.0.0", f"{name}: monitoring must be reachable from outside its container"


def test_every_agent_creates_topics_with_the_same_partitions_enough_for_each_group(compose: dict[str, Any]) -> None:
    services = agents(compose)
    for name, (service, _) in services.items():
        assert "--partitions" in service["command"], f"{name}: the first agent up creates the topics, so every one says"
    counts = {args.partitions for _, args in services.values()}
    assert len(counts) == 1, f"agents disagree on --partitions: {counts}"
    partitions = counts.pop()
    built = [(build_agent(args), replicas(service)) for service, args in services.values()]
    assert all(agent.config.partitions == partitions for agent, _ in built)
    members = members_per_group(built)
    assert {"providers", "executors"} <= {group.split(".")[0] for group in members}
    for group, count in members.items():
        assert count <= partitions, f"group {group} has {count} members but the topics only {partitions} partitions"


def test_the_scaling_the_comments_show_fits_the_partitions(compose: dict[str, Any]) -> None:
    shown = re.findall(r"--scale ([\w-]+)=(\d+)", COMPOSE.read_text())
    assert shown, "the header shows how to scale"
    services = agents(compose)
    for name, count in shown:
        assert name in services, f"--scale {name}: no such agent service"
        _, args = services[name]
        assert args.role in GROUP_ROLES
        assert int(count) <= args.partitions, f"--scale {name}={count}: only {args.partitions} partitions"


def test_services_that_scale_fix_neither_an_id_nor_a_host_port(compose: dict[str, Any]) -> None:
    for name, (service, args) in agents(compose).items():
        if args.role not in GROUP_ROLES and replicas(service) == 1:
            continue
        assert args.agent_id is None, f"{name}: replicas need distinct ids, leave --id to its random default"
        for host, container in published(service):
            assert host == "", f"{name}: host port {host} can be taken by one replica only"
            assert container == http_port(args), name


def test_requester_and_coordinator_do_something_when_started(compose: dict[str, Any]) -> None:
    roles = set()
    for name, (service, args) in agents(compose).items():
        check_agent_does_something(args, f"service {name}")
        roles.add(args.role)
        if args.role == "requester":
            # it exits once its tasks are final: restarting it then would request them all over again
            assert service["restart"] in ("no", "on-failure"), name
    assert {"requester", "coordinator"} <= roles


def test_healthchecks_probe_each_agents_monitoring(compose: dict[str, Any]) -> None:
    services = agents(compose)
    for name, (service, args) in services.items():
        for _, container in published(service):
            assert container == http_port(args), name
        check = service.get("healthcheck")
        if check is not None:
            assert f"http://127.0.0.1:{http_port(args)}/health" in " ".join(check["test"]), name
    for name, service in compose["services"].items():
        for needed, condition in service.get("depends_on", {}).items():
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in compose["services"][needed], f"{name} waits for {needed}, which has no check"


def test_redpanda_serves_kafka_and_its_schema_registry_where_the_agents_look(compose: dict[str, Any]) -> None:
    command = " ".join(compose["services"]["redpanda"]["command"])
    assert "internal://redpanda:9092" in command
    assert "--schema-registry-addr internal://0.0.0.0:8081" in command
    assert "console" in compose["services"]


def test_the_secured_profile_runs_each_role_as_its_own_user_under_the_acls(compose: dict[str, Any]) -> None:
    from a2a_fast.transport.acls import parse_principals

    services = compose["services"]
    secured = agents(compose, "secured")
    assert {args.role for _, args in secured.values()} >= {"requester", "provider", "executor"}
    principals = parse_principals([])
    created = services["secured-users"]["command"][-1]
    for name, (service, args) in secured.items():
        env = service["environment"]
        assert env[KAFKA_BROKER_ENV] == "redpanda-secured:9092", name
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT" and env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-256"
        user = env["KAFKA_SASL_USERNAME"]
        assert principals[args.role] == f"User:{user}", f"{name}: the ACLs are for User:{args.role}, it runs as {user}"
        assert "KAFKA_SASL_PASSWORD" in env, name
        with environment({**env, "KAFKA_SASL_PASSWORD": "x"}):
            agent = build_agent(args)  # the code accepts these settings as they stand
        settings = agent.transport.settings({})  # type: ignore[attr-defined]
        assert (settings["security.protocol"], settings["sasl.username"]) == ("SASL_PLAINTEXT", user), name
        assert "secured-acls" in service["depends_on"] or any(
            dependency in secured for dependency in service["depends_on"]
        ), f"{name} starts before the ACLs exist"
    for role in ("requester", "provider", "executor", "coordinator"):
        assert role in created, f"the init job creates no user {role}"
    acls = services["secured-acls"]
    assert parse_command(as_argv(acls["command"]), "secured-acls").command == "acl"
    assert acls["environment"]["KAFKA_SASL_USERNAME"] == "admin"
    assert acls["depends_on"]["secured-users"]["condition"] == "service_completed_successfully"
    bootstrap = yaml.safe_load(compose["configs"]["redpanda-secured-bootstrap"]["content"])
    assert bootstrap["enable_sasl"] and bootstrap["kafka_enable_authorization"] and "admin" in bootstrap["superusers"]
    assert services["redpanda-secured"]["environment"]["RP_BOOTSTRAP_USER"].startswith("admin:")
    assert all("secured" in services[name].get("profiles", []) for name in ("redpanda-secured", "secured-users"))
    plain = set(agents(compose))
    assert not plain & set(secured)
