"""The mesh on the secured local stack: Kafka over SASL_SSL and mutual TLS with the StandardAuthorizer and per-role
ACLs, the registry over HTTPS with a password, records signed by their senders.

The agent scenario end to end over SASL_SSL; agents, and an A2A client and agent, as their roles' principals under
the ACLs; a wrong password, an untrusted certificate and a missing credential each stopping an agent at start with
one line naming the setting and the address; forged messages changing no task; and no secret in any log line,
/status, /metrics or dead letter.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from a2a_fast._native import RecordSigner
from a2a_fast.agents.base import AgentConfig
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.policies import BudgetPolicy
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.agents.tasks import TaskContext
from a2a_fast.observability.logs import configure_logging
from a2a_fast.protocol.envelope import header_text
from a2a_fast.protocol.signing import RecordSigning, TrustedKey
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import LocalStack
from a2a_fast.stack.certificates import Authority
from a2a_fast.transport.kafka import KafkaTransport
from tests.conftest import REPO
from tests.scenarios import Mesh, eventually, fresh_mesh, run_strict, security
from tests.scenarios.routing import start_all, stop_all

CLI = [sys.executable, "-m", "a2a_fast.cli"]


def variables(stack: LocalStack, user: str = "admin", mtls: bool = False) -> dict[str, str]:
    """The process environment of a client of the secured stack (no security variable of this shell)."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("KAFKA_", "SCHEMA_REGISTRY_", "A2A_FAST_SIGNING", "A2A_FAST_TRUSTED", "A2A_FAST_REQ"))
        and name not in ("A2A_FAST_CONFIG", "A2A_FAST_KAFKA_CONFIG", "A2A_FAST_HTTP_TOKEN")
    }
    return {**inherited, **{name: value for name, value in stack.environment(user, mtls).items() if value}}


def transport(stack: LocalStack, user: str = "admin", mtls: bool = False, signing: RecordSigning | None = None) -> Any:
    env = {name: value for name, value in stack.environment(user, mtls).items() if value}
    made = KafkaTransport.from_env(env["KAFKA_BROKER"], env["SCHEMA_REGISTRY_URL"], environ=env)
    return dataclasses.replace(made, signing=signing)


