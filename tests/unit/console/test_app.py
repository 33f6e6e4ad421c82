"""The console's HTTP API and event stream on a fake source."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from a2a_fast.console.app import _event_stream, create_app
from a2a_fast.console.feed import MeshState
from a2a_fast.history.tasks import format_time
from a2a_fast.transport.log import Observed
from tests.unit.console.support import BASE, agent, model_of, negotiated_task, session_records


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
