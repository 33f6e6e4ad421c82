"""``a2a-fast demo``: requester, providers and executors negotiating and running tasks over Kafka.

What it does:

1. brings the local stack up if needed (or uses ``KAFKA_BROKER`` / ``SCHEMA_REGISTRY_URL``);
2. starts 2 providers and 2 executors, each its own ``a2a-fast agent ...`` process, on a fresh topic
   namespace (so earlier runs and other users of the broker do not interfere);
3. runs a requester in this process that asks for ``--tasks`` tasks of six kinds, cycling:
   accepted at once, negotiated over several rounds, rejected for a missing skill, rejected because the
   price never fits the budget, failing in execution, and canceled by the requester while it runs;
4. meanwhile a coordinator in this process runs the two-step workflow ``brief`` (summarise a text, then
   translate the summary) on the executors it finds alive in the mesh directory, and an A2A agent of the
   SDK (its echo ``AgentExecutor``) runs in the mesh beside ours: the SDK's own client, made by its
   ``ClientFactory`` from the card in the directory, streams one task from it over Kafka;
5. prints each state change as it happens, then a summary: final states, negotiation rounds, p50/p99
   request→completion latency and throughput, the workflow's steps (agent, attempts, state) and
   outcome, and the A2A call's events; checks every task ended as its kind should, the workflow and the
   A2A task completed;
6. stops everything it started (also on Ctrl-C or an error): the requester, then the agent processes
   with SIGTERM (each shuts down in order), and deletes the run's topics.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import signal
import socket
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a2a_fast.agents.base import AgentConfig
from a2a_fast.agents.builtin import DEMO_WORKFLOWS
from a2a_fast.agents.coordinator import Coordinator
from a2a_fast.agents.policies import BudgetPolicy
from a2a_fast.agents.requester import PendingRequest, Requester, TaskOutcome
from a2a_fast.mesh.directory import AgentDirectory
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.redaction import redact
from a2a_fast.stack import Endpoints, LocalStack, ensure_up
from a2a_fast.workflows.sessions import CollaborationStatus

__all__ = ["SCENARIOS", "Scenario", "run"]


@dataclass(frozen=True)
class Scenario:
    """One kind of demo task and the final state it must reach."""

    name: str
    capability: str
    description: str
    proposed: float
    budget: float
    expect: str
    parameters: tuple[tuple[str, str], ...] = ()
    cancel: bool = False
    """The requester cancels the task once it runs."""


# Provider minimum prices (a2a_fast.cli.agents.DEFAULT_SKILLS): summarize 100, translate 60, classify 40,
# analyze 80; opening ask is 1.5 x the minimum and halves the gap each round.
SCENARIOS = (
    Scenario("accepted at once", "summarize", "Summarise the quarterly report for the board", 120, 150, "COMPLETED"),
    Scenario("negotiated", "translate", "Translate the release notes to German", 20, 75, "COMPLETED"),
    Scenario("no such skill", "teleport", "Teleport the warehouse to Lisbon", 500, 500, "REJECTED"),
    Scenario("over budget", "classify", "Classify 500 support tickets", 5, 20, "REJECTED"),
    Scenario(
        "fails in execution", "analyze", "Analyze the corrupt sales export", 90, 100, "FAILED", (("fail", "true"),)
    ),
    Scenario(
        "canceled running",
        "classify",
        "Classify the whole ticket archive",
        50,
        60,
        "CANCELED",
        (("work_ms", "600000"),),
        cancel=True,
    ),
)
CANCEL_REASON = "the demo cancels it while it runs"


def _free(port: int) -> int:
    with socket.socket() as probe:
        return port if probe.connect_ex(("127.0.0.1", port)) != 0 else 0


def _agent_command() -> list[str]:
    script = Path(sys.executable).with_name("a2a-fast")
    return [str(script)] if script.exists() else [sys.executable, "-m", "a2a_fast.cli"]


async def _start_agents(
    endpoints: Endpoints, prefix: str, say: Any, processes: list[asyncio.subprocess.Process]
) -> None:
    """Starts the agent processes, adding each to ``processes`` at once so a cancelled start stops them."""
    env = {**os.environ, "KAFKA_BROKER": endpoints.kafka, "SCHEMA_REGISTRY_URL": endpoints.schema_registry}
    plan = [
        ("provider", "provider-1", 8002),
        ("provider", "provider-2", 8012),
        ("executor", "executor-1", 8003),
        ("executor", "executor-2", 8013),
    ]
    for role, agent_id, port in plan:
        process = await asyncio.create_subprocess_exec(
            *_agent_command(), "agent", role, "--id", agent_id, "--topic-prefix", prefix,
            "--http-port", str(_free(port)),
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        processes.append(process)
    for (role, agent_id, _), process in zip(plan, processes, strict=True):
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode().strip()
        if not line.startswith("READY"):
            raise RuntimeError(f"{role} {agent_id} did not start (exit status {process.returncode})")
        bound = line.rsplit("http=", 1)[-1]
        say(f"  started {role:<8} {agent_id:<11} pid {process.pid:<7} monitoring http://127.0.0.1:{bound}/status")


async def _stop_agents(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def _money(amount: float | None) -> str:
    return "-" if amount is None else f"{amount:.2f}"


def _progress_printer(say: Any, started: float, names: dict[str, str]) -> Any:
    def show(pending: PendingRequest, message: Inbound) -> None:
        record = message.record
        status = record["status"]
        detail = {
            "NEGOTIATING": f"round {record['round']}: {message.source_agent} asks {_money(record['counter_offer'])}"
            f" (our offer {_money(pending.last_offer)})",
            "ACCEPTED": f"by {message.source_agent} at {_money(record['agreed_cost'])} after {record['round']} rounds",
            "REJECTED": f"by {message.source_agent}: {record.get('message')}",
            "RUNNING": f"on {message.source_agent}, {100 * (record.get('progress') or 0):.0f}%",
            "COMPLETED": f"on {message.source_agent}: {record.get('result')}",
            "FAILED": f"on {message.source_agent}: {record.get('message')}",
            "CANCELING": f"asked by {message.source_agent}: {record.get('message')}",
            "CANCELED": f"by {message.source_agent}: {record.get('message')}",
        }.get(status, "")
        label = names.get(pending.task_id, "")
        say(f"  [{time.monotonic() - started:6.2f}s] {pending.task_id[:8]} {label:<18} {status:<11} {detail}")

    return show


class _Canceling:
    """Cancels the tasks it is given once they run, printing every update on the way."""

    def __init__(self, requester: Requester, show: Any) -> None:
        self.requester = requester
        self.show = show
        self.waiting: set[str] = set()
        self.asked: list[asyncio.Future[None]] = []

    def on_update(self, pending: PendingRequest, message: Inbound) -> None:
        self.show(pending, message)
        if pending.state == "RUNNING":
            self._cancel(pending.task_id)

    def when_running(self, task_id: str) -> None:
        self.waiting.add(task_id)
        if any(p.task_id == task_id and p.state == "RUNNING" for p in self.requester.get_pending_requests()):
            self._cancel(task_id)

    def _cancel(self, task_id: str) -> None:
        if task_id in self.waiting:
            self.waiting.discard(task_id)
            self.asked.append(asyncio.ensure_future(self.requester.cancel(task_id, CANCEL_REASON)))

    async def done(self) -> None:
        """Waits for the cancels asked for; a failed one raises here."""
        await asyncio.gather(*self.asked)


WORKFLOW_TEXT = "The quarterly report shows revenue up twelve percent, costs flat and two new markets opened"


def _workflow_printer(say: Any, started: float) -> Any:
    shown: dict[str, str] = {}

    def show(status: CollaborationStatus) -> None:
        parts = [
            f"{step.name}={step.state}" + (f" on {step.agent} (attempt {len(step.attempts)})" if step.agent else "")
            for step in status.steps
        ]
        line = f"{status.state:<11} " + ", ".join(parts)
        if shown.get(status.session_id) != line:
            shown[status.session_id] = line
            label = f"workflow {status.workflow_id}"
            say(f"  [{time.monotonic() - started:6.2f}s] {status.session_id[:8]} {label:<18} {line}")

    return show


async def _run_workflow(coordinator: Coordinator) -> CollaborationStatus:
    directory = coordinator.locator
    assert isinstance(directory, AgentDirectory)
    # The executors list themselves once their step runners are up; the workflow needs both skills.
    await directory.wait_for(
        lambda found: bool(
            found.find_agents_by_capability("summarize") and found.find_agents_by_capability("translate")
        ),
        30,
    )
    session = await coordinator.start_collaboration("brief", params={"text": WORKFLOW_TEXT, "language": "de"})
    return await coordinator.wait_for(session)


A2A_TEXT = "Confirm the board meeting on Thursday at ten"


class _A2ADemo:
    """The demo's A2A part: the SDK's echo executor as an agent of the mesh, and one call of the SDK's client to it
    over Kafka, its events printed as they stream in."""

    def __init__(self, endpoints: Endpoints, topics: TopicNames) -> None:
        os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")
        from a2a_fast.a2a import A2AAgent
        from a2a_fast.a2a.builtin import EchoExecutor, echo_card

        config = AgentConfig(
            "echo-a2a-1", endpoints.kafka, endpoints.schema_registry, topics=topics, http_port=_free(8005)
        )
        self.agent = A2AAgent(config, EchoExecutor(), echo_card())
        self.endpoints = endpoints
        self.topics = topics

    async def call(self, say: Any, started: float) -> dict[str, Any]:
        from a2a.client import ClientConfig, ClientFactory
        from a2a.helpers import get_artifact_text, new_text_message
        from a2a.types import Role, SendMessageRequest, TaskState

        from a2a_fast.a2a import KAFKA_BINDING, KafkaCaller, find_card, register

        assert self.agent.mesh is not None
        card = await find_card("echo", directory=self.agent.mesh.directory)
        caller = KafkaCaller.connect(self.endpoints.kafka, self.endpoints.schema_registry, self.topics.prefix)
        factory = ClientFactory(ClientConfig(supported_protocol_bindings=[KAFKA_BINDING]))
        register(factory, caller)
        client = factory.create(card)
        events: list[str] = []
        state, task_id = "NONE", "-"
        try:
            await caller.ensure_started()
            sent = time.monotonic()
            request = SendMessageRequest(message=new_text_message(A2A_TEXT, role=Role.ROLE_USER))
            async for event in client.send_message(request):
                kind = event.WhichOneof("payload")
                if kind == "task":
                    state, task_id = TaskState.Name(event.task.status.state)[11:], event.task.id
                    line = f"task {state}"
                elif kind == "status_update":
                    state = TaskState.Name(event.status_update.status.state)[11:]
                    line = f"status {state}"
                elif kind == "artifact_update":
                    artifact = event.artifact_update.artifact
                    line = f"artifact {artifact.name}: {get_artifact_text(artifact)}"
                else:
                    line = "message"
                events.append(line)
                say(f"  [{time.monotonic() - started:6.2f}s] {task_id[:8]} {'A2A call (SDK)':<18} {line}")
        finally:
            await client.close()
            await caller.stop()
        return {
            "agent": card.name,
            "binding": KAFKA_BINDING,
            "state": state,
            "events": events,
            "ms": round(1000 * (time.monotonic() - sent), 1),  # the call alone: the caller was up before
        }


async def _nothing() -> None:
    return None


async def _scenario(args: argparse.Namespace, endpoints: Endpoints, topics: TopicNames, say: Any) -> dict[str, Any]:
    processes: list[asyncio.subprocess.Process] = []
    console = None
    try:
        if args.console:
            from a2a_fast.cli.console import console_server

            console = console_server()(endpoints, topics, port=_free(args.console_port))
            say(f"console {await console.start()} (live while the demo runs)")
        say(f"starting 2 providers and 2 executors on topics {topics.prefix}* ...")
        await _start_agents(endpoints, topics.prefix, say, processes)
        config = AgentConfig(
            "requester-1",
            endpoints.kafka,
            endpoints.schema_registry,
            topics=topics,
            http_port=_free(8001),
        )
        requester = Requester(config, BudgetPolicy(max_rounds=4))
        a2a_demo: _A2ADemo | None = None
        try:
            a2a_demo = _A2ADemo(endpoints, topics)
        except ImportError as missing:
            say(f"(the A2A agent is left out: {missing.name or 'the A2A SDK'} is missing; pip install 'a2a-fast[a2a]')")
        coordinator = Coordinator(
            AgentConfig(
                "coordinator-1", endpoints.kafka, endpoints.schema_registry, topics=topics, http_port=_free(8004)
            ),
            workflows=DEMO_WORKFLOWS,
        )
        async with contextlib.AsyncExitStack() as running:
            in_process: list[Any] = [requester, coordinator, *([a2a_demo.agent] if a2a_demo is not None else [])]
            for agent in in_process:
                running.push_async_callback(agent.stop)
            await asyncio.gather(*(agent.start() for agent in in_process))
            await asyncio.gather(*(agent.wait_assigned() for agent in in_process))
            say(
                f"  started requester requester-1 (this process), monitoring http://127.0.0.1:{requester.http_port}/status"
            )
            say(
                f"  started coordinator coordinator-1 (this process), monitoring"
                f" http://127.0.0.1:{coordinator.http_port}/status"
            )
            if a2a_demo is not None:
                say(
                    f"  started A2A agent echo-a2a-1 (the SDK's echo AgentExecutor, this process), monitoring"
                    f" http://127.0.0.1:{a2a_demo.agent.http_port}/status"
                )
            if requester.mesh is not None:
                live = [i for i in requester.mesh.directory.get_all_agents() if i.alive]
                say(f"  mesh directory: {len(live)} live agents: {', '.join(i.agent_id for i in live)}")
            chosen = [SCENARIOS[n % len(SCENARIOS)] for n in range(args.tasks)]
            names: dict[str, str] = {}
            started = time.monotonic()
            canceling = _Canceling(requester, _progress_printer(say, started, names))
            requester.on_update = canceling.on_update
            coordinator.on_change = _workflow_printer(say, started)
            calling = " and calling the A2A agent with the SDK's client" if a2a_demo is not None else ""
            say(f"requesting {len(chosen)} tasks, running the workflow 'brief' (summarize, then translate){calling}")
            workflow = asyncio.ensure_future(_run_workflow(coordinator))
            a2a_call = asyncio.ensure_future(a2a_demo.call(say, started) if a2a_demo is not None else _nothing())
            ids = []
            for scenario in chosen:
                task_id = await requester.submit(
                    scenario.description,
                    scenario.proposed,
                    capability=scenario.capability,
                    parameters=dict(scenario.parameters),
                    budget=scenario.budget,
                )
                names[task_id] = scenario.name
                ids.append(task_id)
                if scenario.cancel:
                    canceling.when_running(task_id)
            try:
                outcomes: list[TaskOutcome] = await asyncio.wait_for(
                    asyncio.gather(*(requester.outcome(task_id) for task_id in ids)), 45
                )
                await canceling.done()
                elapsed = time.monotonic() - started
                collaboration = await asyncio.wait_for(workflow, 45)
                a2a_result = await asyncio.wait_for(a2a_call, 45)
                if console is not None and args.console_linger > 0:
                    say(
                        f"the run is done; its agents and the console at {console.url} stay up"
                        f" {args.console_linger:g} s more (Ctrl-C ends the demo now)"
                    )
                    await asyncio.sleep(args.console_linger)
            finally:
                workflow.cancel()
                a2a_call.cancel()
    finally:
        await _stop_agents(processes)
        if console is not None:
            await console.stop()
    summary = _summary(chosen, outcomes, elapsed)
    summary["workflow"] = _workflow_summary(collaboration)
    if collaboration.state != "COMPLETED":
        summary["unexpected"].append(
            f"workflow {collaboration.workflow_id}: {collaboration.state} (expected COMPLETED)"
        )
    summary["a2a"] = a2a_result
    if a2a_result is not None and a2a_result["state"] != "COMPLETED":
        summary["unexpected"].append(f"A2A call to {a2a_result['agent']}: {a2a_result['state']} (expected COMPLETED)")
    return summary


def _workflow_summary(status: CollaborationStatus) -> dict[str, Any]:
    return {
        "id": status.workflow_id,
        "session": status.session_id,
        "state": status.state,
        "seconds": round((status.finished or time.time()) - status.started, 3),
        "steps": [
            {"name": step.name, "state": step.state, "agent": step.agent, "attempts": len(step.attempts)}
            for step in status.steps
        ],
        "output": status.output,
        "error": status.error,
    }


def _summary(chosen: list[Scenario], outcomes: list[TaskOutcome], elapsed: float) -> dict[str, Any]:
    latencies = sorted(outcome.latency for outcome in outcomes if outcome.status == "COMPLETED")

    def quantile(q: float) -> float | None:
        if not latencies:
            return None
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)

    wrong = [
        f"{scenario.name}: {outcome.status} (expected {scenario.expect})"
        for scenario, outcome in zip(chosen, outcomes, strict=True)
        if outcome.status != scenario.expect
    ]
    rounds: dict[str, list[int]] = {}
    for scenario, outcome in zip(chosen, outcomes, strict=True):
        rounds.setdefault(scenario.name, []).append(outcome.rounds)
    return {
        "tasks": len(outcomes),
        "final_states": dict(Counter(outcome.status for outcome in outcomes)),
        "rounds_by_kind": {name: statistics.mean(values) for name, values in rounds.items()},
        "max_rounds": max((outcome.rounds for outcome in outcomes), default=0),
        "latency_ms_p50": quantile(0.5),
        "latency_ms_p99": quantile(0.99),
        "seconds": round(elapsed, 3),
        "tasks_per_second": round(len(outcomes) / elapsed, 1) if elapsed > 0 else None,
        "unexpected": wrong,
    }


async def _main(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    # SIGTERM cancels the run like Ctrl-C does, so the clean-up below still stops every agent process.
    main_task = asyncio.current_task()
    assert main_task is not None
    loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    endpoints, launched = await loop.run_in_executor(None, ensure_up)
    shown = f"kafka {redact(endpoints.kafka)}, schema registry {redact(endpoints.schema_registry)}"
    say(f"{shown} (started now: {launched or 'none'})")
    # An external service that is down stops the demo here, in one line, before any agent waits for it.
    await loop.run_in_executor(None, endpoints.check_reachable)
    topics = TopicNames(args.topic_prefix if args.topic_prefix is not None else f"demo-{uuid.uuid4().hex[:8]}.")
    try:
        return await _scenario(args, endpoints, topics, say)
    finally:
        if not args.keep_topics and args.topic_prefix is None:
            await loop.run_in_executor(None, _delete_topics, endpoints.kafka, [*topics.all(), topics.agents])
        if launched and not args.keep_stack:
            stopped = await loop.run_in_executor(None, functools.partial(LocalStack().down, only=launched))
            say(f"stopped what the demo started: {', '.join(stopped)}")


def _delete_topics(kafka: str, names: list[str]) -> None:
    from a2a_fast.transport import as_transport

    for future in as_transport(kafka).admin().delete_topics(names, operation_timeout=10).values():
        with contextlib.suppress(Exception):
            future.result(15)


def run(args: argparse.Namespace) -> int:
    import uvloop

    say = (lambda *_: None) if args.json else (lambda text: print(text, flush=True))
    started = time.monotonic()
    try:
        summary = uvloop.run(_main(args, say))
    except asyncio.CancelledError:
        print("a2a-fast demo: stopped before the end; every agent process it started was stopped", file=sys.stderr)
        return 130
    summary["total_seconds"] = round(time.monotonic() - started, 2)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print("\nsummary")
        print(f"  final states       {summary['final_states']}")
        print(f"  rounds by kind     {summary['rounds_by_kind']}")
        print(f"  latency (completed) p50 {summary['latency_ms_p50']} ms, p99 {summary['latency_ms_p99']} ms")
        print(f"  throughput         {summary['tasks_per_second']} tasks/s over {summary['seconds']} s")
        flow = summary["workflow"]
        steps = ", ".join(
            f"{s['name']} on {s['agent']} ({s['attempts']} attempt(s), {s['state']})" for s in flow["steps"]
        )
        print(f"  workflow {flow['id']:<10}{flow['state']} in {flow['seconds']} s: {steps}")
        print(f"  workflow output    {json.dumps(flow['output'])}")
        call = summary["a2a"]
        if call is not None:
            print(
                f"  A2A agent {call['agent']:<9}{call['state']} in {call['ms']} ms over Kafka, the SDK's client and"
                f" executor: {', '.join(event.split(':')[0] for event in call['events'])}"
            )
        print(f"  total run time     {summary['total_seconds']} s (including start-up and shutdown)")
        for problem in summary["unexpected"]:
            print(f"  UNEXPECTED         {problem}")
    return 1 if summary["unexpected"] else 0
