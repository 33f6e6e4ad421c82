"""The executor role: runs each accepted task once, with a handler registered for its capability.

Executors with the same handlers form a *pool*: one consumer group, by default ``executors.<capabilities>``
(``--group`` names another). The provider that accepts a task addresses the ``ACCEPTED`` to the pool of a
live executor running its capability (``ce_targetgroup``); every pool reads ``task-responses`` and skips,
unread, what is addressed to another pool. Within the pool Kafka gives each partition (and so, as records are
keyed by task id, each task) to exactly one member, so exactly one executor sees a given ``ACCEPTED``. An
``ACCEPTED`` addressed to no pool is run by the first pool, by name, of those running its capability. For
each one the executor publishes ``RUNNING`` (progress 0, then whatever the handler reports), then
``COMPLETED`` with the handler's JSON result or ``FAILED`` with the error. At most ``max_tasks`` tasks run
at once; beyond that the runtime stops consuming.

**Exactly once.** The ``ACCEPTED`` offset is committed only after ``COMPLETED``/``FAILED`` was
acknowledged, so a crashed executor's tasks are redelivered to the member that inherits its partitions.
That member first rebuilds, from the log, which tasks already reached ``COMPLETED`` or ``FAILED``: when
partitions are assigned it reads them from the committed offset to their end (:func:`a2a_fast.history.tasks.read_log`)
before handling any record, so a redelivered ``ACCEPTED`` of a finished task is skipped, while a task
that was only ``RUNNING`` when its executor died is run again. Before partitions move in a rebalance the
runtime lets running tasks finish, so two executors never run the same task side by side. The window
left is a crash after a handler returned but before its ``COMPLETED`` was acknowledged: then the task
runs again, so handlers with outside effects should be idempotent per ``task_id``.

**Outcomes from elsewhere.** A member whose group session ran out (a broker node away) may still finish a task of the
partitions it lost, and its outcome may reach the log after the new owner's rebuild read it. So an outcome another
executor wrote ends a wait for a slot (the task never starts here), and a resumed run first reads its partition from
its ``ACCEPTED`` on for an outcome. Left: an outcome landing after that read (a producer retrying to a new leader).

**Attempts.** A task run again because its executor died is *resumed*, not doubled: the rebuild counts the
runs of each unfinished task that started (their ``RUNNING`` "started" records) and the handler gets the next
attempt number (:attr:`TaskContext.attempt`) and the task id as its idempotency key. The records of a
second or later attempt have ids of their own (``attempt N/...``), so a reader tells the attempts apart.
In transactions a handler starts only once its run's "started" record is in the log (acknowledged), written outside
them (:meth:`~a2a_fast.agents.base.Agent.publish_marker`), so that neither a commit under way nor an aborted
transaction or a fenced producer holds it back or takes it back, and a run cut off at any point after its handler
started leaves its trace. The rebuild reads them read uncommitted too: read committed, a record written behind a
transaction still open (a dead executor's, until it is aborted) is not seen yet.

**Priority.** An ``ACCEPTED`` carries its request's priority (``ce_priority``: HIGH, NORMAL, LOW). Tasks
waiting for a slot are started highest priority first, then in arrival order (:class:`PrioritySlots`),
and ``reserved`` slots (default 1) are never given to LOW tasks, so a HIGH task starts at once even when
a LOW backlog holds every other slot. Ordering applies to the tasks already taken in.

**Back-pressure.** An executor takes in its running tasks and ``read_ahead`` more (default: as many as
``max_tasks``); the next ACCEPTED is not taken: its partition is held back there (paused and rewound,
:meth:`~a2a_fast.agents.base.Agent.admits`) until a task ends, so a backlog stays on the broker and the
executor's memory stays flat, while cancels and the progress of other tasks keep flowing.

Handlers are ``async def handler(task: TaskContext) -> JSON-able result``; raising fails the task.

**Cancel.** A ``CANCELING`` of a task this executor holds reaches it at once, even while the task's ACCEPTED is
still being handled (:meth:`Executor.lane`): a task waiting for a slot is never started, a running handler is
cancelled (it sees :class:`asyncio.CancelledError` and may clean up), and the executor writes ``CANCELED``, its
``ce_id`` derived from the CANCELING's. A CANCELING of a task it does not hold yet makes it skip that task's
ACCEPTED should one still come; one addressed to this pool for a task it does not hold (its ACCEPTED was
dead-lettered, say) is answered with CANCELED at once. The whole protocol: :mod:`a2a_fast.agents.cancel`.

The same handlers run the workflow steps addressed to this executor: with ``serve_steps`` (the default) a
:class:`~a2a_fast.agents.steps.StepRunner` with this executor's id runs beside it, started and stopped
with it.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from types import CoroutineType
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from a2a_fast.agents.base import Agent, AgentConfig, finish_eagerly_started, pool_group, run_eagerly
from a2a_fast.agents.cancel import CANCELED, CANCELING, cancel_note, cancel_record
from a2a_fast.agents.steps import StepRunner
from a2a_fast.agents.tasks import TaskContext, TaskHandler, result_text
from a2a_fast.errors import A2AError
from a2a_fast.history.tasks import read_log
from a2a_fast.mesh.directory import AgentCard, AgentState
from a2a_fast.observability.tracing import continue_trace
from a2a_fast.protocol.envelope import SOURCE_AGENT_HEADER, Inbound, header_text
from a2a_fast.protocol.ids import derived_id
from a2a_fast.protocol.kinds import KIND_TASK_RESPONSE
from a2a_fast.protocol.limits import PRIORITY_LEVELS
from a2a_fast.transport.log import event_ids
from a2a_fast.transport.registry import SchemaCatalog

__all__ = ["Executor", "PrioritySlots", "started_id"]

log = logging.getLogger("a2a_fast.agents.executor")
_CONTROL_LANE = b"\x00control"
TERMINAL = frozenset({"COMPLETED", "FAILED", CANCELED})


class _BoundedSet:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, None] = OrderedDict()

    def add(self, item: str) -> None:
        self._items[item] = None
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)


class PrioritySlots:
    """At most ``size`` holders at once; waiters are served highest ``level`` first, then first come.

    ``reserved`` of the slots are only given to waiters of level ``reserved_for`` or above. A waiter that
    named itself (``acquire(level, holder)``) can be withdrawn (:meth:`withdraw`).
    """

    def __init__(self, size: int, reserved: int = 0, reserved_for: int = 1) -> None:
        if size < 1 or not 0 <= reserved < size:
            raise ValueError(f"slots: size {size} must be >= 1 and reserved {reserved} in 0..size-1")
        self.size = size
        self.reserved = reserved
        self.reserved_for = reserved_for
        self.in_use = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        self._named: dict[str, asyncio.Future[None]] = {}

    @property
    def waiting(self) -> int:
        return sum(1 for *_, future in self._waiters if not future.done())

    def _may_take(self, level: int) -> bool:
        limit = self.size if level >= self.reserved_for else self.size - self.reserved
        return self.in_use < limit

    def try_acquire(self, level: int) -> bool:
        """Takes a slot at once when one is free for ``level`` and nobody waits; False (nothing taken) otherwise."""
        if not self._waiters and self._may_take(level):
            self.in_use += 1
            return True
        return False

    async def acquire(self, level: int, holder: str | None = None) -> None:
        if self.try_acquire(level):
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-level, next(self._arrivals), future))
        if holder is not None:
            self._named[holder] = future
        self._grant()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted just as it was cancelled
            raise
        finally:
            if holder is not None:
                self._named.pop(holder, None)

    def withdraw(self, holder: str) -> bool:
        """Ends the wait of ``holder``: its :meth:`acquire` raises :class:`asyncio.CancelledError` without a slot.
        False when ``holder`` is not waiting (it has its slot, or never asked)."""
        future = self._named.get(holder)
        if future is None or future.done():
            return False
        future.cancel()
        return True

    def release(self) -> None:
        self.in_use -= 1
        self._grant()

    def _grant(self) -> None:
        while self._waiters:
            negated, _, future = self._waiters[0]
            if future.done():
                heapq.heappop(self._waiters)
                continue
            if not self._may_take(-negated):
                return
            heapq.heappop(self._waiters)
            self.in_use += 1
            future.set_result(None)


@dataclass(slots=True)
class _Held:
    """An accepted task this executor holds: waiting for a slot, then running."""

    cancel: Inbound | None = None
    """The CANCELING that asked for its end, once one did."""
    runner: asyncio.Future[Any] | None = None
    """The handler's task, once started."""


