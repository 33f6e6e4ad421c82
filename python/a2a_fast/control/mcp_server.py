"""``a2a-fast mcp``: the control plane as a Model Context Protocol server over stdio.

The server is a Kafka client of the mesh like any agent: it runs a :class:`~a2a_fast.agents.requester.Requester`
(to submit tasks and negotiate them within their budget), a :class:`~a2a_fast.history.view.MeshView` of the task
topics (to answer what the log says), the mesh's :class:`~a2a_fast.mesh.directory.AgentDirectory` (who is
registered and alive) and a :class:`~a2a_fast.workflows.sessions.Coordinator` (to run collaboration workflows).
It answers about every task in its topic namespace, not only those it submitted.

Tools: ``request_task`` (optionally waiting for the outcome), ``wait_for_task``, ``cancel_task`` (any task of
the namespace: this server's own through its requester, others' as :class:`~a2a_fast.agents.cancel.Canceller`
does for ``a2a-fast cancel``), ``get_task`` (a task's state and full timeline), ``list_tasks``,
``get_execution_queue`` (tasks accepted or running, by executor), ``get_agent_status``, ``list_workflows``,
``register_workflow``, ``start_workflow``, ``get_collaboration_status``. Resources: ``a2a://agents``, ``a2a://tasks``, ``a2a://tasks/{task_id}``.
``a2a-fast mcp`` offers the demo workflows, as a coordinator does, or those of ``--workflows`` (read by
:func:`a2a_fast.workflows.definitions.load_workflows`).

Arguments are validated against each tool's input schema; a bad one, an unknown task id, state, workflow or
session comes back as a tool error naming what is wrong. stdout carries the protocol only: logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from pydantic import Field

from a2a_fast.agents.base import AgentConfig
from a2a_fast.agents.builtin import DEMO_WORKFLOWS
from a2a_fast.agents.cancel import Canceller
from a2a_fast.agents.coordinator import Coordinator
from a2a_fast.agents.policies import BudgetPolicy
from a2a_fast.agents.requester import Requester
from a2a_fast.errors import A2AError
from a2a_fast.history.tasks import DEFAULT_RETAINED_TASKS, TaskHistory
from a2a_fast.history.view import MeshView, agent_rows
from a2a_fast.mesh.directory import AgentDirectory
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints
from a2a_fast.transport.kafka import KafkaTransport
from a2a_fast.workflows.definitions import WorkflowDefinition, load_workflows

__all__ = ["ControlPlane", "build_server", "run"]

log = logging.getLogger("a2a_fast.mcp")

TaskId = Annotated[str, Field(min_length=1, max_length=200, description="A task id, as request_task returned it.")]
MaxWait = Annotated[float, Field(gt=0, le=3600, description="Seconds to wait at most.")]


def task_summary(task: TaskHistory) -> dict[str, Any]:
    """The state of a task without its timeline."""
    return task.to_dict(timeline=False)


class ControlPlane:
    """What the MCP tools act on: a requester and a live view of the task topics of one namespace."""

    def __init__(
        self,
        endpoints: Endpoints,
        topics: TopicNames,
        agent_id: str | None = None,
        workflows: Iterable[WorkflowDefinition] = (),
        retained_tasks: int = DEFAULT_RETAINED_TASKS,
    ) -> None:
        self.endpoints = endpoints
        self.topics = topics
        # The tools that write act as one agent of the mesh: the credentials of this process, and its signing key,
        # which names the agent unless agent_id does.
        transport = KafkaTransport.from_env(endpoints.kafka, endpoints.schema_registry)
        identity = transport.signing.identity if transport.signing is not None else None
        agent_id = agent_id or (identity.agent if identity is not None else f"mcp-{uuid.uuid4().hex[:8]}")
        config = AgentConfig(agent_id, endpoints.kafka, endpoints.schema_registry, transport=transport)
        config.topics = topics
        self.agent_id = config.agent_id
        self.requester = Requester(config, BudgetPolicy())
        self.view = MeshView(transport, endpoints.schema_registry, topics, retained_tasks)
        self.directory = AgentDirectory(transport, topics.agents)
        # Same id as the requester, so a restarted server resumes the sessions it coordinated; the requester
        # alone stands for this server in the mesh directory (one id, one member).
        self.coordinator = Coordinator(
            dataclasses.replace(config, join_mesh=False), locator=self.directory, workflows=workflows
        )
        self.canceller = Canceller(self.requester, self.view)

    async def start(self) -> None:
        started: list[Any] = []
        try:
            for part in (self.directory, self.requester, self.coordinator, self.view):
                await part.start()
                started.append(part)
        except BaseException:
            for part in reversed(started):
                await part.stop()
            raise

    async def stop(self) -> None:
        for part in (self.view, self.coordinator, self.requester, self.directory):
            await part.stop()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ControlPlane]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    def task(self, task_id: str) -> TaskHistory:
        task = self.view.log.get(task_id)
        if task is None:
            raise ToolError(f"task {task_id!r} is not in the log ({self.topics.prefix}task-* topics)")
        return task

    def known(self, task_id: str) -> bool:
        own = {pending.task_id for pending in self.requester.get_pending_requests()}
        return task_id in own or self.view.log.get(task_id) is not None

    async def cancel(self, wanted: str, reason: str | None) -> str:
        """Asks for the cancel of a task (an id, or a prefix only it has) and returns its id: through this
        server's requester when the task is its own and open, else from the log."""
        own = {pending.task_id for pending in self.requester.get_pending_requests()}
        try:
            if wanted in own:
                await self.requester.cancel(wanted, reason)
                return wanted
            return (await self.canceller.cancel(wanted, reason)).task_id
        except A2AError as error:
            raise ToolError(str(error)) from error
        except TimeoutError:
            raise ToolError(f"the cancel of task {wanted!r} was sent, but the log did not show it in time") from None

    async def wait(self, task_id: str, max_wait: float, ctx: Context[Any, Any] | None) -> dict[str, Any]:
        if not self.known(task_id):
            self.task(task_id)  # raises, naming the topics searched

        async def report(task: TaskHistory) -> None:
            if ctx is not None:
                last = task.timeline[-1] if task.timeline else None
                await ctx.report_progress(len(task.timeline), None, last.describe() if last else task.state)

        try:
            task = await asyncio.wait_for(self.view.wait_for(task_id, lambda t: t.final, report), max_wait)
        except TimeoutError:
            current = self.view.log.get(task_id)
            state = current.state if current is not None else "PENDING"
            return {"task_id": task_id, "state": state, "final": False, "timed_out": True, "waited_seconds": max_wait}
        return {**task_summary(task), "final": True, "timed_out": False}

    def agents(self, agent_id: str | None = None) -> list[dict[str, Any]]:
        """Agents from the mesh directory and from the log (see :func:`a2a_fast.history.view.agent_rows`)."""
        rows = agent_rows(self.directory.get_all_agents(), self.view.log.activity())
        if agent_id is None:
            return rows
        found = [row for row in rows if row["agent_id"] == agent_id]
        if not found:
            raise ToolError(
                f"agent {agent_id!r} is not known: not in the directory {self.topics.agents} and no message from"
                f" it on the {self.topics.prefix}task-* topics"
            )
        return found


