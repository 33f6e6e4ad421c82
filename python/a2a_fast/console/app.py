"""The console's HTTP side: the page, its static files, a read-only JSON API and a stream of changes.

Every route is a ``GET``; nothing here writes to the mesh. Each API route takes ``as_of`` (ISO 8601, epoch seconds
or an age such as ``10m``, as ``a2a-fast replay --until`` does) to answer as of that time instead of now.

======================================  ===========================================================================
``/``                                   the page (``static/index.html``; its views are chosen by the URL's ``#``)
``/api/overview``                       where the console reads, its status, counts per state, totals
``/api/agents``                         the mesh: every agent's card, liveness, load, current task and metrics
``/api/tasks``                          a page of tasks: ``state`` (repeatable), ``capability``, ``agent``,
                                        ``offset``, ``limit``
``/api/tasks/{id}``                     one task's timeline (an id prefix will do)
``/api/workflows``                      sessions with each step's agent, attempts and state (``state``, paging)
``/api/workflows/{id}``                 one session
``/api/dead-letters``                   dead letters and unreadable records (paging)
``/api/charts``                         records/s per topic and request→completion p50/p99 (``minutes``), with
                                        the agents' handling rates from their ``/metrics``
``/api/events``                         server-sent events: ``overview`` whenever something changed
``/health``                             ``{"status": "ok"}`` and the feed's status
======================================  ===========================================================================

Errors are JSON ``{"error": "..."}`` with 400 (a bad parameter, named), 404 (an unknown task, session or path) or
500, never a stack trace.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final, Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from a2a_fast.console.feed import MeshState
from a2a_fast.errors import A2AError, UnknownSessionError, UnknownTaskError, ValidationError
from a2a_fast.history.tasks import parse_time

__all__ = ["STATIC", "Source", "create_app"]

log = logging.getLogger("a2a_fast.console")

STATIC: Final = Path(__file__).resolve().parent / "static"
KEEP_ALIVE_SECONDS: Final = 15.0
EVENT_SPACING_SECONDS: Final = 0.1
"""Least time between two events to one page: a burst of records becomes one update."""


class Source(Protocol):
    """What the routes read (:class:`~a2a_fast.console.feed.MeshFeed` is one)."""

    closed: bool

    def overview(self, state: MeshState | None = None) -> dict[str, Any]: ...

    def live(self) -> MeshState: ...

    async def as_of(self, until: int) -> MeshState: ...

    async def changed(self, after: int, timeout: float) -> int: ...  # noqa: ASYNC109


def create_app(source: Source) -> Starlette:
    """The Starlette application serving ``source``."""

    async def state_of(request: Request) -> MeshState:
        raw = request.query_params.get("as_of")
        if raw is None or not raw.strip() or raw.strip().lower() == "live":
            return source.live()
        return await source.as_of(parse_time(raw))

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    async def health(request: Request) -> Response:
        overview = source.overview()
        return _json({"status": "ok", "feed": overview["status"], "detail": overview["detail"]})

    async def overview(request: Request) -> Response:
        return _json(source.overview(await state_of(request)))

    async def agents(request: Request) -> Response:
        state = await state_of(request)
        return _json({"as_of": state.as_of, "agents": state.agent_rows()})

    async def tasks(request: Request) -> Response:
        state = await state_of(request)
        query = request.query_params
        states = [value for item in query.getlist("state") for value in item.split(",") if value.strip()]
        page = state.model.task_page(
            states,
            capability=query.get("capability") or None,
            agent=query.get("agent") or None,
            offset=_whole(query, "offset", 0),
            limit=_whole(query, "limit", 50),
        )
        return _json(page)

    async def task(request: Request) -> Response:
        state = await state_of(request)
        return _json(state.model.task_detail(request.path_params["task_id"]))

    async def workflows(request: Request) -> Response:
        state = await state_of(request)
        query = request.query_params
        states = [value for item in query.getlist("state") for value in item.split(",") if value.strip()]
        return _json(
            state.model.workflow_page(states, offset=_whole(query, "offset", 0), limit=_whole(query, "limit", 50))
        )

    async def workflow(request: Request) -> Response:
        state = await state_of(request)
        return _json(state.model.workflow_detail(request.path_params["session_id"]))

    async def dead_letters(request: Request) -> Response:
        state = await state_of(request)
        query = request.query_params
        return _json(state.model.dead_letter_page(offset=_whole(query, "offset", 0), limit=_whole(query, "limit", 50)))

    async def charts(request: Request) -> Response:
        state = await state_of(request)
        body = state.model.charts(state.moment, _whole(request.query_params, "minutes", 5))
        since = (body["end"] - body["seconds"] * 1000) / 1000
        body["agent_rates"] = {
            agent: [[round(at * 1000), rate] for at, rate in readings if at >= since]
            for agent, readings in state.metric_rates.items()
        }
        return _json(body)

    async def events(request: Request) -> Response:
        return StreamingResponse(
            _event_stream(source),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    routes = [
        Route("/", index),
        Route("/health", health),
        Route("/favicon.ico", no_icon),
        Route("/api/overview", overview),
        Route("/api/agents", agents),
        Route("/api/tasks", tasks),
        Route("/api/tasks/{task_id}", task),
        Route("/api/workflows", workflows),
        Route("/api/workflows/{session_id}", workflow),
        Route("/api/dead-letters", dead_letters),
        Route("/api/charts", charts),
        Route("/api/events", events),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            HTTPException: _http_error,
            A2AError: _a2a_error,
            Exception: _unexpected,
        },
    )


async def _event_stream(source: Source) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    version = -1
    while not source.closed:
        current = await source.changed(version, KEEP_ALIVE_SECONDS)
        if current == version:
            yield ": keep-alive\n\n"
            continue
        version = current
        yield f"event: overview\nid: {version}\ndata: {json.dumps(source.overview(), default=str)}\n\n"
        await asyncio.sleep(EVENT_SPACING_SECONDS)


def _whole(query: Any, name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(f"{name}: expected a whole number, got {raw!r}") from None


def _json(payload: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(payload, default=str),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    text = f"no such path: {request.url.path}" if error.status_code == 404 else str(error.detail)
    return _json({"error": text}, error.status_code)


async def _a2a_error(request: Request, error: Exception) -> Response:
    status = 404 if isinstance(error, UnknownTaskError | UnknownSessionError) else 400
    if not isinstance(error, ValueError | LookupError):
        status = 503  # the broker or registry did not answer
    return _json({"error": str(error)}, status)


async def _unexpected(request: Request, error: Exception) -> Response:
    log.exception("console: %s failed", request.url.path)
    return _json({"error": f"the console could not answer {request.url.path}: {type(error).__name__}: {error}"}, 500)
