"""W3C trace context carried as the CloudEvents distributed-tracing extension (``traceparent``).

A request starts a trace; every message sent while handling it carries a child ``traceparent`` of the message
being handled, so one task's requester, provider and executor hops form a single trace::

    parent = new_traceparent()                 # at the requester
    with span("provider.negotiate", parent) as child:
        publish(..., traceparent=child)        # the next hop is a child of this one

When OpenTelemetry is installed and a tracer provider is configured, :func:`span` also records a real span with
that parent, so the trace is exported wherever the provider sends it; without it, ids are still propagated.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from a2a_fast.errors import ValidationError

__all__ = [
    "TraceContext",
    "child_traceparent",
    "continue_trace",
    "current_traceparent",
    "new_traceparent",
    "parse_traceparent",
    "span",
]

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("a2a_fast_traceparent", default=None)


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str
    sampled: bool = True

    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


def parse_traceparent(value: str) -> TraceContext:
    """Parses a version-00 ``traceparent``; raises ValidationError naming what is wrong."""
    found = _TRACEPARENT.match(value.strip())
    if not found:
        raise ValidationError(f"traceparent: expected 00-<32 hex>-<16 hex>-<2 hex>, got {value!r}")
    version, trace_id, span_id, flags = found.groups()
    if version == "ff":
        raise ValidationError("traceparent: version ff is invalid")
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        raise ValidationError("traceparent: trace id and span id must not be all zeros")
    return TraceContext(trace_id, span_id, bool(int(flags, 16) & 1))


def new_traceparent(sampled: bool = True) -> str:
    """A ``traceparent`` that starts a new trace."""
    return TraceContext(secrets.token_hex(16), secrets.token_hex(8), sampled).header()


def child_traceparent(parent: str | None) -> str:
    """A new span of ``parent``'s trace, or a new trace when there is no (valid) parent."""
    if not parent:
        return new_traceparent()
    try:
        context = parse_traceparent(parent)
    except ValidationError:
        return new_traceparent()
    return TraceContext(context.trace_id, secrets.token_hex(8), context.sampled).header()


def current_traceparent() -> str | None:
    """The ``traceparent`` of the innermost :func:`span` open here, None outside any."""
    return _current.get()


def continue_trace(parent: str | None) -> str | None:
    """What a message sent now carries: the open span's ``traceparent``, else ``parent`` unchanged."""
    return _current.get() or parent


@contextlib.contextmanager
def span(name: str, parent: str | None, attributes: Mapping[str, Any] | None = None) -> Iterator[str]:
    """A span named ``name`` under ``parent``; yields the ``traceparent`` to put on messages sent inside it,
    which :func:`current_traceparent` also returns inside the block."""
    with _recorded(name, parent, attributes) as header:
        token = _current.set(header)
        try:
            yield header
        finally:
            _current.reset(token)


@contextlib.contextmanager
def _recorded(name: str, parent: str | None, attributes: Mapping[str, Any] | None) -> Iterator[str]:
    tracer = _otel_tracer()
    if tracer is None:
        yield child_traceparent(parent)
        return
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": parent} if parent else {}
    context = TraceContextTextMapPropagator().extract(carrier)
    with tracer.start_as_current_span(name, context=context, attributes=dict(attributes or {})) as current:
        span_context = current.get_span_context()
        if not span_context.is_valid:
            yield child_traceparent(parent)
            return
        flags = "01" if span_context.trace_flags & trace.TraceFlags.SAMPLED else "00"
        yield f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{flags}"


def _otel_tracer() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    provider = trace.get_tracer_provider()
    # The API's default provider records nothing; only a configured SDK provider is worth the overhead.
    if type(provider).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider"):
        return None
    return trace.get_tracer("a2a_fast")
