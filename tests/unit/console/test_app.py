"""The console's HTTP API and event stream on a fake source."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from a2a_fast.console.app import _event_stream, create_app
from a2a_fast.console.feed import MeshState
from a2a_fast.console.model import ConsoleModel
from a2a_fast.history.tasks import format_time
from a2a_fast.mesh.directory import AgentCard, AgentInfo
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import (
    KIND_NEGOTIATION,
    KIND_SESSION_EVENT,
    KIND_STEP_REQUEST,
    KIND_STEP_RESULT,
    KIND_TASK_REQUEST,
    KIND_TASK_RESPONSE,
)
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport.log import Observed
from a2a_fast.workflows.definitions import WorkflowDefinition, WorkflowStep

TOPICS = TopicNames("p.")


BASE = 1_800_000_000_000  # epoch milliseconds of every scenario's first record


TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


_numbers = itertools.count()


def observe(
    kind: str,
    source: str,
    at: int,
    task_id: str = "t1",
    target: str | None = None,
    topic: str | None = None,
    **record: Any,
) -> Observed:
    """A record as the log reader gives it: decoded, on the topic its kind travels on."""
    number = next(_numbers)
    name = topic or TOPICS.for_kind(kind)
    message = Inbound(
        kind=kind,
        record={"task_id": task_id, "timestamp": BASE + at, **record},
        event_id=f"e{number}",
        task_id=task_id,
        source_agent=source,
        target_agent=target,
        collaboration_id=task_id,
        traceparent=TRACE,
        schema_id=1,
        topic=name,
        partition=0,
        offset=number,
    )
    return Observed(name, 0, number, BASE + at, task_id, {}, message, None)


def negotiated_task(task_id: str = "t1", at: int = 0, capability: str = "translate") -> list[Observed]:
    """Request, two rounds (ask 90, counter 55; ask 75, accept), award at 75, progress, completion."""

    def response(source: str, offset: int, status: str, **fields: Any) -> Observed:
        return observe(KIND_TASK_RESPONSE, source, at + offset, task_id, "req-1", status=status, **fields)

    def negotiation(offset: int, action: str, **fields: Any) -> Observed:
        return observe(KIND_NEGOTIATION, "req-1", at + offset, task_id, "prov-1", action=action, **fields)

    return [
        observe(
            KIND_TASK_REQUEST, "req-1", at, task_id, requester_id="req-1", capability=capability,
            description="release notes", proposed_cost=20.0, priority=1, parameters={},
        ),
        response("prov-1", 10, "NEGOTIATING", counter_offer=90.0, round=1),
        negotiation(20, "COUNTER", offer=55.0, round=1, reason="too dear"),
        response("prov-1", 30, "NEGOTIATING", counter_offer=75.0, round=2),
        negotiation(40, "ACCEPT", offer=75.0, round=2),
        response("prov-1", 50, "ACCEPTED", agreed_cost=75.0, round=2),
        response("exec-1", 60, "RUNNING", progress=0.5, message="half-way"),
        response("exec-1", 1060, "COMPLETED", result='{"text": "[de] notes"}', progress=1.0),
    ]  # fmt: skip


def model_of(records: list[Observed], until: int | None = None) -> ConsoleModel:
    model = ConsoleModel(TOPICS, until=until)
    for record in records:
        model.observe(record)
    return model


def session_records(session_id: str = "s1", at: int = 0, fail_second: bool = False) -> list[Observed]:
    definition = WorkflowDefinition(
        "brief",
        "brief",
        "",
        [WorkflowStep("summary", "", ["summarize"]), WorkflowStep("translation", "", ["translate"], retries=1)],
    )

    def event(offset: int, kind: str, **record: Any) -> Observed:
        return observe(kind, "coord-1", at + offset, session_id, topic=TOPICS.collaborations, **record)

    records = [
        event(
            0, KIND_SESSION_EVENT, event="STARTED", workflow=json.dumps(definition.to_dict()),
            coordinator_id="coord-1", agent_ids=[], parameters={"text": "x"}, deadline=BASE + at + 60_000,
        ),
        event(10, KIND_STEP_REQUEST, step_index=0, attempt=1, agent_id="exec-1"),
        event(20, KIND_STEP_RESULT, step_index=0, attempt=1, agent_id="exec-1", status="COMPLETED", output='"s"'),
        event(30, KIND_STEP_REQUEST, step_index=1, attempt=1, agent_id="exec-2"),
    ]  # fmt: skip
    if fail_second:
        records += [
            event(40, KIND_STEP_RESULT, step_index=1, attempt=1, agent_id="exec-2", status="FAILED", error="boom"),
            event(50, KIND_STEP_REQUEST, step_index=1, attempt=2, agent_id="exec-1"),
            event(60, KIND_STEP_RESULT, step_index=1, attempt=2, agent_id="exec-1", status="FAILED", error="boom"),
            event(70, KIND_SESSION_EVENT, event="FAILED", message="step 'translation' failed"),
        ]
    return records


def agent(agent_id: str, alive: bool = True, current_task: str | None = None) -> AgentInfo:
    card = AgentCard(agent_id, "provider", capabilities=("translate",), endpoints={"http": "http://127.0.0.1:9"})
    return AgentInfo(card, "BUSY", current_task, 0.5, 0.0, 0, 0, BASE / 1000, alive, load=3)


class FakeSource:
    """The routes' source over a model built here; ``as_of`` builds another from the same records."""

    def __init__(self, records: list[Observed]) -> None:
        self.records = records
        self.closed = False
        self.version = 1
        self.snapshots: list[int] = []

    def overview(self, state: MeshState | None = None) -> dict[str, Any]:
        shown = state or self.live()
        return {**shown.model.overview(), "status": "live", "detail": None, "as_of_ms": shown.as_of}

    def live(self) -> MeshState:
        return MeshState(model_of(self.records), [agent("prov-1")])

    async def as_of(self, until: int) -> MeshState:
        self.snapshots.append(until)
        return MeshState(model_of(self.records, until), [], as_of=until)

    async def changed(self, after: int, timeout: float) -> int:  # noqa: ASYNC109
        if after == self.version:
            self.closed = True
        return self.version


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(FakeSource(negotiated_task() + session_records())))


