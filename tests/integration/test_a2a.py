"""The A2A scenarios (tests/scenarios/a2a.py) on the real broker and registry, and the operator's commands
reading A2A tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from a2a_fast.a2a import A2AAgent
from a2a_fast.stack import Endpoints
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
        timeline = cli("replay", "--task", waiting[:12])
        assert f"task {waiting}" in timeline and "NEGOTIATING" in timeline, timeline
        assert "client-1 REQUESTED" in timeline and "travel-1 NEGOTIATING" in timeline and "from where?" in timeline
