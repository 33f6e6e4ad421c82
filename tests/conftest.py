"""Fixtures shared by every test: the real stack (started on demand), a fresh topic per test, and the spans
a2a_fast exports."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from a2a_fast.observability import tracing
from a2a_fast.stack import Endpoints, LocalStack, ensure_up

# Property tests judge results, never time: hypothesis's default 200 ms deadline per example and its "too slow"
# check fail on a loaded machine (a unit run beside the Kafka suites did).
settings.register_profile("a2a_fast", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("a2a_fast")

# What agents keep across restarts (incarnation files, budget books) goes to a folder of this session, which the
# agent processes tests start inherit, not to the user's ~/.local/state.
if "A2A_FAST_STATE_DIR" not in os.environ:
    os.environ["A2A_FAST_STATE_DIR"] = tempfile.mkdtemp(prefix="a2a-fast-tests-state-")
    atexit.register(shutil.rmtree, os.environ["A2A_FAST_STATE_DIR"], True)

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "schemas"


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    """The broker and registry: external ones from the environment, else the local stack.

    A stack this session started is stopped at the end; one that was already up is left running.
    """
    stack = LocalStack()
    found, started = ensure_up(stack)
    yield found
    if started and not os.environ.get("A2A_FAST_KEEP_STACK"):
        stack.down(only=started)


@pytest.fixture(scope="session")
def secure_stack() -> Iterator[LocalStack]:
    """The secured local stack (SASL_SSL and mutual-TLS Kafka with ACLs, the registry over HTTPS with a password),
    on its own ports beside the plain one. One this session started is stopped at the end."""
    stack = LocalStack(secure=True)
    before = {status.name for status in stack.status() if status.state == "running"}
    stack.up()
    started = [status.name for status in stack.status() if status.state == "running" and status.name not in before]
    yield stack
    if started and not os.environ.get("A2A_FAST_KEEP_STACK"):
        stack.down(only=started)


@pytest.fixture
def topic_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def topic(endpoints: Endpoints, topic_name: str) -> Iterator[str]:
    """A new 3-partition topic, deleted after the test."""
    from confluent_kafka.admin import AdminClient

    from a2a_fast.transport.admin import ensure_topics

    ensure_topics(endpoints.kafka, [topic_name])
    yield topic_name
    AdminClient({"bootstrap.servers": endpoints.kafka}).delete_topics([topic_name], operation_timeout=10)


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """The spans a2a_fast exports during the test, through an OpenTelemetry SDK provider of the test's own."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # The SDK provider is given to a2a_fast only, not set globally, so no other test sees it.
    monkeypatch.setattr(tracing, "_otel_tracer", lambda: provider.get_tracer("a2a_fast"))
    yield exporter
    provider.shutdown()
