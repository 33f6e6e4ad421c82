"""``a2a-fast demo`` end to end: agent processes started, every task reaching its expected state, the A2A agent
answering the SDK's client over Kafka, all stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from a2a_fast.stack import Endpoints
from tests.conftest import REPO


def test_demo_runs_the_scenario_and_stops_its_agents(endpoints: Endpoints) -> None:
    env = {**os.environ, "KAFKA_BROKER": endpoints.kafka, "SCHEMA_REGISTRY_URL": endpoints.schema_registry}
    done = subprocess.run(
        [sys.executable, "-m", "a2a_fast.cli", "demo", "--json", "--tasks", "10"],
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    summary = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert summary["unexpected"] == []
    assert summary["final_states"] == {"COMPLETED": 4, "REJECTED": 4, "FAILED": 1, "CANCELED": 1}
    assert summary["rounds_by_kind"]["negotiated"] == 2 and summary["max_rounds"] == 4
    workflow = summary["workflow"]
    assert (workflow["id"], workflow["state"]) == ("brief", "COMPLETED"), workflow
    assert [(step["name"], step["state"]) for step in workflow["steps"]] == [
        ("summary", "COMPLETED"),
        ("translation", "COMPLETED"),
    ]
    assert all(step["agent"] in ("executor-1", "executor-2") and step["attempts"] >= 1 for step in workflow["steps"])
    assert workflow["output"]["text"].startswith("[de] The quarterly report")  # step 1's summary, translated
    call = summary["a2a"]
    assert (call["agent"], call["state"]) == ("Echo", "COMPLETED"), call
    assert call["events"] == [
        "task SUBMITTED",
        "status WORKING",
        "artifact echo: Confirm the board meeting on Thursday at ten",
        "status COMPLETED",
    ]
