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

**Priority.** An ``ACCEPTED`` carries its request's priority (``ce_priority``: HIGH, NORMAL, LOW). Tasks
waiting for a slot are started highest priority first, then in arrival order (:class:`PrioritySlots`),
and ``reserved`` slots (default 1) are never given to LOW tasks, so a HIGH task starts at once even when
a LOW backlog holds every other slot. Ordering applies to the records already read: ``max_in_flight``
of the :class:`~a2a_fast.agents.base.AgentConfig` is how far the executor reads ahead of the running tasks.

Handlers are ``async def handler(task: TaskContext) -> JSON-able result``; raising fails the task.

The same handlers run the workflow steps addressed to this executor: with ``serve_steps`` (the default) a
:class:`~a2a_fast.agents.steps.StepRunner` with this executor's id runs beside it, started and stopped
with it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from confluent_kafka import TopicPartition

from a2a_fast.agents.base import Agent, AgentConfig, pool_group
from a2a_fast.agents.steps import StepRunner
from a2a_fast.agents.tasks import TaskContext, TaskHandler
from a2a_fast.history.tasks import read_log
from a2a_fast.mesh.directory import AgentCard, AgentState
from a2a_fast.observability.tracing import continue_trace
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.ids import derived_id
from a2a_fast.protocol.kinds import KIND_TASK_RESPONSE
from a2a_fast.protocol.limits import PRIORITY_LEVELS
from a2a_fast.transport.registry import SchemaCatalog

__all__ = ["Executor", "PrioritySlots"]

log = logging.getLogger("a2a_fast.agents.executor")
TERMINAL = frozenset({"COMPLETED", "FAILED"})


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

    ``reserved`` of the slots are only given to waiters of level ``reserved_for`` or above.
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

    @property
    def waiting(self) -> int:
        return sum(1 for *_, future in self._waiters if not future.done())

    def _may_take(self, level: int) -> bool:
        limit = self.size if level >= self.reserved_for else self.size - self.reserved
        return self.in_use < limit

    async def acquire(self, level: int) -> None:
        if not self._waiters and self._may_take(level):
            self.in_use += 1
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-level, next(self._arrivals), future))
        self._grant()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted just as it was cancelled
            raise

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


class Executor(Agent):
    """Runs accepted tasks with ``handlers`` (capability → async handler), at most ``max_tasks`` at once."""

    role = "executor"

    def __init__(
        self,
        config: AgentConfig,
        handlers: Mapping[str, TaskHandler] | None = None,
        max_tasks: int = 8,
        task_timeout: float | None = None,
        serve_steps: bool = True,
        reserved: int | None = None,
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
        self.counts = {"COMPLETED": 0, "FAILED": 0, "SKIPPED": 0}
        self.rebuilt = 0
        self.serve_steps = serve_steps
        self.steps: Agent | None = None

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
            shared = await asyncio.get_running_loop().run_in_executor(None, self._prepare)
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
        }

    def on_partitions_assigned(self, partitions: list[TopicPartition]) -> None:
        consumer, catalog = self.consumer, self.catalog
        if consumer is None or catalog is None or not partitions:
            return
        committed = consumer.client.committed(partitions, timeout=10)
        start = {(tp.topic, tp.partition): tp.offset for tp in committed}
        log = read_log(self.transport, catalog, self.topics, start=start, reader=self.agent_id)
        for task in log.tasks.values():
            if task.state in TERMINAL:
                self.finished.add(task.task_id)
                self.rebuilt += 1

    def expires(self, message: Inbound) -> bool:
        return self._runs(message)

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
        if status in TERMINAL:
            self.finished.add(message.task_id)
        elif status == "ACCEPTED" and self._runs(message):
            if message.task_id in self.finished or message.task_id in self.running:
                self.counts["SKIPPED"] += 1
                return
            level = PRIORITY_LEVELS.get(message.priority or "NORMAL", 1)
            await self.slots.acquire(level)
            try:
                with self.protocol_metrics.timer("a2a", "execute"):
                    await self._run(message)
            finally:
                self.slots.release()

    async def _run(self, accepted: Inbound) -> None:
        record = accepted.record
        task_id = accepted.task_id
        self.running.add(task_id)
        reports = 0

        async def report(status: str, **fields: Any) -> None:
            nonlocal reports
            reports += 1
            await self.publish(
                KIND_TASK_RESPONSE,
                {
                    "task_id": task_id,
                    "responder_id": self.agent_id,
                    "status": status,
                    "counter_offer": None,
                    "agreed_cost": record.get("agreed_cost"),
                    "message": None,
                    "progress": None,
                    "result": None,
                    "capability": record.get("capability"),
                    "description": None,
                    "parameters": {},
                    "round": record.get("round", 0),
                    "timestamp": int(time.time() * 1000),
                    **fields,
                },
                target_agent=accepted.target_agent,
                collaboration_id=accepted.collaboration_id,
                traceparent=continue_trace(accepted.traceparent),
                event_id=derived_id(accepted.event_id, f"{status}/{reports}"),
            )

        async def progress(fraction: float, note: str | None) -> None:
            self.progress[task_id] = fraction
            await report("RUNNING", progress=fraction, message=note)

        try:
            capability = (record.get("capability") or "").strip().lower()
            handler = self.handlers.get(capability)
            log.info("running %s", capability)
            await progress(0.0, "started")
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
            )
            try:
                outcome = await asyncio.wait_for(handler(context), self.task_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.info("failed: %s: %s", type(error).__name__, error)
                await report("FAILED", message=f"{type(error).__name__}: {error}")
                self.counts["FAILED"] += 1
            else:
                log.info("completed")
                await report("COMPLETED", progress=1.0, result=json.dumps(outcome, default=str))
                self.counts["COMPLETED"] += 1
            self.finished.add(task_id)
        except LookupError as error:
            await report("FAILED", message=str(error))
            self.counts["FAILED"] += 1
            self.finished.add(task_id)
        finally:
            self.running.discard(task_id)
            self.progress.pop(task_id, None)
