"""One task is one trace: the requester starts it, the provider and executor continue it hop by hop, and with an
OpenTelemetry SDK configured the spans are exported with that parentage. Log lines carry the ids."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.observability.logs import configure_logging
from a2a_fast.observability.tracing import parse_traceparent
from tests.integration.test_agents import HANDLERS, SKILLS, Mesh, mesh, run_strict

__all__ = ["mesh"]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(json=True, level=logging.INFO, stream=stream)
    yield stream
    logger = logging.getLogger("a2a_fast")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def test_one_task_is_one_trace_across_requester_provider_and_executor(
    mesh: Mesh, exporter: InMemorySpanExporter, log_lines: io.StringIO
) -> None:
    async def scenario() -> str:
        async with (
            Provider(mesh.config("provider-1"), SKILLS),
            Executor(mesh.config("executor-1"), HANDLERS, serve_steps=False),
            Requester(mesh.config("requester-1")) as requester,
        ):
            assert isinstance(requester, Requester)
            outcome = await requester.request_task("Translate", 20.0, capability="translate", budget=75, max_wait=60)
            assert outcome.status == "COMPLETED" and outcome.rounds >= 1, outcome
            return outcome.task_id

    task_id = run_strict(scenario)
    spans = [s for s in exporter.get_finished_spans() if (s.attributes or {}).get("a2a.task_id") == task_id]
    by_id = {s.context.span_id: s for s in spans}
    [root] = [s for s in spans if s.parent is None]
    assert root.name == "requester request"
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
    assert all(s.parent is None or s.parent.span_id in by_id for s in spans), "a span's parent was not exported"

    # Every record about the task carries the span of the hop that published it.
    records = [m for topic in (mesh.topics.requests, mesh.topics.responses, mesh.topics.negotiations)
               for m in mesh.log(topic) if m.task_id == task_id]  # fmt: skip
    publisher = {}
    for message in records:
        assert message.traceparent is not None
        context = parse_traceparent(message.traceparent)
        assert int(context.trace_id, 16) == root.context.trace_id
        publisher[message.record.get("status") or message.record.get("action") or "REQUEST"] = by_id[
            int(context.span_id, 16)
        ]

    def chain(span: ReadableSpan) -> list[str]:
        names = [span.name]
        while span.parent is not None:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    # COMPLETED ← executor ran the ACCEPTED ← provider answered the requester's turn ← ... ← the request.
    completed = chain(publisher["COMPLETED"])
    assert completed[0] == "executor a2a.task.response"
    assert completed[1] == "provider a2a.negotiation"
    assert completed[2] == "requester a2a.task.response"
    assert completed[-2:] == ["provider a2a.task.request", "requester request"]
    assert publisher["ACCEPTED"].context.span_id == publisher["COMPLETED"].parent.span_id  # type: ignore[union-attr]
    assert publisher["REQUEST"] is root

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    about_task = [line for line in lines if line["task_id"] == task_id]
    assert {line["agent_id"] for line in about_task} == {"requester-1", "provider-1", "executor-1"}
    assert all(line["correlation_id"] == task_id for line in about_task)
    assert {line["logger"] for line in about_task} >= {"a2a_fast.agents.provider", "a2a_fast.agents.executor"}
