"""The MCP server as a client sees it: the SDK's own ClientSession over stdio, launching ``a2a-fast mcp``,
against real agents on the real broker and registry."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

import a2a_fast
from a2a_fast.agents.builtin import DEMO_WORKFLOWS
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.tasks import TaskContext
from tests.integration.test_agents import HANDLERS, SKILLS, Mesh, mesh, run_strict
from tests.unit.workflows.test_definitions import readme_example

__all__ = ["mesh"]

TOOLS = {
    *("request_task", "wait_for_task", "get_task", "list_tasks", "get_execution_queue", "get_agent_status"),
    *("list_workflows", "register_workflow", "start_workflow", "get_collaboration_status"),
}


def server_env(mesh: Mesh) -> dict[str, str]:
    """The server's environment: the mesh's broker and registry, and this very package on the import path."""
    return {
        "KAFKA_BROKER": mesh.endpoints.kafka,
        "SCHEMA_REGISTRY_URL": mesh.endpoints.schema_registry,
        "PYTHONPATH": str(Path(a2a_fast.__file__).resolve().parents[1]),
    }


@asynccontextmanager
async def mcp_session(mesh: Mesh, errors: Path, *options: str) -> AsyncIterator[ClientSession]:
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "a2a_fast.cli", "mcp", "--topic-prefix", mesh.topics.prefix, "--id", "mcp-test", *options],
        env=server_env(mesh),
    )
    with errors.open("w") as errlog:
        async with stdio_client(server, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            try:
                await session.initialize()
            except Exception as error:
                errlog.flush()
                said = await anyio.Path(errors).read_text()
                raise AssertionError(f"the MCP server did not start ({error}); it said:\n{said}") from error
            yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments, read_timeout_seconds=120)
    assert isinstance(result, types.CallToolResult)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict), result
    return result.structured_content


async def call_error(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments, read_timeout_seconds=60)
    assert isinstance(result, types.CallToolResult)
    assert result.is_error, f"{tool}({arguments}) should have failed: {result}"
    return " ".join(block.text for block in result.content if isinstance(block, types.TextContent))


def test_tools_submit_and_follow_tasks(mesh: Mesh, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            Provider(mesh.config("provider-1"), SKILLS),
            Executor(mesh.config("executor-1"), HANDLERS),
            mcp_session(mesh, tmp_path / "mcp.err") as session,
        ):
            assert {tool.name for tool in (await session.list_tools()).tools} >= TOOLS

            done = await call(
                session, "request_task", description="Summarise the report", capability="summarize", cost=120, wait=True
            )
            assert done["state"] == "COMPLETED" and done["final"], done
            assert (done["provider"], done["executor"], done["agreed_cost"]) == ("provider-1", "executor-1", 120.0)
            assert done["result"] == {"echo": "Summarise the report"}

            submitted = await call(
                session, "request_task", description="Translate it", capability="translate", cost=20, budget=75
            )
            task_id = submitted["task_id"]
            outcome = await call(session, "wait_for_task", task_id=task_id, max_wait=90)
            assert outcome["state"] == "COMPLETED" and outcome["rounds"] >= 1, outcome

            history = await call(session, "get_task", task_id=task_id)
            events = [entry["event"] for entry in history["timeline"]]
            assert events[0] == "REQUESTED" and "COUNTER" in events and events[-1] == "COMPLETED", events
            assert events.index("ACCEPTED") < events.index("RUNNING")
            assert {entry["agent"] for entry in history["timeline"]} == {"mcp-test", "provider-1", "executor-1"}

            listed = await call(session, "list_tasks", state=["COMPLETED"])
            assert {task_id, done["task_id"]} <= {task["task_id"] for task in listed["tasks"]}
            agents = {agent["agent_id"]: agent for agent in (await call(session, "get_agent_status"))["agents"]}
            assert {"provider-1", "executor-1", "mcp-test"} <= set(agents)
            assert agents["provider-1"]["registered"] and agents["provider-1"]["type"] == "provider"
            assert agents["executor-1"]["log"]["roles"] == ["executor"]

            resource = await session.read_resource(f"a2a://tasks/{task_id}")
            block = resource.contents[0]
            assert isinstance(block, types.TextResourceContents)
            assert json.loads(block.text)["state"] == "COMPLETED"
            uris = {str(item.uri) for item in (await session.list_resources()).resources}
            assert {"a2a://agents", "a2a://tasks"} <= uris

    run_strict(scenario)


def test_execution_queue_shows_running_tasks_per_executor(mesh: Mesh, tmp_path: Path) -> None:
    release = asyncio.Event()

    async def held(task: TaskContext) -> str:
        await task.progress(0.25, "waiting for the test")
        await release.wait()
        return "released"

    async def scenario() -> None:
        async with (
            Provider(mesh.config("provider-1"), SKILLS),
            Executor(mesh.config("executor-1"), {"analyze": held}),
            mcp_session(mesh, tmp_path / "mcp.err") as session,
        ):
            submitted = await call(session, "request_task", description="Analyze", capability="analyze", cost=80)
            task_id = submitted["task_id"]
            queue: dict[str, Any] = {}
            for _ in range(600):
                queue = await call(session, "get_execution_queue")
                running = [task for task in queue.get("executor-1", []) if task["state"] == "RUNNING"]
                if running and running[0]["progress"] == 0.25:
                    break
                await asyncio.sleep(0.1)
            assert [task["task_id"] for task in queue["executor-1"]] == [task_id], queue
            release.set()
            outcome = await call(session, "wait_for_task", task_id=task_id, max_wait=60)
            assert outcome["state"] == "COMPLETED", outcome
            assert await call(session, "get_execution_queue", executor_id="executor-1") == {"executor-1": []}

    run_strict(scenario)


def test_bad_arguments_are_errors_that_say_what_is_wrong(mesh: Mesh, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with mcp_session(mesh, tmp_path / "mcp.err") as session:
            text = await call_error(session, "request_task", description="x", capability="summarize", cost=-5)
            assert "cost" in text and "greater than or equal to 0" in text, text
            text = await call_error(session, "request_task", description="x")
            assert "capability" in text and "required" in text.lower(), text
            text = await call_error(session, "request_task", description="x", capability="summarize", priority=7)
            assert "priority" in text, text
            text = await call_error(session, "get_task", task_id="no-such-task")
            assert "no-such-task" in text and "not in the log" in text, text
            text = await call_error(session, "wait_for_task", task_id="no-such-task", max_wait=1)
            assert "no-such-task" in text, text
            text = await call_error(session, "list_tasks", state=["DONE"])
            assert "DONE" in text and "COMPLETED" in text, text
            text = await call_error(session, "get_agent_status", agent_id="ghost")
            assert "ghost" in text, text
            text = await call_error(session, "no_such_tool")
            assert "no_such_tool" in text, text

    run_strict(scenario)


def test_agents_from_the_directory_and_workflows(mesh: Mesh, tmp_path: Path) -> None:
    workflow = {
        "id": "digest",
        "name": "Digest",
        "description": "summarise, then classify the summary",
        "steps": [
            {"name": "summary", "capabilities": ["summarize"]},
            {"name": "labels", "capabilities": ["classify"], "timeout": 30},
        ],
    }

    async def scenario() -> None:
        async with (
            Executor(mesh.config("executor-1"), HANDLERS),
            mcp_session(mesh, tmp_path / "mcp.err") as session,
        ):
            [agent] = (await call(session, "get_agent_status", agent_id="executor-1"))["agents"]
            assert agent["registered"] and agent["alive"] and agent["type"] == "executor", agent
            assert set(agent["capabilities"]) == set(SKILLS)

            # Like a coordinator, the server offers the demo workflows when not given --workflows.
            offered = (await call(session, "list_workflows"))["workflows"]
            assert offered == [definition.to_dict() for definition in DEMO_WORKFLOWS]
            await call(session, "register_workflow", workflow=workflow)
            assert [w["id"] for w in (await call(session, "list_workflows"))["workflows"]] == ["brief", "digest"]

            status = await call(session, "start_workflow", workflow_id="digest", params={"topic": "q3"}, wait=True)
            assert status["state"] == "COMPLETED", status
            assert [step["agent"] for step in status["steps"]] == ["executor-1", "executor-1"]
            again = await call(session, "get_collaboration_status", session_id=status["session_id"])
            assert again["state"] == "COMPLETED" and again["output"] == status["output"]

            text = await call_error(session, "start_workflow", workflow_id="nightly")
            assert "nightly" in text and "digest" in text and "brief" in text, text
            text = await call_error(session, "get_collaboration_status", session_id="no-such-session")
            assert "no-such-session" in text, text
            text = await call_error(session, "register_workflow", workflow={"id": "x", "steps": []})
            assert "step" in text, text

    run_strict(scenario)


def test_workflows_file_replaces_the_demo_workflows(mesh: Mesh, tmp_path: Path) -> None:
    """``--workflows`` takes the file format the README documents (its own example); a bad file is one line
    on stderr and exit status 1, before the protocol starts."""
    flows = tmp_path / "workflows.yaml"
    flows.write_text(readme_example())

    async def scenario() -> None:
        async with mcp_session(mesh, tmp_path / "mcp.err", "--workflows", str(flows)) as session:
            offered = (await call(session, "list_workflows"))["workflows"]
            assert [(w["id"], [s["name"] for s in w["steps"]]) for w in offered] == [("digest", ["summary", "labels"])]

    run_strict(scenario)

    broken = tmp_path / "broken.yaml"
    broken.write_text("- id: x\n  steps: [{name: s, capability: [summarize]}]\n")
    done = subprocess.run(
        [sys.executable, "-m", "a2a_fast.cli", "mcp", "--topic-prefix", mesh.topics.prefix, "--workflows", str(broken)],
        env={**os.environ, **server_env(mesh)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"a2a-fast: --workflows {broken}: workflow 1: workflow 'x': step 1: unknown key(s) " + (
        "'capability' (keys: name, description, capabilities, params, required, timeout, retries)\n"
    )