def build_server(plane: ControlPlane) -> MCPServer[Any]:
    """The MCP server with its tools and resources bound to ``plane``; starting it starts the plane."""

    @contextlib.asynccontextmanager
    async def lifespan(_server: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
        async with plane.running():
            log.info("control plane ready on %s* as %s", plane.topics.prefix, plane.requester.agent_id)
            yield {}

    server: MCPServer[Any] = MCPServer(
        "a2a-fast",
        instructions=(
            "Control plane of an a2a_fast agent mesh over Kafka. Submit tasks with request_task, follow them with "
            "wait_for_task or get_task, cancel them with cancel_task, see the executors' queues and the agents."
        ),
        lifespan=lifespan,
        log_level="WARNING",
    )

    @server.tool()
    async def request_task(
        description: Annotated[str, Field(min_length=1, description="What to do, in words.")],
        capability: Annotated[str, Field(min_length=1, description="The skill a provider must have.")],
        ctx: Context[Any, Any],
        cost: Annotated[float | None, Field(ge=0, description="The price offered.")] = None,
        budget: Annotated[
            float | None,
            Field(ge=0, description="The most to pay (default: the cost; with no cost either, the provider's price)."),
        ] = None,
        priority: Annotated[int, Field(ge=0, le=2, description="0 low, 1 normal, 2 high.")] = 1,
        parameters: Annotated[dict[str, str] | None, Field(description="Inputs for the executor.")] = None,
        wait: Annotated[bool, Field(description="Return only once the task is final (or max_wait passes).")] = False,
        max_wait: MaxWait = 60.0,
    ) -> dict[str, Any]:
        """Submits a task to the mesh; returns its id, and with wait=true its outcome."""
        try:
            task_id = await plane.requester.submit(
                description, cost, capability=capability, priority=priority, parameters=parameters, budget=budget
            )
        except A2AError as error:
            raise ToolError(f"request refused: {error}") from error
        if not wait:
            return {"task_id": task_id, "state": "PENDING"}
        return await plane.wait(task_id, max_wait, ctx)

    @server.tool()
    async def wait_for_task(task_id: TaskId, ctx: Context[Any, Any], max_wait: MaxWait = 60.0) -> dict[str, Any]:
        """Waits until the task is COMPLETED, FAILED, REJECTED or CANCELED (or max_wait passes); returns its state."""
        return await plane.wait(task_id, max_wait, ctx)

    @server.tool()
    async def cancel_task(
        task_id: TaskId,
        ctx: Context[Any, Any],
        reason: Annotated[
            str | None, Field(max_length=2000, description="Why, in words; the log keeps it with the cancel.")
        ] = None,
        wait: Annotated[bool, Field(description="Return only once the task has ended (or max_wait passes).")] = True,
        max_wait: MaxWait = 60.0,
    ) -> dict[str, Any]:
        """Cancels a task: one still negotiating or accepted but not started never starts, a running one is
        stopped. Returns its state once it ended: CANCELED, or the state it reached before the cancel took effect."""
        found = await plane.cancel(task_id, reason)
        if not wait:
            return {"task_id": found, "state": "CANCELING", "final": False}
        return await plane.wait(found, max_wait, ctx)

    @server.tool()
    def get_task(task_id: TaskId) -> dict[str, Any]:
        """One task's state and full timeline: the request, each offer and counter-offer, execution, outcome."""
        return plane.task(task_id).to_dict()

    @server.tool()
    def list_tasks(
        state: Annotated[list[str] | None, Field(description="Only tasks in these states, e.g. ['RUNNING'].")] = None,
        limit: Annotated[int, Field(ge=1, le=10_000)] = 100,
    ) -> dict[str, Any]:
        """Tasks in the log (newest last), optionally only some states; counts of every state."""
        try:
            tasks = plane.view.log.select(state or ())
        except A2AError as error:
            raise ToolError(str(error)) from error
        return {"counts": plane.view.log.counts(), "tasks": [task_summary(task) for task in tasks[-limit:]]}

    @server.tool()
    def get_execution_queue(
        executor_id: Annotated[str | None, Field(description="Only this executor's queue.")] = None,
    ) -> dict[str, Any]:
        """Tasks accepted or running, by executor; accepted tasks no executor has started yet are under ''."""
        queue = plane.view.log.execution_queue()
        if executor_id is not None:
            queue = {executor_id: queue.get(executor_id, [])}
        return {name: [task_summary(task) for task in tasks] for name, tasks in queue.items()}

    @server.tool()
    def get_agent_status(
        agent_id: Annotated[str | None, Field(description="One agent; all when left out.")] = None,
    ) -> dict[str, Any]:
        """The agents of the mesh and what they are doing."""
        return {"agents": plane.agents(agent_id)}

    @server.tool()
    def list_workflows() -> dict[str, Any]:
        """The workflows this server can start, with their steps."""
        return {"workflows": [definition.to_dict() for definition in plane.coordinator.list_workflows()]}

    @server.tool()
    def register_workflow(
        workflow: Annotated[
            dict[str, Any],
            Field(
                description="{id, name, description, steps: [{name, capabilities: [...], params, timeout, retries}]}"
            ),
        ],
    ) -> dict[str, Any]:
        """Registers (or replaces) a workflow definition so start_workflow can run it."""
        try:
            definition = WorkflowDefinition.from_dict(workflow)
            plane.coordinator.register_workflow(definition)
        except A2AError as error:
            raise ToolError(str(error)) from error
        return definition.to_dict()

    @server.tool()
    async def start_workflow(
        workflow_id: Annotated[str, Field(min_length=1)],
        ctx: Context[Any, Any],
        agent_ids: Annotated[list[str] | None, Field(description="Only these agents run steps.")] = None,
        params: Annotated[dict[str, str] | None, Field(description="Parameters for every step.")] = None,
        timeout_seconds: Annotated[float | None, Field(gt=0, description="The session's deadline.")] = None,
        wait: Annotated[bool, Field(description="Return only once the session has ended.")] = False,
    ) -> dict[str, Any]:
        """Starts a collaboration session of a registered workflow; returns its session id and status."""
        try:
            session_id = await plane.coordinator.start_collaboration(
                workflow_id, agent_ids, params, timeout_seconds=timeout_seconds
            )
            if wait:
                await ctx.report_progress(0, None, f"session {session_id} started")
                return (await plane.coordinator.wait_for(session_id)).to_dict()
            return plane.coordinator.get_collaboration_status(session_id).to_dict()
        except A2AError as error:
            raise ToolError(str(error)) from error

    @server.tool()
    def get_collaboration_status(session_id: Annotated[str, Field(min_length=1)]) -> dict[str, Any]:
        """A collaboration session's state and each step's: agent, attempts, output or error."""
        try:
            return plane.coordinator.get_collaboration_status(session_id).to_dict()
        except A2AError as error:
            raise ToolError(str(error)) from error

    @server.resource("a2a://agents", mime_type="application/json", description="Agents of the mesh.")
    def agents_resource() -> str:
        return json.dumps(plane.agents(), default=str)

    @server.resource("a2a://tasks", mime_type="application/json", description="Every task's current state.")
    def tasks_resource() -> str:
        return json.dumps([task_summary(task) for task in plane.view.log.select()], default=str)

    @server.resource("a2a://tasks/{task_id}", mime_type="application/json", description="One task's history.")
    def task_resource(task_id: str) -> str:
        task = plane.view.log.get(task_id)
        if task is None:
            raise ResourceNotFoundError(f"task {task_id!r} is not in the log")
        return json.dumps(task.to_dict(), default=str)

    return server


def run(args: argparse.Namespace) -> int:
    """Serves MCP on stdin/stdout until the client closes stdin."""
    import uvloop

    from a2a_fast.observability.logs import configure_logging

    workflows = load_workflows(args.workflows) if args.workflows else list(DEMO_WORKFLOWS)
    # Before the protocol starts: a service that is down is then one line and an exit, not a failed session.
    endpoints = Endpoints.from_env().check_reachable()
    plane = ControlPlane(endpoints, TopicNames(args.topic_prefix), args.agent_id, workflows, args.retained_tasks)
    configure_logging(json=args.log_json, level=args.log_level.upper(), defaults={"agent_id": plane.agent_id})
    uvloop.run(build_server(plane).run_stdio_async())
    return 0
