"""What an executor's task handler gets and is: :class:`TaskContext` and the :data:`TaskHandler` signature.

Tasks (:mod:`a2a_fast.agents.executor`) and workflow steps (:mod:`a2a_fast.agents.steps`) run the same handlers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TaskContext", "TaskHandler", "result_text"]


@dataclass
class TaskContext:
    """What a handler gets: the task's inputs, and :meth:`progress` to report how far it is.

    A workflow step (:mod:`a2a_fast.workflows.sessions`) runs the same handlers: ``task_id`` is then
    ``<session id>/<step name>``, ``collaboration_id`` the session id and ``previous_output`` the output
    of the session's previous successful step (None for the first step).

    ``attempt`` is 1 the first time the task runs, 2 when it runs again because the executor that ran it
    died before the outcome was acknowledged (a *resumed* task: the log shows that the earlier run started
    and never ended), and so on. :attr:`idempotency_key` is the same on every attempt: a handler with outside
    effects uses it to make them happen once (a unique key in a database, an idempotency header on a call).
    """

    task_id: str
    capability: str
    description: str
    parameters: dict[str, str]
    agreed_cost: float | None
    requester_id: str | None
    _report: Callable[[float, str | None], Awaitable[None]] = field(repr=False)
    previous_output: Any = None
    collaboration_id: str | None = None
    attempt: int = 1

    @property
    def idempotency_key(self) -> str:
        """Stable across attempts of this task: its id."""
        return self.task_id

    async def progress(self, fraction: float, message: str | None = None) -> None:
        """Publishes ``RUNNING`` with ``fraction`` (0.0 to 1.0) done."""
        await self._report(min(1.0, max(0.0, fraction)), message)


TaskHandler = Callable[[TaskContext], Awaitable[Any]]
"""``async def handler(task: TaskContext) -> result``: runs one task (or workflow step) of its capability. The
result must be JSON-serialisable; raising fails the task with the error as its reason. A task whose executor
died before its outcome was acknowledged runs again (``task.attempt`` then counts the runs), so handlers with
outside effects should be idempotent per ``task.idempotency_key``. When its task is canceled while it runs, the
handler's coroutine is cancelled: it sees :class:`asyncio.CancelledError` at the ``await`` it is at, may clean up
(and await while doing so), and should re-raise it; the task then ends CANCELED (:mod:`a2a_fast.agents.cancel`)."""


_RESULTS = json.JSONEncoder(default=str)


def result_text(result: Any) -> str:
    """A handler's result as the JSON text a task's COMPLETED (or a step's result) carries: ``json.dumps(result,
    default=str)``, with one encoder made once rather than one per call."""
    return _RESULTS.encode(result)
