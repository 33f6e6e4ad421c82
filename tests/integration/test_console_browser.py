"""The web console in headless Chromium, over a mesh on the real stack: a provider, an executor, a requester and a
coordinator in this process (on a loop of their own thread), the console beside them.

Screenshots go to ``tests/artifacts/console/`` for a person to look at. The browser is Debian's ``chromium``
(``make browser`` installs it), driven by Playwright for Python; the tests are skipped, saying why, only when
either is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from a2a_fast.agents.base import AgentConfig
from a2a_fast.agents.builtin import DEMO_HANDLERS, DEMO_WORKFLOWS
from a2a_fast.agents.coordinator import Coordinator
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.policies import BudgetPolicy
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.cli.agents import DEFAULT_SKILLS
from a2a_fast.console.server import ConsoleServer
from a2a_fast.history.tasks import format_time
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints
from a2a_fast.workflows.sessions import CollaborationStatus

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000
T = TypeVar("T")

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements/dev.txt)")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: 'make browser' installs Debian's chromium", allow_module_level=True)


class MeshInThread:
    """Agents and the console on a uvloop of their own thread; the test thread calls into it."""

    def __init__(self, endpoints: Endpoints, topics: TopicNames) -> None:
        self.endpoints = endpoints
        self.topics = topics
        self.loop = uvloop.new_event_loop()
        self.unhandled: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, context: self.unhandled.append(context))
        self.thread = threading.Thread(target=self.loop.run_forever, name="mesh", daemon=True)
        self.thread.start()
        self.running: contextlib.AsyncExitStack | None = None

    def call(self, work: Awaitable[T], timeout: float = 60) -> T:
        async def wrapped() -> T:
            return await work

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def config(self, agent_id: str) -> AgentConfig:
        return AgentConfig(
            agent_id, self.endpoints.kafka, self.endpoints.schema_registry, topics=self.topics, http_port=0
        )

    async def start(self) -> None:
        self.provider = Provider(self.config("provider-1"), DEFAULT_SKILLS)
        self.executor = Executor(self.config("executor-1"), DEMO_HANDLERS)
        self.requester = Requester(self.config("requester-1"), BudgetPolicy(max_rounds=4))
        self.coordinator = Coordinator(self.config("coordinator-1"), workflows=DEMO_WORKFLOWS)
        self.console = ConsoleServer(self.endpoints, self.topics, port=0, scrape_interval=0.5)
        self.running = contextlib.AsyncExitStack()
        agents = (self.provider, self.executor, self.requester, self.coordinator)
        for agent in agents:
            self.running.push_async_callback(agent.stop)
        self.running.push_async_callback(self.console.stop)
        await asyncio.gather(*(agent.start() for agent in agents))
        await asyncio.gather(*(agent.wait_assigned() for agent in agents))
        await self.console.start()

    async def stop(self) -> None:
        if self.running is not None:
            await self.running.aclose()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(15)
        self.loop.close()

    async def task(self, capability: str, description: str, proposed: float, budget: float) -> tuple[str, str]:
        task_id = await self.requester.submit(description, proposed, capability=capability, budget=budget)
        outcome = await asyncio.wait_for(self.requester.outcome(task_id), 30)
        return task_id, outcome.status

    async def workflow(self) -> CollaborationStatus:
        parameters = {"text": "revenue is up", "language": "de"}
        session = await self.coordinator.start_collaboration("brief", params=parameters)
        return await asyncio.wait_for(self.coordinator.wait_for(session), 30)


@pytest.fixture(scope="module")
def mesh(endpoints: Endpoints) -> Iterator[MeshInThread]:
    topics = TopicNames(f"console-{uuid.uuid4().hex[:10]}.")
    running = MeshInThread(endpoints, topics)
    try:
        running.call(running.start(), timeout=90)
        yield running
        assert not running.unhandled, f"unhandled loop exceptions: {running.unhandled}"
    finally:
        running.close()
        admin = AdminClient({"bootstrap.servers": endpoints.kafka})
        for future in admin.delete_topics([*topics.all(), topics.agents], operation_timeout=10).values():
            with contextlib.suppress(Exception):
                future.result(15)


@pytest.fixture(scope="module")
def seeded(mesh: MeshInThread, endpoints: Endpoints) -> dict[str, Any]:
    """A negotiated task, a workflow session, and a broken record on the requests topic (dead-lettered)."""
    negotiated, state = mesh.call(mesh.task("translate", "Translate the release notes", 20, 75))
    assert state == "COMPLETED"
    session = mesh.call(mesh.workflow())
    assert session.state == "COMPLETED"
    producer = Producer({"bootstrap.servers": endpoints.kafka})
    producer.produce(mesh.topics.requests, b"\x00garbage", b"broken-record", headers=[("ce_specversion", b"1.0")])
    assert producer.flush(15) == 0
    return {"negotiated": negotiated, "session": session}


@pytest.fixture(scope="module")
def page(mesh: MeshInThread, seeded: dict[str, Any]) -> Iterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=BROWSER_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(WAIT_MS)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(mesh.console.url)
        yield tab
        context.close()
        assert not errors, f"the page raised: {errors}"


def shoot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def visit(page: Any, mesh: MeshInThread, fragment: str) -> None:
    page.goto(f"{mesh.console.url}#{fragment}")


def test_the_mesh_page_lists_the_agents_alive_with_their_roles(page: Any, mesh: MeshInThread) -> None:
    visit(page, mesh, "/mesh")
    for agent_id, role in [("provider-1", "provider"), ("executor-1", "executor"), ("requester-1", "requester")]:
        row = page.locator(f'tr[data-agent="{agent_id}"]')
        sync_api.expect(row).to_contain_text("alive")
        sync_api.expect(row).to_contain_text(role)
    sync_api.expect(page.locator('tr[data-agent="provider-1"]')).to_contain_text("translate")
    # The handling latency comes from the agents' /metrics, read from the addresses in the directory.
    sync_api.expect(page.locator('tr[data-agent="provider-1"]')).to_contain_text("p99")
    sync_api.expect(page.locator("#feed-status")).to_contain_text("live")
    shoot(page, "mesh")


def test_a_task_timeline_shows_its_negotiation_rounds(page: Any, mesh: MeshInThread, seeded: dict[str, Any]) -> None:
    visit(page, mesh, f"/tasks/{seeded['negotiated'][:10]}")
    sync_api.expect(page.locator('#rounds tr[data-round="1"]')).to_contain_text("asks 90.00")
    sync_api.expect(page.locator('#rounds tr[data-round="1"]')).to_contain_text("COUNTER 55.00")
    sync_api.expect(page.locator('#rounds tr[data-round="2"]')).to_contain_text("ACCEPT 75.00")
    sync_api.expect(page.locator("#phase-award")).to_contain_text("provider-1 ACCEPTED 75.00")
    sync_api.expect(page.locator("#phase-outcome")).to_contain_text("COMPLETED")
    sync_api.expect(page.locator("#trace-id")).to_have_text(re.compile(r"^[0-9a-f]{32}$"))
    shoot(page, "task-timeline")


def test_a_dead_letter_shows_its_reason(page: Any, mesh: MeshInThread) -> None:
    visit(page, mesh, "/dead-letters")
    letter = page.locator("tr[data-dead-letter]").first
    sync_api.expect(letter).to_contain_text(f"{mesh.topics.requests}[")
    sync_api.expect(letter.locator(".reason")).to_have_text(re.compile(r"\w{4,}"))
    reason = letter.locator(".reason").inner_text()
    assert "no dlq.reason header" not in reason
    sync_api.expect(page.locator("main")).to_contain_text("broken-record")
    shoot(page, "dead-letters")


def test_a_workflow_shows_each_steps_agent_attempts_and_state(
    page: Any, mesh: MeshInThread, seeded: dict[str, Any]
) -> None:
    session: CollaborationStatus = seeded["session"]
    visit(page, mesh, "/workflows")
    row = page.locator(f'tr[data-session="{session.session_id}"]')
    sync_api.expect(row.locator("td").nth(2)).to_have_text("COMPLETED")
    for step in session.steps:  # as the coordinator that ran it reports it
        attempts = f"{len(step.attempts)} attempt{'' if len(step.attempts) == 1 else 's'}"
        tried = [
            f"#{a.attempt} {a.agent_id or 'no live agent'} {a.state}" + (f": {a.error}" if a.error else "")
            for a in step.attempts
        ]
        cells = row.locator(f'tr[data-step="{step.name}"] td')
        sync_api.expect(cells).to_have_text([step.name, step.state, f"on {step.agent}", attempts, "".join(tried), ""])
    shoot(page, "workflows")


def test_a_new_task_appears_without_a_reload(page: Any, mesh: MeshInThread) -> None:
    visit(page, mesh, "/tasks")
    sync_api.expect(page.locator("tr[data-task]").first).to_be_visible()
    loaded_at = page.evaluate("window.__consoleLoadedAt")
    task_id, state = mesh.call(mesh.task("summarize", "Summarise the board minutes", 120, 150))
    assert state == "COMPLETED"
    sync_api.expect(page.locator(f'tr[data-task="{task_id}"]')).to_contain_text("COMPLETED")
    assert page.evaluate("window.__consoleLoadedAt") == loaded_at, "the page was reloaded"
    shoot(page, "tasks-live")


def test_the_charts_are_drawn_from_the_log_and_the_metrics(page: Any, mesh: MeshInThread) -> None:
    visit(page, mesh, "/charts")
    sync_api.expect(page.locator('path.series[data-series="task-requests"]')).to_have_count(1)
    sync_api.expect(page.locator("#latency-summary b").first).not_to_have_text("0")
    sync_api.expect(page.locator('path.series[data-series="provider-1"]')).to_have_count(1)
    shoot(page, "charts")


def test_as_of_a_past_time_shows_the_mesh_as_it_was(page: Any, mesh: MeshInThread, seeded: dict[str, Any]) -> None:
    # Just after the negotiated task ended, long before the task of the test above was asked for.
    ended = mesh.call(_updated_at(mesh, seeded["negotiated"]))
    visit(page, mesh, "/tasks")
    page.fill("#as-of", format_time(ended + 300) or "")
    page.click("#as-of-form button[type=submit]")
    # The console reads the log back to that time: on a loaded machine that takes longer than a page update.
    sync_api.expect(page.locator("#as-of-shown")).to_contain_text("read back from the log", timeout=30_000)
    sync_api.expect(page.locator(f'tr[data-task="{seeded["negotiated"]}"]')).to_be_visible()
    sync_api.expect(page.locator("tr[data-task]")).to_have_count(1)
    shoot(page, "as-of")
    page.click("#live")
    sync_api.expect(page.locator("#as-of-shown")).to_have_count(0)


def test_bad_input_shows_a_clear_message(page: Any, mesh: MeshInThread) -> None:
    visit(page, mesh, "/tasks/no-such-task")
    sync_api.expect(page.locator("main .error")).to_have_text("task 'no-such-task' is not in the log")
    shoot(page, "unknown-task")
    visit(page, mesh, "/nowhere")
    sync_api.expect(page.locator("main .error")).to_contain_text("No such page")
    page.fill("#as-of", "last tuesday")
    page.click("#as-of-form button[type=submit]")
    sync_api.expect(page.locator("#banner")).to_contain_text("expected ISO 8601")
    # A live update landing after the message does not wipe it: the person still sees what was wrong.
    before = page.locator("#status").inner_text()
    _task_id, state = mesh.call(mesh.task("summarize", "Summarise the board minutes", 120, 150))
    assert state == "COMPLETED"
    sync_api.expect(page.locator("#status")).not_to_have_text(before)
    sync_api.expect(page.locator("#banner")).to_contain_text("expected ISO 8601")


async def _updated_at(mesh: MeshInThread, task_id: str) -> int:
    task = mesh.console.feed.model.tasks.get(task_id)
    assert task is not None and task.updated_at is not None
    return task.updated_at