def test_the_api_answers_each_view(client: TestClient) -> None:
    assert client.get("/api/overview").json()["counts"]["COMPLETED"] == 1
    assert client.get("/api/tasks", params={"state": "COMPLETED,RUNNING"}).json()["total"] == 1
    assert client.get("/api/tasks/t1").json()["award"]["price"] == 75.0
    assert client.get("/api/workflows").json()["items"][0]["workflow_id"] == "brief"
    assert client.get("/api/dead-letters").json()["total"] == 0
    assert client.get("/api/agents").json()["agents"][0]["agent_id"] == "exec-1"
    assert client.get("/api/charts", params={"minutes": 15}).json()["seconds"] == 900
    page = client.get("/")
    assert page.status_code == 200 and "a2a_fast console" in page.text
    assert client.get("/static/console.js").headers["content-type"].startswith("text/javascript")


def test_as_of_reads_the_log_back_to_that_time(client: TestClient) -> None:
    stamp = format_time(BASE + 35)
    body = client.get("/api/tasks/t1", params={"as_of": stamp}).json()
    assert body["task"]["state"] == "NEGOTIATING"
    assert client.get("/api/overview", params={"as_of": "live"}).json()["as_of_ms"] is None


@pytest.mark.parametrize(
    ("path", "params", "status", "error"),
    [
        ("/api/tasks/nope", {}, 404, "task 'nope' is not in the log"),
        ("/api/tasks", {"state": "SLEEPING"}, 400, "unknown task state(s) ['SLEEPING']"),
        ("/api/tasks", {"limit": "ten"}, 400, "limit: expected a whole number, got 'ten'"),
        ("/api/overview", {"as_of": "yesterday"}, 400, "time 'yesterday': expected ISO 8601"),
        ("/api/workflows/nope", {}, 404, "session 'nope' is not in the log"),
        ("/api/charts", {"minutes": "600"}, 400, "minutes: expected 1 to 15"),
        ("/api/nothing", {}, 404, "no such path: /api/nothing"),
    ],
)
def test_bad_input_gets_a_json_error_naming_it(
    client: TestClient, path: str, params: dict[str, str], status: int, error: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert error in response.json()["error"]


def test_only_get_is_served(client: TestClient) -> None:
    assert client.post("/api/tasks").status_code == 405
    assert client.delete("/api/tasks/t1").status_code == 405


@pytest.mark.asyncio
async def test_the_event_stream_sends_the_overview_when_something_changed() -> None:
    source = FakeSource(negotiated_task())
    events = [chunk async for chunk in _event_stream(source)]
    assert events[0] == "retry: 2000\n\n"
    name, ident, data = events[1].strip().split("\n")
    assert (name, ident) == ("event: overview", "id: 1")
    assert json.loads(data.removeprefix("data: "))["counts"]["COMPLETED"] == 1
    assert events[2:] == [": keep-alive\n\n"]  # nothing changed since; the source then closed
