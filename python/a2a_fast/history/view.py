"""Live views of the log: the task log kept current for the MCP server, and agents as the log and directory see them.

:class:`MeshView` keeps a :class:`~a2a_fast.history.tasks.TaskLog` of the task topics up to date on the event
loop: reads run in a worker thread (:class:`~a2a_fast.transport.log.LogReader`, no consumer group), folding
happens on the loop, and waiters are woken on every change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from a2a_fast.history.tasks import AgentActivity, TaskHistory, TaskLog, format_time
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport import Transport
from a2a_fast.transport.log import LogReader

__all__ = ["MeshView", "agent_rows"]

if TYPE_CHECKING:
    from a2a_fast.mesh.directory import AgentInfo


class MeshView:
    """A :class:`TaskLog` of the task topics kept current on the loop. ``start`` returns once the log as
    it stood then is folded; :meth:`wait_for` awaits a condition on one task. ``retained_finished`` bounds
    how many ended tasks it keeps (all when None)."""

    def __init__(
        self, kafka: str | Transport, schema_registry: str, topics: TopicNames, retained_finished: int | None = None
    ) -> None:
        self.log = TaskLog(retained_finished=retained_finished)
        self.dead_letters = 0
        self._reader = LogReader(
            kafka, schema_registry, topics, [topics.requests, topics.responses, topics.negotiations]
        )
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="mesh-view")
        self._changed = asyncio.Condition()
        self._caught_up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._positions: dict[tuple[str, int], int] = {}

    async def start(self, patience: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._reader.open)
        self._task = loop.create_task(self._follow(), name="mesh-view")
        await asyncio.wait_for(self._caught_up.wait(), patience)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.get_running_loop().run_in_executor(self._thread, self._reader.close)
        self._thread.shutdown(wait=True)

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await loop.run_in_executor(self._thread, self._reader.read, 0.2)
            for observed in batch:
                self._positions[(observed.topic, observed.partition)] = observed.offset + 1
                if observed.message is not None:
                    self.log.fold(observed.message)
            if batch:
                async with self._changed:
                    self._changed.notify_all()
            if not self._caught_up.is_set() and all(
                self._positions.get(where, 0) >= end for where, end in self._reader.ends.items() if end > 0
            ):
                self._caught_up.set()

    async def wait_for(
        self,
        task_id: str,
        condition: Callable[[TaskHistory], bool],
        on_change: Callable[[TaskHistory], Any] | None = None,
    ) -> TaskHistory:
        """Returns the task once ``condition`` holds for it; ``on_change`` (sync or async) sees every change."""
        seen = -1
        async with self._changed:
            while True:
                task = self.log.get(task_id)
                if task is not None and len(task.timeline) != seen:
                    seen = len(task.timeline)
                    reported = on_change(task) if on_change is not None else None
                    if asyncio.iscoroutine(reported):
                        await reported
                    if condition(task):
                        return task
                await self._changed.wait()


def agent_rows(registered: Iterable[AgentInfo], activity: Mapping[str, AgentActivity]) -> list[dict[str, Any]]:
    """One row per agent, by id: what the mesh directory holds (card, liveness, state; ``registered`` False
    for an agent that never joined it) and under ``log`` what the task topics show of it (or None)."""
    directory = {info.agent_id: info for info in registered}
    rows = []
    for name in sorted(set(directory) | set(activity)):
        row: dict[str, Any] = {"agent_id": name, "registered": name in directory}
        info = directory.get(name)
        if info is not None:
            row.update(
                alive=info.alive,
                type=info.card.agent_type,
                capabilities=list(info.card.capabilities),
                status=info.status,
                current_task=info.current_task,
                progress=info.progress,
                load=info.load,
                last_seen=format_time(int(info.last_seen * 1000)),
                endpoints=dict(info.card.endpoints),
            )
        seen = activity.get(name)
        row["log"] = seen.to_dict() if seen is not None else None
        rows.append(row)
    return rows
