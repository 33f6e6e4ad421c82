from __future__ import annotations

import contextvars

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from a2a_fast.errors import ValidationError
from a2a_fast.observability import tracing
from a2a_fast.observability.tracing import (
    adopt_child,
    child_traceparent,
    continue_trace,
    current_traceparent,
    new_traceparent,
    parse_traceparent,
    span,
)


def test_a_new_trace_parses_back() -> None:
    context = parse_traceparent(new_traceparent())
    assert len(context.trace_id) == 32 and len(context.span_id) == 16 and context.sampled


def test_a_child_keeps_the_trace_and_gets_a_new_span() -> None:
    parent = parse_traceparent(new_traceparent(sampled=False))
    child = parse_traceparent(child_traceparent(parent.header()))
    assert child.trace_id == parent.trace_id
    assert child.span_id != parent.span_id
    assert child.sampled is False


def test_a_missing_or_broken_parent_starts_a_new_trace() -> None:
    assert parse_traceparent(child_traceparent(None))
    assert parse_traceparent(child_traceparent("garbage"))


@pytest.mark.parametrize(
    "bad",
    [
        "00-abc-def-01",
        "ff-" + "a" * 32 + "-" + "b" * 16 + "-01",
        "00-" + "0" * 32 + "-" + "b" * 16 + "-01",
        "00-" + "a" * 32 + "-" + "0" * 16 + "-01",
        "00-" + "A" * 32 + "-" + "b" * 16 + "-01",
    ],
)
def test_invalid_traceparents_are_named(bad: str) -> None:
    with pytest.raises(ValidationError, match="traceparent"):
        parse_traceparent(bad)


def test_without_a_configured_provider_ids_still_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_otel_tracer", lambda: None)
    parent = new_traceparent()
    with span("hop", parent) as child:
        assert parse_traceparent(child).trace_id == parse_traceparent(parent).trace_id


def test_spans_are_exported_as_one_trace_across_hops(exporter: InMemorySpanExporter) -> None:
    root = new_traceparent()
    with span("requester.request", root, {"task.id": "t1"}) as first, span("provider.negotiate", first) as second:
        pass
    with span("executor.run", second):
        pass

    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"requester.request", "provider.negotiate", "executor.run"}
    trace_ids = {format(s.context.trace_id, "032x") for s in spans.values()}
    assert trace_ids == {parse_traceparent(root).trace_id}
    assert spans["executor.run"].parent is not None
    assert spans["executor.run"].parent.span_id == spans["provider.negotiate"].context.span_id
    assert spans["requester.request"].attributes == {"task.id": "t1"}


def test_the_default_api_provider_is_not_used() -> None:
    # No test sets a global provider, so the API's proxy is in place: it would record nothing.
    assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
    assert tracing._otel_tracer() is None


def test_adopt_child_opens_a_child_span_in_a_context_of_its_own() -> None:
    parent = new_traceparent()

    def in_record_context() -> tuple[str | None, str | None, str | None]:
        adopt_child(parent)
        return current_traceparent(), current_traceparent(), continue_trace(parent)

    header, again, continued = contextvars.copy_context().run(in_record_context)
    assert header is not None and header[3:35] == parent[3:35] and header[36:52] != parent[36:52]
    assert again == continued == header  # drawn once: every message sent for the record carries the same
    assert current_traceparent() is None
