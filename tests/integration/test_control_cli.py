"""The operator's commands as a person runs them: ``a2a-fast request|tasks|agents|tail|topics|replay`` as
processes, against a provider and an executor running as their own processes on the real stack."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints

CLI = [sys.executable, "-m", "a2a_fast.cli"]


@dataclass
class Mesh:
    prefix: str
    env: dict[str, str]
    logs: Path

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*CLI, *args, "--topic-prefix", self.prefix],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert done.returncode == 0, f"{args} exited {done.returncode}: {done.stderr}"
        return done


@pytest.fixture(scope="module")
def mesh(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A provider and an executor as processes, logging JSON lines, on a fresh topic namespace."""
    prefix = f"t-{uuid.uuid4().hex[:10]}."
    env = {**os.environ, "KAFKA_BROKER": endpoints.kafka, "SCHEMA_REGISTRY_URL": endpoints.schema_registry}
    logs = tmp_path_factory.mktemp("agents")
    processes = []
    try:
        for role, agent_id in (("provider", "provider-1"), ("executor", "executor-1")):
            err = (logs / f"{agent_id}.log").open("w")
            process = subprocess.Popen(
                [
                    *CLI,
                    "agent",
                    role,
                    "--id",
                    agent_id,
                    "--topic-prefix",
                    prefix,
                    "--http-port",
                    "-1",
                    "--log-level",
                    "INFO",
                ],
                env={**env, "A2A_FAST_LOG_JSON": "1"},
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
            processes.append(process)
            err.close()
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("READY"), "agent did not start"
        yield Mesh(prefix, env, logs)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        names = TopicNames(prefix)
        admin = AdminClient({"bootstrap.servers": endpoints.kafka})
        futures = admin.delete_topics([*names.all(), names.agents], operation_timeout=10)
        for future in futures.values():
            with contextlib.suppress(Exception):
                future.result(15)


@pytest.fixture(scope="module")
def finished(mesh: Mesh) -> dict[str, str]:
    """Task ids of one completed (negotiated) and one rejected task, requested through the CLI."""
    done = mesh.run("request", "Translate the notes", "--capability", "translate", "--cost", "20", "--budget", "75",
                    "--param", "lang=de", "--wait")  # fmt: skip
    lines = done.stdout.splitlines()
    assert lines[0].startswith("task ") and "requested by cli-" in lines[0], lines
    states = [line.split("] ", 1)[1].split()[1] for line in lines[1:-1]]
    assert states[0] == "NEGOTIATING" and "ACCEPTED" in states and states[-1] == "COMPLETED", lines
    assert lines[-1].endswith("}") and " COMPLETED " in lines[-1], lines
    completed = lines[0].split()[1]
    between = time.time()

    rejected = mesh.run("request", "Teleport", "--capability", "teleport", "--cost", "5", "--json")
    events = [json.loads(line) for line in rejected.stdout.splitlines()]
    assert events[-1]["outcome"]["status"] == "REJECTED", events
    return {"completed": completed, "rejected": events[0]["task_id"], "between": str(between)}


def test_request_waits_and_shows_progress(finished: dict[str, str]) -> None:
    assert finished["completed"] != finished["rejected"]


def test_tasks_lists_states_and_filters(mesh: Mesh, finished: dict[str, str]) -> None:
    table = mesh.run("tasks").stdout.splitlines()
    assert table[0].split()[:2] == ["TASK", "STATE"]
    rows = {line.split()[0]: line.split()[1] for line in table[1:-1]}
    assert rows == {finished["completed"][:12]: "COMPLETED", finished["rejected"][:12]: "REJECTED"}
    assert table[-1].startswith("2 of 2 tasks shown")

    only = [json.loads(line) for line in mesh.run("tasks", "--state", "completed", "--json").stdout.splitlines()]
    assert [(task["task_id"], task["executor"], task["agreed_cost"]) for task in only] == [
        (finished["completed"], "executor-1", 75.0)
    ]
    bad = mesh.run("tasks", "--state", "DONE", check=False)
    assert bad.returncode == 2 and "invalid choice: 'DONE'" in bad.stderr


def test_tail_prints_one_decoded_line_per_event(mesh: Mesh, finished: dict[str, str]) -> None:
    lines = mesh.run("tail", "task-responses", "--from-beginning", "--max", "3").stdout.splitlines()
    assert len(lines) == 3
    assert all(f"{mesh.prefix}task-responses[" in line and " a2a.task.response task=" in line for line in lines)

    turns = mesh.run("tail", "negotiations", "--from-beginning", "--json", "--timeout", "5").stdout.splitlines()
    events = [json.loads(line) for line in turns]
    assert events and {event["type"] for event in events} == {"a2a.negotiation"}
    assert {event["data"]["action"] for event in events} <= {"COUNTER", "ACCEPT", "REJECT"}
    assert all(event["task_id"] == finished["completed"] for event in events)

    typed = mesh.run("tail", "task-requests", "--from-beginning", "--type", "task.response", "--timeout", "3")
    assert typed.stdout == ""

    nothing_new = mesh.run("tail", "task-responses", "--timeout", "2")
    assert nothing_new.stdout == ""
    assert "--max 0" in mesh.run("tail", "task-responses", "--max", "0", check=False).stderr


def test_topics_show_partitions_and_end_offsets(mesh: Mesh, finished: dict[str, str]) -> None:
    rows = [json.loads(line) for line in mesh.run("topics", "--json").stdout.splitlines()]
    by_name = {row["name"]: row for row in rows}
    names = TopicNames(mesh.prefix)
    assert {names.requests, names.responses, names.negotiations, names.dlq} <= set(by_name)
    assert by_name[names.requests]["partitions"] == 3 and by_name[names.requests]["records"] == 2
    assert sum(by_name[names.responses]["end_offsets"]) == by_name[names.responses]["records"] > 4


def test_agents_lists_who_acted(mesh: Mesh, finished: dict[str, str]) -> None:
    rows = [json.loads(line) for line in mesh.run("agents", "--json").stdout.splitlines()]
    by_id = {row["agent_id"]: row for row in rows}
    assert by_id["provider-1"]["log"]["roles"] == ["provider"]
    assert by_id["executor-1"]["log"]["roles"] == ["executor"]
    assert sum(1 for row in rows if row["agent_id"].startswith("cli-")) == 2


def test_replay_prints_a_timeline_and_exports_the_audit_trail(
    mesh: Mesh, finished: dict[str, str], tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    task_id = finished["completed"]
    shown = mesh.run("replay", "--task", task_id[:10], "--export", str(audit)).stdout.splitlines()
    assert shown[0] == f"task {task_id} as of now: COMPLETED"
    timeline = [line.split(None, 1)[1] for line in shown if line.startswith("  20")]
    assert timeline[0].startswith("cli-") and " REQUESTED 20.00" in timeline[0]
    assert timeline[1].startswith("provider-1 NEGOTIATING") and "(round 1)" in timeline[1]
    assert any(" COUNTER " in line for line in timeline) and timeline[-1].startswith("executor-1 COMPLETED")

    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    assert len(entries) == len(timeline) and {entry["task_id"] for entry in entries} == {task_id}
    assert [entry["time"] for entry in entries] == sorted(entry["time"] for entry in entries)
    assert {entry["role"] for entry in entries} == {"requester", "provider", "executor"}
    assert all(entry["traceparent"] and entry["topic"].startswith(mesh.prefix) for entry in entries)
    # The agents record no spans here, yet each hop continues the request's trace under a span of its own
    # (what one handler publishes shares that handler's span).
    assert len({entry["traceparent"][3:35] for entry in entries}) == 1
    spans_by_role: dict[str, set[str]] = {}
    for entry in entries:
        spans_by_role.setdefault(entry["role"], set()).add(entry["traceparent"][36:52])
    assert all(
        not (spans & other) for role, spans in spans_by_role.items() for r, other in spans_by_role.items() if r != role
    )

    # As of a time between the two requests, only the first task exists.
    earlier = json.loads(mesh.run("replay", "--until", finished["between"], "--json").stdout)
    assert [task["task_id"] for task in earlier["tasks"]] == [task_id]
    missing = mesh.run("replay", "--until", finished["between"], "--task", finished["rejected"], check=False)
    assert missing.returncode == 1 and "is not in the log" in missing.stderr
    bad = mesh.run("replay", "--until", "yesterday-ish", check=False)
    assert bad.returncode == 1 and "ISO 8601" in bad.stderr


def test_agent_logs_are_json_lines_with_ids(mesh: Mesh, finished: dict[str, str]) -> None:
    for agent_id in ("provider-1", "executor-1"):
        text = (mesh.logs / f"{agent_id}.log").read_text().splitlines()
        # librdkafka writes its own notices ("%6|...") to stderr, outside Python logging.
        lines = [json.loads(line) for line in text if not line.startswith("%")]
        handling = [line for line in lines if line["task_id"] is not None]
        assert handling, f"{agent_id} logged nothing while handling"
        assert all(line["agent_id"] == agent_id for line in lines)
        assert all(line["correlation_id"] == line["task_id"] for line in handling)
        assert {line["task_id"] for line in handling} <= {finished["completed"], finished["rejected"]}


def test_tail_follows_until_ctrl_c(mesh: Mesh, finished: dict[str, str]) -> None:
    with subprocess.Popen(
        [*CLI, "tail", "task-requests", "--from-beginning", "--topic-prefix", mesh.prefix],
        env=mesh.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as follower:
        assert follower.stdout is not None
        first = follower.stdout.readline()
        assert " a2a.task.request " in first and "REQUESTED" in first, first
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0 and "Traceback" not in err, err
    assert all(" a2a.task.request " in line for line in out.splitlines())