def _cancelling() -> bool:
    """Whether the current task itself is being cancelled (the runtime draining), rather than something it awaits."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Executor(Agent):
    """Runs accepted tasks with ``handlers`` (capability → async handler), at most ``max_tasks`` at once."""

    role = "executor"
    transactions_wait_for_handlers = False  # its handlers run for as long as their tasks do
    marks_outside_transactions = True  # a run's "started" record is in the log before its handler starts

    def __init__(
        self,
        config: AgentConfig,
        handlers: Mapping[str, TaskHandler] | None = None,
        max_tasks: int = 8,
        task_timeout: float | None = None,
        serve_steps: bool = True,
        reserved: int | None = None,
        read_ahead: int | None = None,
        failure_threshold: int | None = None,
        cooldown: float | None = None,
    ) -> None:
        self.handlers: dict[str, TaskHandler] = {}
        for capability, handler in (handlers or {}).items():
            self.handlers[capability.strip().lower()] = handler
        super().__init__(config)
        self.max_tasks = max_tasks
        self.task_timeout = task_timeout
        self.slots = PrioritySlots(max_tasks, min(1, max_tasks - 1) if reserved is None else reserved)
        self.progress: dict[str, float] = {}
        self.finished = _BoundedSet(1_000_000)
        self.running: set[str] = set()
        self.held: dict[str, _Held] = {}
        """Accepted tasks waiting for a slot or running, by task id."""
        self.canceled_early: OrderedDict[str, tuple[str, str, str | None]] = OrderedDict()
        """Tasks canceled before their ACCEPTED reached this executor: the CANCELING's id, sender and reason."""
        self.counts = {"COMPLETED": 0, "FAILED": 0, CANCELED: 0, "SKIPPED": 0}
        self.rebuilt = 0
        self.attempts: OrderedDict[str, int] = OrderedDict()
        """Runs the log shows started of tasks not finished (rebuilt at assignment), by task id."""
        self.resumed = 0
        self.serve_steps = serve_steps
        self.steps: Agent | None = None
        self.read_ahead = max_tasks if read_ahead is None else read_ahead
        """Accepted tasks read beyond the running ones (waiting for a slot, by priority); more are not fetched."""
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.failed_in_a_row = 0
        self.trips = 0

    def register(self, capability: str, handler: TaskHandler) -> None:
        """Makes ``handler`` run the tasks of ``capability`` (case-insensitive); before :meth:`start`, since the
        capabilities name the executor's pool."""
        if self.consumer is not None:
            raise RuntimeError(f"executor {self.agent_id}: register handlers before it starts")
        self.handlers[capability.strip().lower()] = handler
        if self.config.group_id is None:
            self.group_id = self.default_group()

    def default_group(self) -> str:
        return pool_group(self.topics.prefix, self.role, self.handlers)

    def admits(self, message: Inbound) -> bool:
        # Back-pressure at the tasks: with every slot taken and read_ahead tasks waiting, an ACCEPTED is not
        # taken, and its partition waits there until a task ends; cancels and the progress of other tasks
        # keep flowing on every partition not held back.
        if message.record.get("status") != "ACCEPTED" or not self._runs(message):
            return True
        return message.task_id in self.held or len(self.held) < self.max_tasks + max(1, self.read_ahead)

    def fetch_settings(self) -> dict[str, Any]:
        # librdkafka would otherwise prefetch up to 64 MiB per consumer of tasks waiting for a slot.
        return {"queued.max.messages.kbytes": 1024, "queued.min.messages": max(100, 2 * self.max_in_flight)}

    def _threshold(self) -> tuple[int, float]:
        settings = self.protocol.executors
        return (
            self.failure_threshold or settings.failure_threshold,
            settings.cooldown_seconds if self.cooldown is None else self.cooldown,
        )

    def _task_failed(self) -> None:
        """Counts a failed task; the ``failure_threshold``-th in a row opens the circuit: the executor steps out
        of its pool for the cool-down, so healthy members take its partitions, then tries again."""
        self.failed_in_a_row += 1
        threshold, cooldown = self._threshold()
        if self.failed_in_a_row < threshold or self.aside is not None or self._aside_task is not None:
            return
        self.trips += 1
        self.failed_in_a_row = 0
        reason = f"{threshold} tasks failed in a row; healthy executors of {self.group_id} take its tasks meanwhile"
        task = asyncio.get_running_loop().create_task(self.step_aside(cooldown, reason), name=f"{self.agent_id}-aside")
        self._aside_task = task
        task.add_done_callback(self._stepped_back)

    def _stepped_back(self, task: asyncio.Task[None]) -> None:
        self._aside_task = None
        if not task.cancelled() and task.exception() is not None:
            self._background_done(task)

    def card(self) -> AgentCard:
        card = super().card()
        return replace(card, resources={**card.resources, "steps": self.serve_steps, "max_tasks": self.max_tasks})

    def subscriptions(self) -> list[str]:
        return [self.topics.responses]

    async def start(self, catalog: SchemaCatalog | None = None) -> None:
        if not self.serve_steps or self.steps is not None:
            await super().start(catalog)
            return

        config = replace(self.config, group_id=None, http_port=None, join_mesh=False)
        runner = StepRunner(config, self.handlers)
        # Topics and schemas once for both; the catalog stays the executor's to close.
        shared = catalog
        if shared is None:
            shared = await self._prepare_when_reachable()
        # Side by side: the runner adds a consumer group join, which need not wait for the executor's.
        outcomes = await asyncio.gather(super().start(shared), runner.start(shared), return_exceptions=True)
        failure = next((outcome for outcome in outcomes if isinstance(outcome, BaseException)), None)
        if failure is not None:
            await runner.stop()
            await super().stop()
            if catalog is None:
                shared.close()
            raise failure
        self._owns_catalog = catalog is None
        self.steps = runner

    async def stop(self) -> None:
        if self.steps is not None:
            await self.steps.stop()
            self.steps = None
        await super().stop()

    def task_counts(self) -> dict[str, int]:
        return {**self.counts, "RUNNING": len(self.running)}

    def capabilities(self) -> list[str]:
        return sorted(self.handlers)

    def mesh_state(self) -> AgentState:
        state = super().mesh_state()
        if not self.running:
            return state
        current = next(reversed(self.progress), None) if self.progress else next(iter(self.running))
        return AgentState(
            status="BUSY", current_task=current, progress=self.progress.get(current or ""), load=state.load
        )

    def extra_status(self) -> dict[str, Any]:
        return {
            "waiting": self.slots.waiting,
            "capabilities": sorted(self.handlers),
            "max_tasks": self.max_tasks,
            "rebuilt_finished": self.rebuilt,
            "resumed": self.resumed,
            "circuit": {
                "state": "open" if self.aside is not None else "closed",
                "failed_in_a_row": self.failed_in_a_row,
                "threshold": self._threshold()[0],
                "trips": self.trips,
            },
        }

    def on_partitions_assigned(self, partitions: list[TopicPartition]) -> None:
        consumer, catalog = self.consumer, self.catalog
        if consumer is None or catalog is None or not partitions:
            return
        committed = consumer.client.committed(partitions, timeout=10)
        start = {(tp.topic, tp.partition): tp.offset for tp in committed}
        # The replay's client lives in a thread of its own: the Kafka binding keeps per-thread state for the call
        # that runs this callback, which a nested client's calls would clear (an assertion kills the process).
        with ThreadPoolExecutor(1, thread_name_prefix=f"{self.agent_id}-rebuild") as thread:
            history = thread.submit(
                read_log, self.transport, catalog, self.topics, start=start, reader=self.agent_id
            ).result()
            aborted = thread.submit(self._started_uncommitted, start).result() if self.transactional else set()
        for task in history.tasks.values():
            if task.state in TERMINAL:
                self.finished.add(task.task_id)
                self.rebuilt += 1
                continue
            ids = {entry.event_id for entry in task.timeline} | aborted
            for entry in task.timeline:
                if entry.event != "ACCEPTED":
                    continue
                started = 0
                while started_id(entry.event_id, started + 1) in ids:
                    started += 1
                if started:
                    self.attempts[task.task_id] = max(started, self.attempts.get(task.task_id, 0))
                    if len(self.attempts) > 100_000:
                        self.attempts.popitem(last=False)

    def on_rewind(self) -> None:
        # Started over from the last commit: a task finished in the aborted transaction is not finished, and the
        # rebuild that follows finds again, from the log, what is.
        self.finished = _BoundedSet(self.finished.capacity)
        self.attempts.clear()
        self.canceled_early.clear()

    def _started_uncommitted(self, start: dict[tuple[str, int], int]) -> set[str]:
        """The ids on the partitions from ``start``, aborted records included: a run whose transaction was aborted
        (its executor died or was fenced before committing) may have done its handler's work, and its "started"
        record, still in the log though never read committed, makes the next run attempt 2, not 1 again."""
        try:
            found = event_ids(
                self.transport, {where: max(0, offset) for where, offset in start.items()}, reader=self.agent_id,
                committed=False,
            )  # fmt: skip
        except (TimeoutError, KafkaException) as error:
            log.warning("%s: reading the runs of aborted transactions failed: %r", self.agent_id, error)
            return set()
        return {event_id for event_id, _ in found}

    def expires(self, message: Inbound) -> bool:
        return self._runs(message)

    def addressed(self, headers: Any) -> str | bool:
        # Its own RUNNING and outcomes come back on task-responses: what they tell (a task of its own finished)
        # it recorded when it wrote them, so they are skipped unread.
        if header_text(headers, SOURCE_AGENT_HEADER) == self.agent_id:
            return False
        return super().addressed(headers)

    def lane(self, message: Inbound, key: bytes | None) -> bytes | None:
        # Only an ACCEPTED waits behind its task's earlier records. A cancel must reach the ACCEPTED's handler
        # while it waits or runs, and the task's own progress and outcome coming back are bookkeeping: queued
        # behind the running task they would hold read-ahead room that waiting tasks need.
        if message.record.get("status") == "ACCEPTED":
            return key
        return (key or b"") + _CONTROL_LANE

    def _runs(self, message: Inbound) -> bool:
        """Whether this executor's pool runs ``message``: an ACCEPTED addressed to the pool, or to no pool
        when this pool is the first, by name, of the live executor pools running its capability."""
        if message.kind != KIND_TASK_RESPONSE or message.record.get("status") != "ACCEPTED":
            return False
        if message.target_group is not None:
            return message.target_group == self.group_id
        router = self.mesh.router if self.mesh is not None else None
        if router is None:
            return True
        capability = str(message.record.get("capability") or "")
        pools = {pool for pool in map(router.pool_of, router.agents_for(capability, role=self.role)) if pool}
        return not pools or min(pools) == self.group_id

    async def handle(self, message: Inbound) -> None:
        if message.kind != KIND_TASK_RESPONSE:
            return
        status = message.record["status"]
        task_id = message.task_id
        if status in TERMINAL:
            self.finished.add(task_id)
            # Its ACCEPTED may be waiting here for a slot (read again after a rebalance while the task's previous
            # executor finished it): it never starts.
            self.slots.withdraw(task_id)
        elif status == CANCELING:
            await self._cancel(message)
        elif status == "ACCEPTED" and self._runs(message):
            if task_id in self.finished or task_id in self.held:
                self.counts["SKIPPED"] += 1
                return
            early = self.canceled_early.pop(task_id, None)
            if early is not None:
                await self._canceled(message, *early, before="before it started")
                return
            await self._hold(message)

    async def _hold(self, accepted: Inbound) -> None:
        """Waits for a slot, then runs the task; a cancel meanwhile ends the wait or the run."""
        task_id = accepted.task_id
        held = self.held[task_id] = _Held()
        try:
            level = PRIORITY_LEVELS.get(accepted.priority or "NORMAL", 1)
            try:
                if not self.slots.try_acquire(level):  # a slot free at once needs no coroutine to wait on
                    await self.slots.acquire(level, task_id)
            except asyncio.CancelledError:
                cancel = held.cancel
                if _cancelling() or (cancel is None and task_id not in self.finished):
                    raise
                if cancel is None or task_id in self.finished:
                    self._skip_finished(task_id)
                else:
                    await self._canceled(accepted, *_cause(cancel), before="before it started")
                return
            if self.aside is not None or self._aside_task is not None:
                # Stepping aside: the task is given back uncommitted, to whoever owns its partition next.
                self.slots.release()
                raise asyncio.CancelledError
            try:
                # Its outcome read while it waited, or, for a resumed run, written since the rebuild.
                if task_id in self.finished or (task_id in self.attempts and await self._outcome_in_log(accepted)):
                    self._skip_finished(task_id)
                    return
                with self.protocol_metrics.timer("a2a", "execute"):
                    await self._run(accepted, held)
            finally:
                self.slots.release()
        finally:
            del self.held[task_id]
            consumer = self.consumer
            if consumer is not None and consumer.held:  # admit_more, when a partition is held back
                consumer.let_go()

    async def _outcome_in_log(self, accepted: Inbound) -> bool:
        """Whether a resumed task's outcome is in the log after its ACCEPTED, or was read meanwhile: the run that was
        cut off may belong to an executor still alive (its group session ran out while a broker node was away)
        whose outcome reached the log after this executor's rebuild read it. Looked up right before the resumed
        run starts; the records read with its ACCEPTED are handled meanwhile."""
        task_id = accepted.task_id
        catalog = self.catalog
        if catalog is None:
            return False
        start = {(accepted.topic, accepted.partition): accepted.offset}
        read = partial(read_log, self.transport, catalog, self.topics, start=start, reader=self.agent_id)
        try:
            history = await asyncio.get_running_loop().run_in_executor(None, read)
        except (A2AError, KafkaException, TimeoutError) as error:
            log.warning("%s: looking for an outcome of %s before resuming it failed: %r", self.agent_id, task_id, error)
            return task_id in self.finished
        task = history.tasks.get(task_id)
        if task is not None and task.state in TERMINAL:
            self.finished.add(task_id)
        return task_id in self.finished

    def _skip_finished(self, task_id: str) -> None:
        """An accepted task whose outcome another executor wrote is not run (again) here."""
        self.attempts.pop(task_id, None)
        self.counts["SKIPPED"] += 1
        log.info("not run: %s has its outcome in the log already", task_id)

    async def _cancel(self, cancel: Inbound) -> None:
        """A CANCELING: ends the task held here; remembers one not here yet; answers one given to this pool that
        is not here and never will be."""
        task_id = cancel.task_id
        held = self.held.get(task_id)
        if held is not None:
            if held.cancel is None:
                held.cancel = cancel
                if not self.slots.withdraw(task_id) and held.runner is not None:
                    held.runner.cancel(cancel_note(*_cause(cancel)[1:]))
            return
        if task_id in self.finished or task_id in self.canceled_early:
            return
        if cancel.target_group is not None and cancel.target_group == self.group_id:
            # Addressed here, so its ACCEPTED came before it; yet the task is not here (that ACCEPTED was
            # dead-lettered, say): it has not run here and never will.
            await self._canceled(cancel, *_cause(cancel), before="before it started")
            return
        self.canceled_early[task_id] = _cause(cancel)
        if len(self.canceled_early) > 10_000:
            self.canceled_early.popitem(last=False)

    async def _canceled(
        self, about: Inbound, cancel_id: str, canceller: str, reason: str | None, before: str | None = None
    ) -> None:
        """Writes the CANCELED answering the CANCELING ``cancel_id`` of ``about``'s task (its ACCEPTED, or the
        CANCELING itself)."""
        record = about.record
        await self.publish(
            KIND_TASK_RESPONSE,
            cancel_record(
                about.task_id,
                self.agent_id,
                CANCELED,
                cancel_note(canceller, reason, before),
                capability=record.get("capability"),
                agreed_cost=record.get("agreed_cost"),
            ),
            target_agent=about.target_agent,
            collaboration_id=about.collaboration_id,
            traceparent=continue_trace(about.traceparent),
            event_id=derived_id(cancel_id, CANCELED),
        )
        self.counts[CANCELED] += 1
        self.finished.add(about.task_id)
        log.info("canceled by %s%s", canceller, f" {before}" if before else "")

    async def _run(self, accepted: Inbound, held: _Held) -> None:
        record = accepted.record
        task_id = accepted.task_id
        self.running.add(task_id)
        reports = 0
        attempt = self.attempts.pop(task_id, 0) + 1
        if attempt > 1:
            self.resumed += 1
        prefix = "" if attempt == 1 else f"attempt {attempt}/"
        same = {  # what every report of the task repeats
            "task_id": task_id,
            "responder_id": self.agent_id,
            "counter_offer": None,
            "agreed_cost": record.get("agreed_cost"),
            "message": None,
            "progress": None,
            "result": None,
            "capability": record.get("capability"),
            "description": None,
            "parameters": {},
            "round": record.get("round", 0),
        }

        async def report(status: str, **fields: Any) -> None:
            nonlocal reports
            reports += 1
            # The "started" record is in the log, acknowledged, before the handler runs: however the run ends, the
            # next one is attempt 2 (in transactions it is written outside them, see publish_marker).
            publish = self.publish_marker if reports == 1 and status == "RUNNING" else self.publish
            await publish(
                KIND_TASK_RESPONSE,
                {**same, "status": status, "timestamp": int(time.time() * 1000), **fields},
                target_agent=accepted.target_agent,
                collaboration_id=accepted.collaboration_id,
                traceparent=continue_trace(accepted.traceparent),
                event_id=derived_id(accepted.event_id, f"{prefix}{status}/{reports}"),
            )

        async def progress(fraction: float, note: str | None) -> None:
            self.progress[task_id] = fraction
            await report("RUNNING", progress=fraction, message=note)

        try:
            capability = (record.get("capability") or "").strip().lower()
            handler = self.handlers.get(capability)
            log.info("running %s (attempt %d)", capability, attempt)
            await progress(0.0, "started" if attempt == 1 else f"started again (attempt {attempt}): a run was cut off")
            if handler is None:
                raise LookupError(f"executor {self.agent_id} has no handler for capability {capability!r}")
            context = TaskContext(
                task_id=task_id,
                capability=capability,
                description=record.get("description") or "",
                parameters=dict(record.get("parameters") or {}),
                agreed_cost=record.get("agreed_cost"),
                requester_id=accepted.target_agent,
                _report=progress,
                attempt=attempt,
            )
            cancel = held.cancel  # asked for while the task was being started
            if cancel is not None:
                await self._canceled(accepted, *_cause(cancel))
                return
            # A handler that returns without suspending needs no Task, no timer and no future (and leaves its
            # record's handling without a Task either); one that suspends is finished by a Task, in the same context.
            started = handler(context)
            runner: asyncio.Future[Any] | None = None
            try:
                if not isinstance(started, CoroutineType):
                    runner = held.runner = run_eagerly(started)
                    outcome = await asyncio.wait_for(runner, self.task_timeout)
                else:
                    own = contextvars.copy_context()
                    try:
                        waiting = own.run(started.send, None)
                    except StopIteration as returned:
                        outcome = returned.value
                    else:
                        runner = held.runner = asyncio.get_running_loop().create_task(
                            finish_eagerly_started(started, waiting), context=own
                        )
                        outcome = await asyncio.wait_for(runner, self.task_timeout)
            except asyncio.CancelledError:
                cancel = held.cancel
                if cancel is None or (runner is not None and not runner.cancelled()) or _cancelling():
                    raise
                await self._canceled(accepted, *_cause(cancel))
                return
            except Exception as error:
                log.info("failed: %s: %s", type(error).__name__, error)
                await report("FAILED", message=f"{type(error).__name__}: {error}")
                self.counts["FAILED"] += 1
                self._task_failed()
            else:
                log.info("completed")
                await report("COMPLETED", progress=1.0, result=result_text(outcome))
                self.counts["COMPLETED"] += 1
                self.failed_in_a_row = 0
            self.finished.add(task_id)
        except LookupError as error:
            await report("FAILED", message=str(error))
            self.counts["FAILED"] += 1
            self.finished.add(task_id)
        finally:
            self.running.discard(task_id)
            self.progress.pop(task_id, None)


def started_id(accepted_id: str, attempt: int) -> str:
    """The ``ce_id`` of the "started" ``RUNNING`` of run ``attempt`` of the task accepted by ``accepted_id``."""
    return derived_id(accepted_id, "RUNNING/1" if attempt == 1 else f"attempt {attempt}/RUNNING/1")


def _cause(cancel: Inbound) -> tuple[str, str, str | None]:
    """What a CANCELED says of the CANCELING it answers: its id, its sender and the reason given."""
    return cancel.event_id, cancel.source_agent, cancel.record.get("message")
