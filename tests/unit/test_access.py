"""The pieces of access control that need no broker: the monitoring token, the roles' ACLs, the secured stack's
files and variables, and 'a2a-fast keys'."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from a2a_fast.a2a import A2AAgent
from a2a_fast.a2a.client import KafkaCaller
from a2a_fast.agents.base import AgentConfig
from a2a_fast.agents.coordinator import Coordinator
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.agents.steps import StepRunner
from a2a_fast.errors import ConfigError
from a2a_fast.observability.http import MonitoringServer, json_response
from a2a_fast.protocol.roles import signing_role
from a2a_fast.protocol.signing import load_trusted_keys
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import LocalStack, export_lines
from a2a_fast.transport.acls import GROUP_PREFIXES, grants, parse_principals
from a2a_fast.transport.memory import MemoryTransport
from tests.conftest import REPO
from tests.scenarios.a2a import EchoExecutor, card


async def ask(port: int, path: str, authorization: str | None = None) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = f"Authorization: {authorization}\r\n" if authorization else ""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    await writer.drain()
    response = (await reader.read()).decode()
    writer.close()
    status = int(response.split(" ", 2)[1])
    return status, response


def test_status_and_metrics_need_the_token_and_health_does_not() -> None:
    async def route() -> tuple[int, str, str]:
        return json_response({"ok": True})

    async def scenario() -> None:
        server = MonitoringServer(
            {"/health": route, "/status": route, "/metrics": route}, token="s3cret-token", open_paths=("/health",)
        )
        port = await server.start()
        try:
            assert (await ask(port, "/health"))[0] == 200
            status, response = await ask(port, "/status")
            assert status == 401 and 'WWW-Authenticate: Bearer realm="a2a-fast"' in response
            assert "s3cret-token" not in response
            assert (await ask(port, "/metrics", "Bearer wrong"))[0] == 401
            assert (await ask(port, "/metrics", "Basic s3cret-token"))[0] == 401
            assert (await ask(port, "/metrics", "Bearer s3cret-token"))[0] == 200
            assert (await ask(port, "/status", "Bearer s3cret-token"))[0] == 200
        finally:
            await server.close()

    asyncio.run(scenario())


def test_the_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A2A_FAST_HTTP_TOKEN", "from-the-env-123")
    assert AgentConfig("a", "k", "r").http_token == "from-the-env-123"
    monkeypatch.delenv("A2A_FAST_HTTP_TOKEN")
    assert AgentConfig("a", "k", "r").http_token is None
    assert "from-the-env-123" not in repr(AgentConfig("a", "k", "r", http_token="from-the-env-123"))


def test_each_role_writes_only_its_topics() -> None:
    topics = TopicNames("p.")
    found = grants(topics, parse_principals([]))
    writes = {(grant.principal, grant.name) for grant in found if grant.operation == "WRITE"}
    assert ("User:executor", "p.task-requests") not in writes
    assert ("User:provider", "p.task-requests") not in writes
    assert ("User:provider", "p.collaborations") not in writes
    assert ("User:coordinator", "p.task-responses") not in writes
    assert ("User:executor", "p.task-responses") in writes
    assert ("User:requester", "p.task-requests") in writes
    for role in ("requester", "provider", "executor", "coordinator"):
        assert (f"User:{role}", "p.a2a.dlq") in writes
    groups = {(grant.principal, grant.name) for grant in found if grant.resource == "group"}
    assert groups == {
        ("User:requester", "p.requester-"),
        ("User:provider", "p.providers."),
        ("User:executor", "p.executors."),
        ("User:executor", "p.steps-"),
        ("User:coordinator", "p.coordinator-"),
        ("User:a2a-agent", "p.a2a-agents."),
        ("User:a2a-client", "p.a2a-clients."),
    }
    a2a_writes = {name for principal, name in writes if principal.startswith("User:a2a-")}
    assert a2a_writes == {"p.a2a.requests", "p.a2a.events", "p.a2a.dlq", "p.a2a.agents"}
    assert ("User:a2a-client", "p.a2a.events") not in writes and ("User:a2a-agent", "p.a2a.requests") not in writes
    described = {grant.name for grant in found if grant.operation == "DESCRIBE" and grant.principal == "User:executor"}
    assert described == {*TopicNames("p.").all(), "p.a2a.agents"}, "every role sees every topic agents create"
    assert all(grant.prefixed for grant in found if grant.resource == "group")
    assert len(found) == len(set(found))


def test_the_group_prefixes_are_those_the_agents_join() -> None:
    config = AgentConfig("agent-1", "k", "r", topics=TopicNames("p."), transport=MemoryTransport())
    joined = {
        Requester(config).group_id: "requester",
        Provider(config, {"summarize": 1.0}).group_id: "provider",
        Executor(config, {"summarize": lambda task: None}).group_id: "executor",  # type: ignore[arg-type,return-value]
        StepRunner(config, {}).group_id: "executor",
        Coordinator(config).group_id: "coordinator",
        A2AAgent(config, EchoExecutor(), card("Echo", "echo")).group_id: "a2a-agent",
        KafkaCaller(config).group_id: "a2a-client",
    }
    for group, role in joined.items():
        assert any(group.startswith("p." + prefix) for prefix in GROUP_PREFIXES[role]), (group, role)
    assert signing_role(StepRunner.role) == "executor"


def test_another_principal_for_a_role() -> None:
    found = grants(TopicNames(), parse_principals(["requester=User:mcp", "coordinator=User:mcp"]))
    assert {grant.principal for grant in found} == {
        *("User:mcp", "User:provider", "User:executor"),
        *("User:a2a-agent", "User:a2a-client"),
    }
    with pytest.raises(ConfigError, match=r"--principal 'admin=User:x': expected ROLE=TYPE:NAME"):
        parse_principals(["admin=User:x"])


def test_the_secured_stack_makes_its_files_once_and_private(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path / "state-secure", secure=True)
    tls = tmp_path / "state-secure" / "tls"
    credentials = tmp_path / "state-secure" / "credentials.json"
    for private in (credentials, tls / "server.key", tls / "server.pem", tls / "provider.key"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    first = credentials.read_text()
    ca = (tls / "ca.pem").read_bytes()
    again = LocalStack(tmp_path / "state-secure", secure=True)
    assert credentials.read_text() == first and (tls / "ca.pem").read_bytes() == ca
    env = again.environment("provider")
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_USERNAME"] == "provider"
    assert env["KAFKA_BROKER"] == "127.0.0.1:29092"
    assert env["SCHEMA_REGISTRY_URL"].startswith("https://127.0.0.1:28081/")
    assert env["KAFKA_SSL_CERTIFICATE_LOCATION"] == ""
    mtls = stack.environment("executor", mtls=True)
    assert mtls["KAFKA_BROKER"] == "127.0.0.1:29094" and mtls["KAFKA_SASL_PASSWORD"] == ""
    assert "unset KAFKA_SASL_PASSWORD" in export_lines(mtls)
    with pytest.raises(Exception, match=r"no user 'mallory'"):
        stack.environment("mallory")


def test_the_certificates_are_what_the_services_and_clients_need(tmp_path: Path) -> None:
    from cryptography import x509

    LocalStack(tmp_path / "s", secure=True)
    tls = tmp_path / "s" / "tls"
    server = x509.load_pem_x509_certificate((tls / "server.crt").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(address) for address in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1"}
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    client = x509.load_pem_x509_certificate((tls / "executor.crt").read_bytes())
    assert client.subject.rfc4514_string() == "CN=executor"
    ca = x509.load_pem_x509_certificate((tls / "ca.pem").read_bytes())
    client.verify_directly_issued_by(ca)
    server.verify_directly_issued_by(ca)


def test_keys_generate_writes_a_private_key_and_a_trusted_entry(tmp_path: Path) -> None:
    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
        return subprocess.run(
            [sys.executable, "-m", "a2a_fast.cli", "keys", "generate", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    made = keys("--agent", "mcp-1", "--role", "requester", "--role", "coordinator", "--out", "k", "--trust", "t.yaml")
    assert made.returncode == 0, made.stderr
    keys("--agent", "provider-1", "--role", "provider", "--out", "k", "--trust", "t.yaml")
    trusted = load_trusted_keys(str(tmp_path / "t.yaml"), "t")
    assert [(key.agent, sorted(key.roles)) for key in trusted] == [
        ("mcp-1", ["coordinator", "requester"]),
        ("provider-1", ["provider"]),
    ]
    assert stat.S_IMODE((tmp_path / "k" / "mcp-1.key").stat().st_mode) == 0o600
    again = keys("--agent", "mcp-1", "--role", "requester", "--out", "k")
    assert again.returncode == 1 and "is never overwritten" in again.stderr
    printed = keys("--agent", "solo", "--role", "executor", "--out", "k")
    assert yaml.safe_load(printed.stdout.split("\n", 1)[1])["keys"][0]["agent"] == "solo"
