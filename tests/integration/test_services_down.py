"""The commands as a person runs them while the broker or the registry is down: one line naming the setting and
the address (never a password), an exit status, within seconds; agents wait and start once the service is up."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from a2a_fast.stack import Endpoints
from a2a_fast.stack.services import KafkaBroker, SchemaRegistry, free_ports

log = logging.getLogger(__name__)

CLI = [sys.executable, "-m", "a2a_fast.cli"]

COMMANDS = {
    "tasks": ["tasks"],
    "agents": ["agents"],
    "tail": ["tail", "task-requests", "--timeout", "30"],
    "topics": ["topics"],
    "replay": ["replay"],
    "console": ["console", "--port", "0"],
    "request": ["request", "summarise this", "--wait", "--max-wait", "30"],
    "mcp": ["mcp"],
    "demo": ["demo", "--tasks", "1"],
}


@pytest.mark.parametrize("down", ["broker", "registry"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_command_whose_service_is_down_says_so_in_one_line(
    command: str, down: str, endpoints: Endpoints, tmp_path: Path
) -> None:
    port = free_ports()
    env = {**os.environ, "KAFKA_BROKER": endpoints.kafka, "SCHEMA_REGISTRY_URL": endpoints.schema_registry}
    if down == "broker":
        address = setting_value = f"127.0.0.1:{port}"
        env["KAFKA_BROKER"] = setting_value
        expected = f"a2a-fast: cannot reach Kafka at {address} (KAFKA_BROKER): "
    else:
        setting_value = f"http://operator:hunter2@127.0.0.1:{port}/apis/ccompat/v7"
        env["SCHEMA_REGISTRY_URL"] = setting_value
        # the URL's credentials become the registry client's basic auth: the address shown carries none
        address = f"http://127.0.0.1:{port}/apis/ccompat/v7"
        expected = f"a2a-fast: cannot reach the schema registry at {address} (SCHEMA_REGISTRY_URL): "
    started = time.monotonic()
    done = subprocess.run(
        [*CLI, *COMMANDS[command], "--topic-prefix", f"down-{uuid.uuid4().hex[:8]}."],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - started
    log.info("%s with the %s down: exit %d after %.2fs: %s", command, down, done.returncode, elapsed, done.stderr)
    assert "hunter2" not in done.stderr + done.stdout
    if command == "topics" and down == "registry":
        # Listing topics needs no registry.
        assert (done.returncode, done.stderr) == (0, "")
        return
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(expected), done.stderr
    assert "Connection refused" in done.stderr
    assert elapsed < 10  # a generous bound: it takes about a second


def wait_for_lines(path: Path, pattern: str, count: int, within: float) -> list[str]:
    """The lines of ``path`` matching ``pattern`` once there are ``count`` of them; fails after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        found = [line for line in path.read_text().splitlines() if re.search(pattern, line)]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, (
            f"not {count} lines matching {pattern!r} within {within}s:\n{path.read_text()}"
        )
        time.sleep(0.1)


def run_until_ready(
    env: dict[str, str], logs: Path, bring_up: Callable[[], object], wanted: str, prefix: str
) -> list[str]:
    """Runs an executor while a service is down, checks it waits saying ``wanted`` per attempt, calls
    ``bring_up`` and waits for READY; returns its log lines up to then. Stops the agent with SIGTERM."""
    out, err = logs / "stdout", logs / "stderr"
    command = [*CLI, "agent", "executor", "--id", "executor-w", "--http-port", "-1", "--topic-prefix", prefix]
    with out.open("w") as stdout, err.open("w") as stderr:
        agent = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr, text=True)
    try:
        waits = wait_for_lines(err, "trying again", 2, within=20)
        assert all(wanted in line for line in waits), waits
        assert agent.poll() is None, "the agent gave up"
        started = time.monotonic()
        bring_up()
        wait_for_lines(out, r"^READY executor executor-w", 1, within=40)
        log.info("READY %.1fs after the service came up", time.monotonic() - started)
        lines = err.read_text().splitlines()
        log.info("the agent's log until READY:\n%s", "\n".join(lines))
    finally:
        agent.send_signal(signal.SIGTERM)
        status = agent.wait(30)
    assert status == 0, err.read_text()
    return lines


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_an_agent_waits_for_a_broker_that_is_down_and_starts_once_it_is_up(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    port = free_ports()
    env = {**os.environ, "KAFKA_BROKER": f"127.0.0.1:{port}", "SCHEMA_REGISTRY_URL": endpoints.schema_registry}
    broker = KafkaBroker(tmp_path / "state", port=port, controller_port=free_ports())
    try:
        lines = run_until_ready(
            env,
            tmp_path,
            broker.start,
            f"executor-w: cannot reach Kafka at 127.0.0.1:{port} (KAFKA_BROKER): ",
            "down.",  # on a broker of its own, gone with the test
        )
    finally:
        broker.stop()
    # Before it was up: a warning per attempt, then one line saying it is, nothing else.
    waiting = [line for line in lines if "trying again" in line]
    assert lines[: len(waiting)] == waiting
    assert "the broker and the registry answer, after" in lines[len(waiting)]
    assert not any("Traceback" in line for line in lines)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_an_agent_waits_for_a_registry_that_is_down_and_starts_once_it_is_up(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    registry = SchemaRegistry(tmp_path / "state", free_ports())
    env = {
        **os.environ,
        "KAFKA_BROKER": endpoints.kafka,
        "SCHEMA_REGISTRY_URL": registry.address.replace("http://", "http://operator:hunter2@"),
    }
    shown = registry.address
    prefix = f"down-{uuid.uuid4().hex[:8]}."
    try:
        lines = run_until_ready(
            env,
            tmp_path,
            registry.start,
            f"cannot reach the schema registry at {shown} (SCHEMA_REGISTRY_URL): ",
            prefix,
        )
    finally:
        registry.stop()
        admin = AdminClient({"bootstrap.servers": endpoints.kafka})
        mine = [topic for topic in admin.list_topics(timeout=10).topics if topic.startswith(prefix)]
        for future in admin.delete_topics(mine, operation_timeout=10).values() if mine else ():
            with contextlib.suppress(Exception):
                future.result(15)
    assert not any("hunter2" in line or "Traceback" in line for line in lines)
