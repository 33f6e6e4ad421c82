"""Agents as processes of their own: executors running the slow handler below, one of them killed with SIGKILL
mid-task, and processes stopped as an operator stops them.

Every finished handler run leaves a file named after its task in ``$A2A_TEST_EFFECTS``, so runs can be counted
across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from a2a_fast.agents.requester import PendingRequest, Requester, TaskOutcome
from a2a_fast.agents.tasks import TaskContext
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.stack import Endpoints
from bench.processes import stop
from tests.conftest import REPO

if TYPE_CHECKING:
    from tests.integration.test_agents import Mesh

__all__ = ["HANDLERS", "executor_processes", "kill_the_first_to_run", "start_executor"]


async def slow_work(task: TaskContext) -> dict[str, int]:
    await task.progress(0.1, "started the long part")
    await asyncio.sleep(float(task.parameters.get("seconds", "2")))  # the work a SIGKILL interrupts
    effects = Path(os.environ["A2A_TEST_EFFECTS"])
    (effects / f"{task.task_id}.{os.getpid()}.{uuid.uuid4().hex[:6]}").write_text(f"{task.attempt}")
    return {"pid": os.getpid()}


HANDLERS = {"summarize": slow_work}


def start_executor(endpoints: Endpoints, mesh: Mesh, agent_id: str, effects: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KAFKA_BROKER": endpoints.kafka,
        "SCHEMA_REGISTRY_URL": endpoints.schema_registry,
        "A2A_TEST_EFFECTS": str(effects),
    }
    command = [sys.executable, "-m", "a2a_fast.cli", "agent", "executor", "--id", agent_id]
    command += ["--topic-prefix", mesh.topics.prefix, "--http-port", "-1"]
    command += ["--handlers", "tests.integration.processes:HANDLERS"]
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE)


@contextlib.contextmanager
def executor_processes(
    endpoints: Endpoints, mesh: Mesh, names: Iterable[str], effects: Path
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """An executor process per name, each ready (it has partitions) before the block runs; stopped after it."""
    running = {name: start_executor(endpoints, mesh, name, effects) for name in names}
    try:
        for name, process in running.items():
            assert process.stdout is not None
            line = process.stdout.readline().decode()  # printed once the executor has partitions
            assert line.startswith(f"READY executor {name}"), line
        yield running
    finally:
        stop(running.values())


async def kill_the_first_to_run(
    requester: Requester, executors: dict[str, subprocess.Popen[bytes]], patience: float
) -> tuple[list[TaskOutcome], str]:
    """Submits six summarize tasks of 2 s, kills the executor that reports one RUNNING first with SIGKILL and
    waits up to ``patience`` s for every outcome; returns them and the name of the killed executor."""
    first_running: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def watch(_pending: PendingRequest, message: Inbound) -> None:
        if message.record["status"] == "RUNNING" and not first_running.done():
            first_running.set_result(message.source_agent)

    requester.on_update = watch
    ids = [
        await requester.submit(f"task {n}", 150.0, capability="summarize", parameters={"seconds": "2"})
        for n in range(6)
    ]
    victim = await asyncio.wait_for(first_running, 60)
    executors[victim].send_signal(signal.SIGKILL)
    outcomes = await asyncio.wait_for(asyncio.gather(*(requester.outcome(i) for i in ids)), patience)
    return outcomes, victim
