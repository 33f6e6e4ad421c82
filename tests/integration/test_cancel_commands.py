"""Cancelling from the operator's surfaces: ``a2a-fast cancel`` as a process against agent processes, and the MCP
server's ``cancel_task`` tool as a client sees it."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from mcp import types
from mcp.client.session import ClientSession

from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.agents.tasks import TaskContext
from a2a_fast.stack import Endpoints
from tests.integration import test_agents
from tests.integration.test_control_cli import Mesh, mesh
from tests.integration.test_mcp import call, call_error, mcp_session

__all__ = ["mesh"]


def test_cancel_stops_a_running_task_and_refuses_a_finished_or_unknown_one(mesh: Mesh) -> None:
    # Builtin handlers wait work_ms: this one would run a minute.
    asked = mesh.run("request", "Analyze the export", "--capability", "analyze", "--cost", "90",
                     "--param", "work_ms=60000", "--json")  # fmt: skip
    task_id = json.loads(asked.stdout.splitlines()[0])["task_id"]

    done = mesh.run("cancel", task_id[:12], "--reason", "no longer needed")
    lines = done.stdout.splitlines()
    first = re.fullmatch(rf"task {task_id} cancel asked by (cli-[0-9a-f]{{8}}) \(it was (ACCEPTED|RUNNING)\)", lines[0])
    assert first, lines
    canceller = first.group(1)
    assert re.fullmatch(rf"\[ *[0-9.]+s\] {canceller} CANCELING -> cli-[0-9a-f]{{8}}: no longer needed", lines[1])
    assert re.fullmatch(
        rf"\[ *[0-9.]+s\] executor-1 CANCELED 90\.00 -> cli-[0-9a-f]{{8}}: canceled by {canceller}: no longer needed",
        lines[2],
    ), lines
    assert lines[3:] == [f"task {task_id} CANCELED: canceled by {canceller}: no longer needed"]

    listed = [json.loads(line) for line in mesh.run("tasks", "--state", "CANCELED", "--json").stdout.splitlines()]
    assert [(task["task_id"], task["executor"], task["canceled_by"]) for task in listed] == [
        (task_id, "executor-1", canceller)
    ]
    shown = mesh.run("replay", "--task", task_id).stdout.splitlines()
    assert shown[0] == f"task {task_id} as of now: CANCELED"
    assert f"  outcome: CANCELED canceled by {canceller}: no longer needed" in shown
    assert [line.split()[2] for line in shown if line.startswith("  20")][-2:] == ["CANCELING", "CANCELED"]

    again = mesh.run("cancel", task_id, "--json", check=False)
    assert again.returncode == 1 and again.stdout == ""
    assert f"a2a-fast: task {task_id} is already CANCELED: canceled by {canceller}" in again.stderr

    completed = mesh.run("request", "Classify it", "--capability", "classify", "--cost", "40", "--wait", "--json")
    completed_id = json.loads(completed.stdout.splitlines()[0])["task_id"]
    late = mesh.run("cancel", completed_id, check=False)
    assert late.returncode == 1 and f"task {completed_id} is already COMPLETED" in late.stderr

    unknown = mesh.run("cancel", "no-such-task", check=False)
    assert unknown.returncode == 1 and unknown.stderr.strip() == "a2a-fast: task 'no-such-task' is not in the log"
    bad = mesh.run("cancel", task_id, "--max-wait", "0", check=False)
    assert bad.returncode == 2 and "'0' is not a time > 0" in bad.stderr


def test_mcp_cancel_task_ends_its_own_and_others_tasks_and_names_what_it_cannot_cancel(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    release = asyncio.Event()
    saw: list[str] = []

    async def held(task: TaskContext) -> str:
        try:
            await release.wait()
        except asyncio.CancelledError:
            saw.append(task.task_id)
            raise
        return "released"

    async def running(session: ClientSession, task_id: str) -> None:
        for _ in range(600):
            found = await session.call_tool("get_task", {"task_id": task_id}, read_timeout_seconds=60)
            assert isinstance(found, types.CallToolResult)
            if not found.is_error and (found.structured_content or {}).get("state") == "RUNNING":
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"task {task_id} never ran")

    async def scenario(fresh: test_agents.Mesh) -> None:
        requester = Requester(fresh.config("requester-1"))
        async with (
            Provider(fresh.config("provider-1"), test_agents.SKILLS),
            Executor(fresh.config("executor-1"), {"analyze": held}),
            requester,
            mcp_session(fresh, tmp_path / "mcp.err") as session,
        ):
            own = (await call(session, "request_task", description="Analyze", capability="analyze", cost=80))["task_id"]
            others = await requester.submit("Analyze theirs", 80.0, capability="analyze")
            await running(session, own)
            await running(session, others)

            ended = await call(session, "cancel_task", task_id=own, reason="from the assistant")
            assert (ended["state"], ended["final"], ended["executor"]) == ("CANCELED", True, "executor-1"), ended
            assert ended["error"] == "canceled by mcp-test: from the assistant"
            theirs = await call(session, "cancel_task", task_id=others[:12], wait=False)
            assert theirs == {"task_id": others, "state": "CANCELING", "final": False}
            outcome = await asyncio.wait_for(requester.outcome(others), 60)
            assert (outcome.status, outcome.error) == ("CANCELED", "canceled by mcp-test"), outcome
            assert sorted(saw) == sorted([own, others])

            refused = await call_error(session, "cancel_task", task_id=own)
            assert f"task {own} is already CANCELED" in refused, refused
            unknown = await call_error(session, "cancel_task", task_id="no-such-task")
            assert "task 'no-such-task' is not in the log" in unknown, unknown
            listed = await call(session, "list_tasks", state=["CANCELED"])
            assert {task["task_id"] for task in listed["tasks"]} == {own, others}

    with test_agents.fresh_mesh(endpoints) as fresh:
        test_agents.run_strict(lambda: scenario(fresh))
