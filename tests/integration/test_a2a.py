"""The A2A scenarios (tests/scenarios/a2a.py) on the real broker and registry, and the operator's commands
reading A2A tasks."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from a2a.client.errors import A2AClientError
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from a2a_fast.a2a import A2AAgent
from a2a_fast.a2a.builtin import EchoExecutor, echo_card
from a2a_fast.stack import Endpoints
from a2a_fast.stack.services import KafkaBroker, free_ports
from a2a_fast.transport import KafkaTransport
from tests.scenarios import Mesh, Scenario, a2a, fresh_mesh, run_strict

SCENARIOS = [getattr(a2a, name) for name in a2a.__all__]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_scenario(endpoints: Endpoints, scenario: Scenario) -> None:
    with fresh_mesh(KafkaTransport(endpoints.kafka, endpoints.schema_registry)) as mesh:
        run_strict(lambda: scenario(mesh))


def test_replay_and_tasks_show_a2a_tasks(endpoints: Endpoints) -> None:
    """``a2a-fast tasks`` and ``replay`` read A2A tasks from the log like any other: state, the agent as the
    capability, the client as the requester, the agent's answer as the result, the timeline."""

    async def make_tasks(mesh: Mesh) -> tuple[str, str]:
        travel = A2AAgent(mesh.config("travel-1"), a2a.TravelExecutor(), a2a.card("Travel", "travel"))
        echo = A2AAgent(mesh.config("echo-1"), a2a.EchoExecutor(), a2a.card("Echo", "echo"))
        await a2a.start_all(travel, echo)
        try:
            found = await a2a.directory_card(mesh, "travel", members=2)
            async with a2a.sdk_client(mesh, found, "client-1", streaming=False) as client:
                (asked,) = await a2a.collect(client.send_message(a2a.user("book a flight")))
            found = await a2a.directory_card(mesh, "echo", members=2)
            async with a2a.sdk_client(mesh, found, "client-1", streaming=False) as client:
                (echoed,) = await a2a.collect(client.send_message(a2a.user("hello log")))
        finally:
            await a2a.stop_all(echo, travel)
        return asked.task.id, echoed.task.id

    with fresh_mesh(KafkaTransport(endpoints.kafka, endpoints.schema_registry)) as mesh:
        waiting, done = run_strict(lambda: make_tasks(mesh))
        env = {**os.environ, "KAFKA_BROKER": endpoints.kafka, "SCHEMA_REGISTRY_URL": endpoints.schema_registry}

        def cli(*args: str) -> str:
            ran = subprocess.run(
                [sys.executable, "-m", "a2a_fast.cli", *args, "--topic-prefix", mesh.topics.prefix],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert ran.returncode == 0, ran.stderr
            return ran.stdout

        listed = {row["task_id"]: row for row in map(json.loads, cli("tasks", "--json").splitlines())}
        assert (listed[done]["state"], listed[done]["capability"], listed[done]["requester"]) == (
            "COMPLETED",
            "Echo",
            "client-1",
        )
        assert listed[done]["result"] == "hello log" and listed[done]["executor"] == "echo-1"
        assert (listed[waiting]["state"], listed[waiting]["capability"]) == ("NEGOTIATING", "Travel")
        assert [
            row["task_id"] for row in map(json.loads, cli("tasks", "--json", "--state", "NEGOTIATING").splitlines())
        ] == [waiting]
        tailed = [
            json.loads(line)
            for line in cli("tail", "a2a.events", "--from-beginning", "--json", "--max", "2").splitlines()
        ]
        (first,) = [line["data"] for line in tailed if line["task_id"] == waiting]
        assert first["task_id"] == waiting and first["status"] == "NEGOTIATING", first
        assert first["events"][0]["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"  # ProtoJSON, as the spec's JSON
        assert first["task"]["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
        requests = cli("tail", "a2a.requests", "--from-beginning", "--json", "--max", "2").splitlines()
        (params,) = [json.loads(line)["data"]["params"] for line in requests if waiting in line]
        assert params["message"]["role"] == "ROLE_USER" and params["message"]["parts"] == [{"text": "book a flight"}]
        timeline = cli("replay", "--task", waiting[:12])
        assert f"task {waiting}" in timeline and "NEGOTIATING" in timeline, timeline
        assert "client-1 REQUESTED" in timeline and "travel-1 NEGOTIATING" in timeline and "from where?" in timeline


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_task_survives_a_restart_of_the_broker(endpoints: Endpoints, tmp_path: Path) -> None:
    """A broker of this test's own (the shared one stays up) stopped and started while an A2A task runs: the
    agent's events wait in its producer, the client's send keeps waiting, and the task completes once."""
    broker = KafkaBroker(tmp_path, port=free_ports(), controller_port=free_ports())
    broker.start()
    try:
        transport = KafkaTransport(broker.address, endpoints.schema_registry)

        async def scenario(mesh: Mesh) -> None:
            executor = a2a.SteppedExecutor(steps=2)
            agent = A2AAgent(mesh.config("steps-1"), executor, a2a.card("Steps", "steps"))
            await a2a.start_all(agent)
            try:
                found = await a2a.directory_card(mesh, "steps")
                async with a2a.sdk_client(mesh, found, "client-1", streaming=False) as client:
                    answer = asyncio.ensure_future(a2a.collect(client.send_message(a2a.user("count"))))
                    await asyncio.wait_for(executor.started.wait(), 30)
                    executor.gates[0].set()
                    loop = asyncio.get_running_loop()
                    await loop.run_in_executor(None, broker.stop)
                    assert broker.status().state == "stopped"
                    executor.gates[1].set()  # the task ends while the broker is down
                    await asyncio.sleep(1)
                    await loop.run_in_executor(None, broker.start)
                    (done,) = await asyncio.wait_for(answer, 120)
                    assert done.task.status.state == a2a.TaskState.TASK_STATE_COMPLETED
                    assert [a2a.get_artifact_text(x) for x in done.task.artifacts] == ["step 0\nstep 1"]
                    got = await client.get_task(a2a.GetTaskRequest(id=done.task.id))
                    assert got.status.state == a2a.TaskState.TASK_STATE_COMPLETED
            finally:
                await a2a.stop_all(agent)

        with fresh_mesh(transport) as mesh:
            run_strict(lambda: scenario(mesh))
    finally:
        broker.stop()


def test_the_readme_example_calls_an_agent_of_the_mesh(
    endpoints: Endpoints, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's client example, as it is written there (only the mesh's topic prefix added), calls the echo
    agent and prints its events."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("<!-- a2a-client-example -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("KAFKA_BROKER", endpoints.kafka)
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", endpoints.schema_registry)

    async def scenario(mesh: Mesh) -> None:
        agent = A2AAgent(mesh.config("echo-1"), EchoExecutor(), echo_card())
        await a2a.start_all(agent)
        try:
            await a2a.directory_card(mesh, "echo")
            code = block.replace('find_card("echo")', f'find_card("echo", topic_prefix="{mesh.topics.prefix}")')
            assert code != block
            namespace: dict[str, object] = {}
            exec("async def example():\n" + textwrap.indent(code, "    "), namespace)
            await namespace["example"]()  # type: ignore[operator]
        finally:
            await a2a.stop_all(agent)

    with fresh_mesh(KafkaTransport(endpoints.kafka, endpoints.schema_registry)) as mesh:
        run_strict(lambda: scenario(mesh))
    printed = capsys.readouterr().out
    assert printed.count("TASK_STATE_") == 3 and "TASK_STATE_COMPLETED" in printed and 'text: "hi"' in printed


def test_a_call_the_broker_refuses_fails_with_the_sdks_error(endpoints: Endpoints) -> None:
    """A request the broker does not take (larger than ``a2a.requests`` allows) fails the SDK call at once with
    an ``A2AClientError`` saying it could not be sent: the call does not wait for an answer that cannot come."""

    async def scenario(mesh: Mesh) -> None:
        agent = A2AAgent(mesh.config("echo-1"), a2a.EchoExecutor(), a2a.card("Echo", "echo"))
        await a2a.start_all(agent)
        try:
            found = await a2a.directory_card(mesh, "Echo")
            async with a2a.sdk_client(mesh, found, "client-1", streaming=False) as client:
                assert await a2a.collect(client.send_message(a2a.user("small enough")))
                limit = ConfigEntry("max.message.bytes", "1024", incremental_operation=AlterConfigOpType.SET)
                resource = ConfigResource(
                    ConfigResource.Type.TOPIC, mesh.topics.a2a_requests, incremental_configs=[limit]
                )
                admin = mesh.transport.admin()
                for future in admin.incremental_alter_configs([resource]).values():
                    future.result(15)
                text = os.urandom(16_000).hex()  # hex of random bytes: still over the limit when compressed
                async with asyncio.timeout(60):
                    with pytest.raises(A2AClientError, match="could not be sent"):
                        await a2a.collect(client.send_message(a2a.user(text)))
        finally:
            await a2a.stop_all(agent)

    with fresh_mesh(KafkaTransport(endpoints.kafka, endpoints.schema_registry)) as mesh:
        run_strict(lambda: scenario(mesh))