@pytest.fixture(scope="module")
def mesh_prefix(secure_stack: LocalStack) -> Iterator[str]:
    """A topic namespace whose topics and per-role ACLs ``a2a-fast acl apply`` made, as the administrator."""
    prefix = f"sec-{uuid.uuid4().hex[:8]}."
    done = subprocess.run(
        [*CLI, "acl", "apply", "--topic-prefix", prefix],
        env=variables(secure_stack),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"User:executor ALLOW WRITE on topic {prefix}task-responses" in done.stdout
    assert f"User:executor ALLOW WRITE on topic {prefix}task-requests" not in done.stdout
    assert f"User:provider ALLOW READ on group prefix {prefix}providers." in done.stdout
    yield prefix
    names = [*TopicNames(prefix).all(), TopicNames(prefix).agents]
    admin = transport(secure_stack).admin()
    for future in admin.delete_topics(names, operation_timeout=10).values():
        future.result(15)


def new_key() -> RecordSigner:
    return RecordSigner.from_seed(os.urandom(32))


def trusting(keys: dict[str, tuple[RecordSigner, str]]) -> RecordSigning:
    entries = tuple(
        TrustedKey(key.key_id, agent, frozenset([role]), base64.b64encode(key.public_key).decode())
        for agent, (key, role) in keys.items()
    )
    return RecordSigning(None, entries, required=True)


def test_the_agent_scenario_runs_over_sasl_ssl(secure_stack: LocalStack) -> None:
    """``a2a-fast demo``, its agents as processes, every client over SASL_SSL and the registry over HTTPS."""
    done = subprocess.run(
        [*CLI, "demo", "--json", "--tasks", "10"],
        env=variables(secure_stack),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["unexpected"] == []
    assert summary["final_states"] == {"COMPLETED": 4, "REJECTED": 4, "FAILED": 1, "CANCELED": 1}
    assert (summary["workflow"]["id"], summary["workflow"]["state"]) == ("brief", "COMPLETED")


def test_roles_run_a_task_as_their_own_principals_under_the_acls(secure_stack: LocalStack, mesh_prefix: str) -> None:
    """Requester and provider over SASL_SSL, the executor over mutual TLS, each as its role's user, each signing
    what it sends; the ACLs keep an executor from writing task requests and a provider out of the executors' group."""
    keys = {
        "requester-1": (new_key(), "requester"),
        "provider-1": (new_key(), "provider"),
        "executor-1": (new_key(), "executor"),
    }
    trust = trusting(keys)
    topics = TopicNames(mesh_prefix)

    def config(agent: str, user: str, mtls: bool = False) -> AgentConfig:
        signed = trust.with_signer(keys[agent][0])
        via = transport(secure_stack, user, mtls, signing=trust)
        return AgentConfig(agent, via.kafka, via.schema_registry_url, topics=topics, transport=via, signing=signed)

    async def echo(task: TaskContext) -> dict[str, str]:
        return {"summary": task.description.upper()}

    async def scenario() -> None:
        executor = Executor(config("executor-1", "executor", mtls=True), {"summarize": echo})
        provider = Provider(config("provider-1", "provider"), {"summarize": 10.0})
        requester = Requester(config("requester-1", "requester"), BudgetPolicy())
        await start_all(executor, provider, requester)
        try:
            outcome = await requester.request_task("over tls", 20.0, capability="summarize", max_wait=60)
            assert outcome.status == "COMPLETED", outcome
            assert outcome.result == {"summary": "OVER TLS"}
            assert (outcome.provider, outcome.executor) == ("provider-1", "executor-1")
            assert executor.metrics.counter_total("dead_letters_total") == 0
        finally:
            await stop_all(executor, provider, requester)

    run_strict(scenario)

    producer = transport(secure_stack, "executor", mtls=True).producer({"client.id": "acl-check"})
    reports: list[Any] = []
    producer.produce(topics.requests, b"v", b"k", on_delivery=lambda error, message: reports.append(error))
    producer.flush(30)
    assert len(reports) == 1 and reports[0] is not None
    assert reports[0].name() == "TOPIC_AUTHORIZATION_FAILED"

    from confluent_kafka import KafkaException

    consumer = transport(secure_stack, "provider").consumer(
        {"group.id": f"{mesh_prefix}executors.summarize", "session.timeout.ms": 6000}
    )
    try:
        consumer.subscribe([topics.responses])
        with pytest.raises(KafkaException, match="GROUP_AUTHORIZATION_FAILED"):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                for message in consumer.consume(10, 0.5):
                    if message.error() is not None:
                        raise KafkaException(message.error())
    finally:
        consumer.close()


def test_an_a2a_call_runs_as_the_binding_roles_under_the_acls(secure_stack: LocalStack, mesh_prefix: str) -> None:
    """The SDK's client and an A2A agent over SASL_SSL, each as its role's user and signing what it sends; the
    client's user may not write the agent's events."""
    from a2a_fast.a2a import A2AAgent
    from a2a_fast.a2a.builtin import EchoExecutor, echo_card
    from tests.scenarios import a2a

    keys = {"echo-1": (new_key(), "a2a-agent"), "client-1": (new_key(), "a2a-client")}
    trust = trusting(keys)
    meshes = {
        agent: Mesh(transport(secure_stack, role, signing=trust.with_signer(key)), TopicNames(mesh_prefix))
        for agent, (key, role) in keys.items()
    }

    async def scenario() -> None:
        agent = A2AAgent(meshes["echo-1"].config("echo-1"), EchoExecutor(), echo_card())
        await agent.start()
        try:
            client_side = meshes["client-1"]
            found = await a2a.directory_card(client_side, "echo")
            async with a2a.sdk_client(client_side, found, "client-1", streaming=False) as client:
                (answer,) = await a2a.collect(client.send_message(a2a.user("signed and sealed")))
            assert a2a.kinds([answer]) == ["task:COMPLETED"]
            assert agent.metrics.counter_total("dead_letters_total") == 0
        finally:
            await agent.stop()

    run_strict(scenario)

    producer = meshes["client-1"].transport.producer({"client.id": "acl-check"})
    reports: list[Any] = []
    producer.produce(
        meshes["client-1"].topics.a2a_events, b"v", b"k", on_delivery=lambda error, message: reports.append(error)
    )
    producer.flush(30)
    assert len(reports) == 1 and reports[0] is not None and reports[0].name() == "TOPIC_AUTHORIZATION_FAILED"


def test_forged_records_change_no_task_on_the_secured_broker(secure_stack: LocalStack) -> None:
    """The forger writes as the administrator, whom no ACL stops: only the signatures do."""
    with fresh_mesh(transport(secure_stack)) as mesh:
        run_strict(lambda: security.forged_records_change_no_task(mesh))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("other-ca") / "ca.pem"
    path.write_bytes(Authority("somebody else's CA").certificate_pem())
    return str(path)


BAD_STARTS = {
    "a wrong password": (
        {"KAFKA_SASL_PASSWORD": "not-the-password-4411"},
        r"Kafka at 127\.0\.0\.1:\d+ refused the credentials KAFKA_SASL_USERNAME=provider and KAFKA_SASL_PASSWORD "
        r"\(KAFKA_SASL_MECHANISM=SCRAM-SHA-512\)",
    ),
    "an untrusted broker certificate": (
        {"KAFKA_SSL_CA_LOCATION": "{other_ca}"},
        r"cannot verify the TLS certificate of Kafka at 127\.0\.0\.1:\d+ with KAFKA_SSL_CA_LOCATION=\S+",
    ),
    "a missing password": (
        {"KAFKA_SASL_PASSWORD": None},
        r"KAFKA_SASL_MECHANISM=SCRAM-SHA-512 needs a user name and password: KAFKA_SASL_PASSWORD not set "
        r"\(for Kafka at 127\.0\.0\.1:\d+, the registry at https://",
    ),
    "a missing client certificate": (
        {"mtls": "yes", "KAFKA_SSL_CERTIFICATE_LOCATION": None, "KAFKA_SSL_KEY_LOCATION": None},
        r"Kafka at 127\.0\.0\.1:\d+ refused this client's certificate \(KAFKA_SSL_CERTIFICATE_LOCATION \(not set\)\)",
    ),
    "a wrong registry password": (
        {"SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "a2a-fast:not-the-password-5522"},
        r"the schema registry at https://127\.0\.0\.1:\d+/apis/ccompat/v7 refused the credentials "
        r"SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO=\(hidden\) \(HTTP 401\)",
    ),
    "an untrusted registry certificate": (
        {"SCHEMA_REGISTRY_CA_LOCATION": "{other_ca}"},
        r"cannot verify the TLS certificate of the schema registry at https://127\.0\.0\.1:\d+/apis/ccompat/v7 with "
        r"SCHEMA_REGISTRY_CA_LOCATION=\S+",
    ),
}


@pytest.mark.parametrize("case", list(BAD_STARTS))
def test_a_bad_credential_stops_an_agent_at_start_with_one_line(
    secure_stack: LocalStack, mesh_prefix: str, other_ca: str, case: str
) -> None:
    import re

    changes, expected = BAD_STARTS[case]
    env = variables(secure_stack, "provider", mtls="mtls" in changes)
    for name, value in changes.items():
        if name == "mtls":
            continue
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value.format(other_ca=other_ca)
    done = subprocess.run(
        [*CLI, "agent", "provider", "--id", "provider-x", "--topic-prefix", mesh_prefix, "--http-port", "-1"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,  # a hang is a failure; a clear refusal comes well within this
        check=False,
    )
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.match(r"^a2a-fast: " + expected, lines[0]), lines[0]
    assert done.stdout == ""
    for secret in ("not-the-password-4411", "not-the-password-5522", *secure_stack.kafka.credentials.kafka.values()):
        assert secret not in done.stderr


def test_no_secret_reaches_logs_status_metrics_or_dead_letters(
    secure_stack: LocalStack, mesh_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = f"token-{uuid.uuid4().hex}"
    env = secure_stack.environment("provider")
    kafka_password = env["KAFKA_SASL_PASSWORD"]
    registry_password = env["SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"].split(":", 1)[1]
    secrets = (kafka_password, registry_password, token)
    topics = TopicNames(mesh_prefix)
    out = io.StringIO()
    configure_logging(stream=out, level=logging.DEBUG)
    bodies: dict[str, tuple[int, str]] = {}
    dead_letters: list[Any] = []

    def get(url: str, with_token: bool) -> tuple[int, str]:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if with_token else {})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    async def scenario() -> None:
        via = transport(secure_stack, "provider")
        config = AgentConfig(
            "provider-secret",
            via.kafka,
            via.schema_registry_url,
            topics=topics,
            transport=via,
            http_port=0,
            http_token=token,
            # librdkafka's own debug output about connections and authentication, into the logs under test
            producer_config={"debug": "security,broker", "log_level": 7},
        )
        provider = Provider(config, {"summarize": 10.0})
        await provider.start()
        try:
            await provider.wait_assigned()
            admin = transport(secure_stack).producer({"client.id": "garbage"})
            admin.produce(topics.requests, b"not an avro record", b"k", headers=[("ce_type", b"a2a.task.request")])
            admin.flush(30)
            await eventually(
                lambda: provider.metrics.counter_total("dead_letters_total") >= 1, 30, "the garbage dead-lettered"
            )
            base = f"http://127.0.0.1:{provider.http_port}"
            loop = asyncio.get_running_loop()
            for path in ("/health", "/status", "/metrics"):
                bodies[f"{path} without"] = await loop.run_in_executor(None, get, base + path, False)
                bodies[f"{path} with"] = await loop.run_in_executor(None, get, base + path, True)
            dead_letters.extend(await loop.run_in_executor(None, Mesh(transport(secure_stack), topics).raw, topics.dlq))
        finally:
            await provider.stop()

    try:
        run_strict(scenario)
    finally:
        configure_logging(level="WARNING")
    assert bodies["/health without"][0] == 200
    assert bodies["/status without"][0] == 401 and bodies["/metrics without"][0] == 401
    assert bodies["/status with"][0] == 200 and bodies["/metrics with"][0] == 200
    assert json.loads(bodies["/status with"][1])["dead_letters"] >= 1
    assert "a2a_dead_letters_total" in bodies["/metrics with"][1]
    logs = out.getvalue()
    assert "SASL" in logs or "sasl" in logs, "librdkafka's debug output was not captured"
    assert dead_letters and any(header_text(r.headers(), "dlq.stage") in ("decode", "validation") for r in dead_letters)
    said = [logs, *(body for _, body in bodies.values())]
    for record in dead_letters:
        said.append(repr(record.headers()) + repr(record.value()))
    for text in said:
        for secret in secrets:
            assert secret not in text


def test_stack_env_prints_what_a_shell_needs(secure_stack: LocalStack, tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "stack", "env", "--secure", "--user", "executor", "--mtls"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    script = tmp_path / "env.sh"
    script.write_text(done.stdout + 'echo "$KAFKA_BROKER|$KAFKA_SECURITY_PROTOCOL|$KAFKA_SSL_CERTIFICATE_LOCATION"\n')
    shown = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True).stdout.strip()
    broker, protocol, certificate = shown.split("|")
    assert broker == secure_stack.kafka.mtls_address and protocol == "SSL" and certificate.endswith("executor.crt")
    for name in ("KAFKA_SSL_CA_LOCATION", "SCHEMA_REGISTRY_URL", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"):
        assert f"export {name}=" in done.stdout
    assert "unset KAFKA_SASL_PASSWORD" in done.stdout
