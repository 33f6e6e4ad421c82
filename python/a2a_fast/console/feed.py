"""The console's live view of one mesh: its topics followed, its directory read, its agents' metrics scraped.

:class:`MeshFeed` reads everything without joining a consumer group (as ``a2a-fast tail`` and ``replay`` do), so
the mesh never notices it:

* every topic of the mesh from its beginning, through :class:`~a2a_fast.transport.log.LogReader` in a worker
  thread, folded on the loop into a :class:`~a2a_fast.console.model.ConsoleModel`;
* the agent directory (:class:`~a2a_fast.mesh.directory.AgentDirectory`), once the mesh's directory topic exists
  (the console never creates a topic);
* each live agent's ``/metrics`` every few seconds (:class:`~a2a_fast.console.scrape.MetricsBoard`).

Until the mesh's topics exist it waits for them, and a broker or registry that stops answering is reported on the
page (:attr:`MeshFeed.detail`) while the feed retries. :meth:`MeshFeed.as_of` builds the same view as it stood at
a past time by reading the log again up to its current end and keeping what was there by then, as
``a2a-fast replay --until`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from a2a_fast.config import ProtocolConfig
from a2a_fast.console.model import DEFAULT_RETAINED_TASKS, ConsoleModel, mesh_rows
from a2a_fast.console.scrape import MetricsBoard, fetch_metrics, reading_error
from a2a_fast.history.tasks import format_time
from a2a_fast.mesh.directory import AgentDirectory, AgentInfo
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints
from a2a_fast.transport.admin import describe_topics
from a2a_fast.transport.log import LogReader

__all__ = ["MeshFeed", "MeshState", "read_as_of"]

log = logging.getLogger("a2a_fast.console")

RETRY_SECONDS: Final = 2.0
SNAPSHOTS_KEPT: Final = 4
SNAPSHOT_PATIENCE: Final = 120.0


@dataclass
class MeshState:
    """What the pages show at one moment: live, or as of ``as_of`` (epoch milliseconds) read back from the log."""

    model: ConsoleModel
    agents: list[AgentInfo]
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    metric_rates: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    as_of: int | None = None
    complete: bool = True
    """False when reading the log back stopped before its end (it took too long)."""

    @property
    def moment(self) -> int:
        """The time shown, epoch milliseconds."""
        return self.as_of if self.as_of is not None else int(time.time() * 1000)

    def agent_rows(self) -> list[dict[str, Any]]:
        return mesh_rows(self.agents, self.model.tasks.activity(), self.metrics)


def read_as_of(
    endpoints: Endpoints, topics: TopicNames, until: int, retained_tasks: int | None
) -> tuple[ConsoleModel, bool]:
    """Reads the mesh's topics from their beginning to their current end, keeping what was there at ``until``.
    Returns the model and whether the end was reached. Blocking: call it from a thread."""
    model = ConsoleModel(topics, until=until, retained_tasks=retained_tasks)
    reader = LogReader(endpoints.kafka, endpoints.schema_registry, topics, list(topics.all()))
    try:
        reader.open()
        remaining = {where: end for where, end in reader.ends.items() if end > 0}
        deadline = time.monotonic() + SNAPSHOT_PATIENCE
        idle = 0
        while remaining and time.monotonic() < deadline and idle < 10:
            batch = reader.read(0.5, 2000)
            idle = 0 if batch else idle + 1  # records removed by retention leave a partition short of its end
            for observed in batch:
                where = (observed.topic, observed.partition)
                if where in remaining and observed.offset + 1 >= remaining[where]:
                    del remaining[where]
                model.observe(observed)
        return model, not remaining
    finally:
        reader.close()


class MeshFeed:
    """The live view of the mesh on ``topics``; see the module docstring. ``start`` returns at once: the page shows
    :attr:`status` (``waiting``, ``catching up``, ``live`` or ``problem``) while it gets there."""

    def __init__(
        self,
        endpoints: Endpoints,
        topics: TopicNames,
        *,
        retained_tasks: int | None = DEFAULT_RETAINED_TASKS,
        config: ProtocolConfig | None = None,
        scrape_interval: float = 2.0,
    ) -> None:
        self.endpoints = endpoints
        self.topics = topics
        self.retained_tasks = retained_tasks
        self.config = config or ProtocolConfig()
        self.scrape_interval = scrape_interval
        self.model = ConsoleModel(topics, retained_tasks=retained_tasks)
        self.board = MetricsBoard()
        self.directory: AgentDirectory | None = None
        self.status = "waiting"
        self.detail: str | None = f"waiting for the mesh's topics ({topics.prefix or 'no prefix'}*)"
        self.version = 0
        self.closed = False
        self._agent_changes = 0
        self._metric_changes = 0
        self._wake = asyncio.Event()
        self._reader_thread = ThreadPoolExecutor(1, thread_name_prefix="console-log")
        self._snapshot_thread = ThreadPoolExecutor(1, thread_name_prefix="console-as-of")
        self._scrapers = ThreadPoolExecutor(4, thread_name_prefix="console-metrics")
        self._tasks: list[asyncio.Task[None]] = []
        self._reader: LogReader | None = None
        self._snapshots: OrderedDict[int, MeshState] = OrderedDict()
        self._snapshot_lock = asyncio.Lock()

    # --- lifecycle -------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._follow_log(), name="console-log"),
            loop.create_task(self._scrape(), name="console-metrics"),
        ]

    async def stop(self) -> None:
        self.closed = True
        self._changed()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.directory is not None:
            await self.directory.stop()
            self.directory = None
        loop = asyncio.get_running_loop()
        if self._reader is not None:
            await loop.run_in_executor(self._reader_thread, self._reader.close)
            self._reader = None
        for pool in (self._reader_thread, self._snapshot_thread, self._scrapers):
            pool.shutdown(wait=False, cancel_futures=True)

    # --- what changed ----------------------------------------------------------------------------------------------

    def _changed(self) -> None:
        self.version += 1
        self._wake.set()
        self._wake = asyncio.Event()

    async def changed(self, after: int, timeout: float) -> int:  # noqa: ASYNC109
        """The version once it differs from ``after``, or after ``timeout`` seconds, whichever is first."""
        if self.version == after and not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        return self.version

    def overview(self, state: MeshState | None = None) -> dict[str, Any]:
        """The header of every page: where the console reads, how far it got, and what the log holds."""
        shown = state or self.live()
        body = shown.model.overview()
        versions = body["versions"]
        versions["agents"] += self._agent_changes
        versions["metrics"] = self._metric_changes
        alive = sum(1 for agent in shown.agents if agent.alive)
        return {
            **body,
            "prefix": self.topics.prefix,
            "kafka": self.endpoints.kafka,
            "status": self.status,
            "detail": self.detail,
            "version": self.version,
            "as_of": format_time(shown.as_of) if shown.as_of is not None else None,
            "as_of_ms": shown.as_of,
            "complete": shown.complete,
            "now": format_time(int(time.time() * 1000)),
            "agents": {"alive": alive, "registered": len(shown.agents)},
        }

    # --- views -----------------------------------------------------------------------------------------------------

    def live(self) -> MeshState:
        agents = self.directory.get_all_agents() if self.directory is not None else []
        since = time.time() - 15 * 60
        return MeshState(self.model, agents, self.board.latest(), self.board.rates(since))

    async def as_of(self, until: int) -> MeshState:
        """The view as it stood at ``until`` (epoch milliseconds), read back from the log; the live view for a time
        not in the past."""
        if until >= int(time.time() * 1000):
            return self.live()
        cached = self._snapshots.get(until)
        if cached is not None:
            self._snapshots.move_to_end(until)
            return cached
        async with self._snapshot_lock:
            cached = self._snapshots.get(until)
            if cached is not None:
                return cached
            loop = asyncio.get_running_loop()
            model, complete = await loop.run_in_executor(
                self._snapshot_thread, read_as_of, self.endpoints, self.topics, until, self.retained_tasks
            )
            agents = await self._directory_as_of(until)
            state = MeshState(model, agents, as_of=until, complete=complete)
            self._snapshots[until] = state
            while len(self._snapshots) > SNAPSHOTS_KEPT:
                self._snapshots.popitem(last=False)
            return state

    async def _directory_as_of(self, until: int) -> list[AgentInfo]:
        if not await asyncio.get_running_loop().run_in_executor(self._snapshot_thread, self._directory_exists):
            return []
        directory = AgentDirectory(self.endpoints.kafka, self.topics.agents, self.config, as_of=until / 1000)
        await directory.start()
        try:
            return directory.get_all_agents()
        finally:
            await directory.stop()

    def _directory_exists(self) -> bool:
        return any(
            info.name == self.topics.agents for info in describe_topics(self.endpoints.kafka, self.topics.agents)
        )

    # --- following the log -----------------------------------------------------------------------------------------

    async def _follow_log(self) -> None:
        loop = asyncio.get_running_loop()
        reader = await self._open_reader()
        self.status, self.detail = "catching up", None
        self._changed()
        positions: dict[tuple[str, int], int] = {}
        caught_up = False
        while True:
            if self.directory is None:
                await self._start_directory()
            try:
                batch = await loop.run_in_executor(self._reader_thread, reader.read, 0.2, 1000)
            except Exception as error:  # the page shows it and the feed retries: the console keeps running
                self._problem(f"reading the log failed: {error}")
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if self.status == "problem":
                self.status, self.detail = ("live" if caught_up else "catching up"), None
                self._changed()
            changed = False
            for observed in batch:
                positions[(observed.topic, observed.partition)] = observed.offset + 1
                changed |= self.model.observe(observed)
            if not caught_up and all(positions.get(where, 0) >= end for where, end in reader.ends.items() if end > 0):
                caught_up = True
                self.status = "live"
                changed = True
            if changed:
                self._changed()

    async def _open_reader(self) -> LogReader:
        """A reader on every topic of the mesh, once they all exist."""
        loop = asyncio.get_running_loop()
        names = list(self.topics.all())
        while True:
            try:
                reader = await loop.run_in_executor(
                    self._reader_thread,
                    LogReader,
                    self.endpoints.kafka,
                    self.endpoints.schema_registry,
                    self.topics,
                    names,
                )
                self._reader = reader
                try:
                    await loop.run_in_executor(self._reader_thread, reader.open)
                    return reader
                except Exception:
                    self._reader = None
                    await loop.run_in_executor(self._reader_thread, reader.close)
                    raise
            except Exception as error:
                text = str(error)
                if "does not exist" in text:
                    self.status = "waiting"
                    self.detail = (
                        f"waiting for the mesh on {self.topics.prefix or '(no prefix)'}: its topics appear when its"
                        f" first agent starts ({', '.join(names)})"
                    )
                else:
                    self._problem(text)
                self._changed()
            await asyncio.sleep(RETRY_SECONDS)

    async def _start_directory(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            if not await loop.run_in_executor(self._scrapers, self._directory_exists):
                return
            directory = AgentDirectory(self.endpoints.kafka, self.topics.agents, self.config)
            directory.on_change.append(self._agents_changed)
            await directory.start()
        except Exception as error:
            self._problem(f"reading the agent directory {self.topics.agents} failed: {error}")
            return
        self.directory = directory
        self._agents_changed()

    def _agents_changed(self) -> None:
        self._agent_changes += 1
        self._changed()

    def _problem(self, text: str) -> None:
        line = text.splitlines()[0] if text else "unknown problem"
        if self.detail != line:
            log.warning("console: %s", line)
        self.status, self.detail = "problem", line
        self._changed()

    # --- scraping the agents' /metrics -----------------------------------------------------------------------------

    async def _scrape(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.scrape_interval)
            directory = self.directory
            if directory is None:
                continue
            agents = directory.get_all_agents()
            targets = [
                (info.agent_id, info.card.endpoints["http"])
                for info in agents
                if info.alive and info.card.endpoints.get("http")
            ]
            readings = await asyncio.gather(
                *(loop.run_in_executor(self._scrapers, _read, url) for _, url in targets), return_exceptions=True
            )
            for (agent_id, url), reading in zip(targets, readings, strict=True):
                if isinstance(reading, BaseException):
                    self.board.record(agent_id, url, None, reading_error(reading))
                else:
                    self.board.record(agent_id, url, reading, None)
            self.board.forget(info.agent_id for info in agents)
            self._metric_changes += 1
            self._changed()


def _read(url: str) -> str:
    return fetch_metrics(url)
