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
import random
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from a2a_fast.errors import ValidationError

__all__ = [
    "TraceContext",
    "adopt_child",
    "child_traceparent",
    "continue_trace",
    "current_traceparent",
    "new_traceparent",
    "parse_traceparent",
    "recording",
    "span",
]

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_current: contextvars.ContextVar[str | _Child | None] = contextvars.ContextVar("a2a_fast_traceparent", default=None)


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
    # Every record that arrives without a trace starts one here: ids drawn as OpenTelemetry's SDK draws
    # them (unique, not secret) cost no system call, unlike the two os.urandom reads of secrets.token_hex.
    trace_id = random.getrandbits(128) or 1
    span_id = random.getrandbits(64) or 1
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


def child_traceparent(parent: str | None) -> str:
    """A new span of ``parent``'s trace, or a new trace when there is no (valid) parent."""
    # Called for every record handled: slicing a matched header beats building a TraceContext.
    if parent and len(parent) == 55 and _TRACEPARENT.match(parent) and not parent.startswith("ff"):
        trace_id, flags = parent[3:35], parent[53:55]
        if trace_id != _ZERO_TRACE and parent[36:52] != _ZERO_SPAN:
            # Span ids need to be unique, not secret (OpenTelemetry's SDK draws them the same way).
            span_id = random.getrandbits(64) or 1
            return f"00-{trace_id}-{span_id:016x}-{'01' if int(flags, 16) & 1 else '00'}"
    return new_traceparent()


def current_traceparent() -> str | None:
    """The ``traceparent`` of the innermost :func:`span` open here, None outside any."""
    found = _current.get()
    return found.header() if isinstance(found, _Child) else found


def continue_trace(parent: str | None) -> str | None:
    """What a message sent now carries: the open span's ``traceparent``, else ``parent`` unchanged."""
    found = _current.get()
    if found is None:
        return parent
    return found.header() if isinstance(found, _Child) else found


def recording() -> bool:
    """True when :func:`span` records real spans (OpenTelemetry's SDK with a tracer provider configured)."""
    return _otel_tracer() is not None


def adopt_child(parent: str | None) -> None:
    """Makes a new child of ``parent`` the open ``traceparent`` of the current context, with nothing to undo.

    For code that runs in a context of its own and throws it away afterwards (the runtime gives every record
    one) and records no span: it spares :func:`span`'s enter and exit. The child's span id is drawn when first
    asked for (most records' handlers send nothing), once: every message sent for the record carries the same."""
    _current.set(_Child((parent, None)))


class _Child(list):  # type: ignore[type-arg]
    """The child of a parent ``traceparent`` that :func:`adopt_child` opened, drawn on first use: ``[parent, the
    child's traceparent or None]``. A list, so that making one per record runs no Python ``__init__``."""

    __slots__ = ()

    def header(self) -> str:
        header: str | None = self[1]
        if header is None:
            header = self[1] = child_traceparent(self[0])
        return header


class span:
    """A span named ``name`` under ``parent``; entering it gives the ``traceparent`` to put on messages sent
    inside it, which :func:`current_traceparent` also returns inside the block."""

    # A class rather than a generator: agents enter one for every record they handle.
    __slots__ = ("_recording", "_token", "attributes", "name", "parent")

    def __init__(self, name: str, parent: str | None, attributes: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.parent = parent
        self.attributes = attributes
        self._recording: contextlib.AbstractContextManager[str] | None = None
        self._token: contextvars.Token[str | _Child | None] | None = None

    def __enter__(self) -> str:
        tracer = _otel_tracer()
        if tracer is None:
            header = child_traceparent(self.parent)
        else:
            self._recording = _recorded(tracer, self.name, self.parent, self.attributes)
            header = self._recording.__enter__()
        self._token = _current.set(header)
        return header

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> bool | None:
        if self._token is not None:
            _current.reset(self._token)
        if self._recording is not None:
            return self._recording.__exit__(kind, error, trace)
        return None


@contextlib.contextmanager
def _recorded(tracer: Any, name: str, parent: str | None, attributes: Mapping[str, Any] | None) -> Iterator[str]:
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


_api: Any = None
_tracers: dict[int, tuple[Any, Any]] = {}
_choice: tuple[float, Any] = (-1.0, None)
_RECHECK_SECONDS = 1.0


def _otel_tracer() -> Any:
    """The tracer of the configured SDK provider, None without one. Looked up at most once a second: asking
    the API for the provider costs about as much as the rest of a record's tracing."""
    global _choice
    now = time.monotonic()
    if now - _choice[0] < _RECHECK_SECONDS:
        return _choice[1]
    tracer = _lookup_tracer()
    _choice = (now, tracer)
    return tracer


def _lookup_tracer() -> Any:
    global _api
    if _api is None:
        try:
            from opentelemetry import trace
        except ImportError:
            trace = False  # type: ignore[assignment]
        _api = trace
    if _api is False:
        return None
    provider = _api.get_tracer_provider()
    found = _tracers.get(id(provider))
    if found is None:
        # The API's default provider records nothing; only a configured SDK provider is worth the overhead.
        unset = type(provider).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider")
        found = _tracers[id(provider)] = (provider, None if unset else _api.get_tracer("a2a_fast"))
    return found[1]
