"""The operator's commands as a person runs them: ``a2a-fast request|tasks|agents|tail|topics|replay`` as
processes, against a provider and an executor running as their own processes on the real stack."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from a2a_fast.protocol.topics import TopicNames, resolve_topic
from a2a_fast.stack import Endpoints
from bench.processes import stop

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
        stop(processes)
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
    completed = lines[0].split()[1]
    assert lines[-1].startswith(f"task {completed} COMPLETED "), lines
    result = json.loads(lines[-1].split(" COMPLETED ", 1)[1])  # the executor's result, as JSON
    assert result == {"language": "de", "characters": 19, "text": "[de] Translate the notes"}, lines
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
    requesters = [row for row in rows if row["agent_id"].startswith("cli-")]
    assert len(requesters) == 2
    # the one whose capability no provider serves rejected its own request: a requester still
    assert [row["log"]["roles"] for row in requesters] == [["requester"], ["requester"]]


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


def read_until(fd: int, end: bytes, patience: float = 60.0) -> bytes:
    """Raw reads from ``fd`` until ``end`` has been read (so nothing waits in a buffer of this process)."""
    seen = b""
    give_up = time.monotonic() + patience
    while end not in seen:
        remaining = give_up - time.monotonic()
        assert remaining > 0, f"no {end!r} within {patience}s, read {seen!r}"
        if select.select([fd], [], [], remaining)[0]:
            chunk = os.read(fd, 65536)
            assert chunk, f"closed before {end!r}, read {seen!r}"
            seen += chunk
    return seen


def request_line(mesh: Mesh, task_id: str, rest: str) -> re.Pattern[str]:
    """The exact line ``tail task-requests`` prints for a request of the ``finished`` fixture."""
    return re.compile(
        rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z {re.escape(mesh.prefix)}task-requests\[[0-2]\]@\d+"
        rf" a2a\.task\.request task={task_id[:12]} cli-[0-9a-f]{{8}} REQUESTED {re.escape(rest)}"
    )


def test_tail_follows_until_ctrl_c(mesh: Mesh, finished: dict[str, str]) -> None:
    """Ctrl-C lands while the follower is printing: what it printed is whole event lines, nothing else on
    either stream, and Ctrl-C is a normal end (status 0)."""
    expected = {
        finished["completed"]: request_line(mesh, finished["completed"], "20.00: translate: Translate the notes"),
        finished["rejected"]: request_line(mesh, finished["rejected"], "5.00: teleport: Teleport"),
    }
    with subprocess.Popen(
        [*CLI, "tail", "task-requests", "--from-beginning", "--topic-prefix", mesh.prefix],
        env=mesh.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as follower:
        assert follower.stdout is not None
        first = read_until(follower.stdout.fileno(), b"\n")
        follower.send_signal(signal.SIGINT)
        rest, err = follower.communicate(timeout=60)
    out = (first + rest).decode()
    assert (follower.returncode, err.decode()) == (0, ""), err.decode()
    assert out.endswith("\n"), out
    lines = out.splitlines()
    shown = [next((task for task, line in expected.items() if line.fullmatch(text)), text) for text in lines]
    assert set(shown) <= set(expected) and len(shown) == len(set(shown)) >= 1, lines


def test_tail_on_a_terminal_says_how_to_stop_and_sigterm_ends_it(mesh: Mesh, finished: dict[str, str]) -> None:
    """Following from the end with nothing new: stdout stays empty; stderr, a terminal here, has the one
    hint line; SIGTERM (like Ctrl-C) ends the follow with status 0."""
    terminal, side = pty.openpty()
    try:
        with subprocess.Popen(
            [*CLI, "tail", "task-requests", "--topic-prefix", mesh.prefix],
            env=mesh.env,
            stdout=subprocess.PIPE,
            stderr=side,
        ) as follower:
            os.close(side)
            side = -1
            hint = read_until(terminal, b"\n")
            follower.send_signal(signal.SIGTERM)
            out, _ = follower.communicate(timeout=60)
        assert (follower.returncode, out) == (0, b"")
        assert hint == f"following {mesh.prefix}task-requests from the end; Ctrl-C to stop\r\n".encode()
        with contextlib.suppress(OSError):  # EIO once the terminal's other side is closed
            assert os.read(terminal, 65536) == b""
    finally:
        os.close(terminal)
        if side >= 0:
            os.close(side)


@pytest.fixture(scope="module")
def session_id(mesh: Mesh) -> str:
    """A completed session of the demo workflow ``brief`` (summarise, translate) run by a coordinator process
    on the mesh's executor."""
    coordinator = subprocess.Popen(
        [*CLI, "agent", "coordinator", "--id", "coordinator-1", "--topic-prefix", mesh.prefix, "--http-port", "-1",
         "--start", "brief", "--agents", "executor-1",
         "--param", "text=The third quarter report shows growth in every region"],
        env=mesh.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert coordinator.stdout is not None
        said = [coordinator.stdout.readline() for _ in range(3)]
    finally:
        coordinator.send_signal(signal.SIGTERM)
        coordinator.communicate(timeout=60)
    assert said[0].startswith("READY coordinator coordinator-1 "), said
    started, done = said[1].split(), said[2].split()
    assert started[0] == "SESSION" and started[2] == "brief" and done == ["DONE", started[1], "COMPLETED"], said
    return started[1]


@pytest.fixture(scope="module")
def dead_letter(mesh: Mesh, endpoints: Endpoints) -> None:
    """A record that is no event, on task-responses: the executor dead-letters it to a2a.dlq."""
    producer = Producer({"bootstrap.servers": endpoints.kafka, "log_level": 3})
    producer.produce(f"{mesh.prefix}task-responses", key=b"not-a-task", value=b"no event at all")
    assert producer.flush(30) == 0
    waited = mesh.run("tail", "a2a.dlq", "--from-beginning", "--max", "1", "--timeout", "60").stdout
    assert waited.count("\n") == 1, "the dead letter did not arrive"


def tail_all(mesh: Mesh, short_name: str, *options: str) -> list[str]:
    """Every record of a topic as ``tail`` prints it: as many lines as the topic holds."""
    records = {row["name"]: row["records"] for row in map(json.loads, mesh.run("topics", "--json").stdout.splitlines())}
    count = records[resolve_topic(short_name, TopicNames(mesh.prefix))]
    assert count > 0, f"nothing on {short_name}"
    lines = mesh.run("tail", short_name, "--from-beginning", "--max", str(count), "--timeout", "60", *options)
    assert lines.stderr == ""
    assert lines.stdout.endswith("\n") and lines.stdout.count("\n") == count, lines.stdout
    return lines.stdout.splitlines()


def test_readme_lists_the_short_topic_names_tail_takes() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    listed = re.search(r"`tail` takes the topic's short name\s+\(([^)]*)\)", readme)
    assert listed is not None
    assert re.findall(r"`([^`]+)`", listed.group(1)) == list(SHORT_NAMES)


SHORT_NAMES = ("task-requests", "task-responses", "negotiations", "collaborations", "a2a.dlq")


@pytest.mark.parametrize("short_name", SHORT_NAMES)
def test_tail_reads_every_short_name(
    mesh: Mesh, finished: dict[str, str], session_id: str, dead_letter: None, short_name: str
) -> None:
    names = TopicNames(mesh.prefix)
    where = rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z {re.escape(resolve_topic(short_name, names))}\[[0-2]\]@\d+ "
    tasks = "|".join(task_id[:12] for task_id in (finished["completed"], finished["rejected"]))
    agent = r"(?:cli-[0-9a-f]{8}|provider-1|executor-1)"
    undecodable = r"key=not-a-task undecodable: .+"
    patterns = {
        "task-requests": [rf"a2a\.task\.request task=(?:{tasks}) cli-[0-9a-f]{{8}} REQUESTED \d+\.\d\d: \w+: .+"],
        "task-responses": [
            rf"a2a\.task\.response task=(?:{tasks}) {agent} (?:NEGOTIATING|ACCEPTED|REJECTED|RUNNING|COMPLETED)\b.*",
            undecodable,
        ],
        "negotiations": [rf"a2a\.negotiation task=(?:{tasks}) cli-[0-9a-f]{{8}} (?:COUNTER|ACCEPT|REJECT)\b.*"],
        "collaborations": [
            rf"a2a\.collaboration\.session session={session_id[:12]} coordinator-1 STARTED brief: steps summary,"
            r" translation; agents executor-1",
            rf"a2a\.collaboration\.session session={session_id[:12]} coordinator-1 COMPLETED brief: \{{.*\}}",
            rf"a2a\.collaboration\.step\.request session={session_id[:12]} coordinator-1 REQUESTED step [12]"
            r" (?:summary \(summarize\)|translation \(translate\)) attempt 1 -> executor-1",
            rf"a2a\.collaboration\.step\.result session={session_id[:12]} executor-1 COMPLETED step [12]"
            r" (?:summary|translation) attempt 1: \{.*\}",
        ],
        "a2a.dlq": [
            rf"{undecodable}  \[dead letter from {re.escape(names.responses)}\[[0-2]\]@\d+, \w+: .+\]",
        ],
    }[short_name]
    lines = tail_all(mesh, short_name)
    kinds = [next((i for i, p in enumerate(patterns) if re.fullmatch(where + p, line)), None) for line in lines]
    assert None not in kinds, [line for line, kind in zip(lines, kinds, strict=True) if kind is None]
    assert set(kinds) == set(range(len(patterns))), f"not every kind of line of {short_name} is there: {lines}"

    events = [json.loads(line) for line in tail_all(mesh, short_name, "--json")]
    for event in events:
        assert event["topic"] == resolve_topic(short_name, names)
        if "error" in event:
            assert event["key"] == "not-a-task" and ("dead_letter" in event) == (short_name == "a2a.dlq"), event
            continue
        subject = "session_id" if short_name == "collaborations" else "task_id"
        assert event[subject] == event["data"]["task_id"], event
        assert any(line.endswith(f" {event['summary']}") for line in lines), event
    if short_name == "collaborations":
        assert {event["session_id"] for event in events} == {session_id}
        assert [e["event"] for e in events if e["type"] == "a2a.collaboration.session"] == ["STARTED", "COMPLETED"]
    if short_name == "a2a.dlq":
        [letter] = events
        assert letter["dead_letter"]["dlq.original.topic"] == names.responses, letter


def run_into_closed_pipe(mesh: Mesh, *args: str, prefix: str | None = None) -> subprocess.CompletedProcess[str]:
    """Runs a command whose stdout's reader has gone before it writes anything (`| head` at its earliest)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [*CLI, *args, "--topic-prefix", mesh.prefix if prefix is None else prefix],
            env=mesh.env,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)


@pytest.mark.parametrize(
    "command",
    [("tasks",), ("agents",), ("topics",), ("replay", "--json"), ("tail", "task-requests", "--from-beginning")],
    ids=["tasks", "agents", "topics", "replay", "tail"],
)
def test_a_reader_gone_away_ends_a_command_quietly(mesh: Mesh, finished: dict[str, str], command: tuple[str]) -> None:
    done = run_into_closed_pipe(mesh, *command)
    assert (done.returncode, done.stderr) == (141, "")


def test_a_reader_gone_away_ends_a_waiting_request_quietly(mesh: Mesh, endpoints: Endpoints) -> None:
    """The request's lines are printed while its requester runs on the event loop: a closed stdout ends the
    command (its requester stopped in order), and is no error of the requester's message handling."""
    elsewhere = f"t-{uuid.uuid4().hex[:10]}."
    try:
        done = run_into_closed_pipe(
            mesh, "request", "Nobody answers", "--capability", "summarize", "--wait", "--max-wait", "60",
            prefix=elsewhere,
        )  # fmt: skip
        assert (done.returncode, done.stderr) == (141, "")
    finally:
        admin = AdminClient({"bootstrap.servers": endpoints.kafka})
        created = [name for name in admin.list_topics(timeout=15).topics if name.startswith(elsewhere)]
        for future in (admin.delete_topics(created, operation_timeout=10) if created else {}).values():
            with contextlib.suppress(Exception):
                future.result(15)
