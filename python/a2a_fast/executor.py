"""The executor role: runs each accepted task once, with a handler registered for its capability.

Executors read ``task-responses`` in the consumer group ``executors``; Kafka gives each partition (and so,
as records are keyed by task id, each task) to exactly one member, so of several executors exactly one
sees a given ``ACCEPTED``. For each one the executor publishes ``RUNNING`` (progress 0, then whatever
the handler reports), then ``COMPLETED`` with the handler's JSON result or ``FAILED`` with the error.
At most ``max_tasks`` tasks run at once; beyond that the runtime stops consuming.

**Exactly once.** The ``ACCEPTED`` offset is committed only after ``COMPLETED``/``FAILED`` was
acknowledged, so a crashed executor's tasks are redelivered to the member that inherits its partitions.
That member first rebuilds, from the log, which tasks already reached ``COMPLETED`` or ``FAILED``: when
partitions are assigned it reads them from the committed offset to their end (:func:`a2a_fast.runtime.replay`)
before handling any record, so a redelivered ``ACCEPTED`` of a finished task is skipped, while a task
that was only ``RUNNING`` when its executor died is run again. Before partitions move in a rebalance the
runtime lets running tasks finish, so two executors never run the same task side by side. The window
left is a crash after a handler returned but before its ``COMPLETED`` was acknowledged: then the task
runs again, so handlers with outside effects should be idempotent per ``task_id``.

Handlers are ``async def handler(task: TaskContext) -> JSON-able result``; raising fails the task.

The same handlers run the workflow steps addressed to this executor: with ``serve_steps`` (the default) a
:class:`~a2a_fast.mesh.workflows.StepRunner` with this executor's id runs beside it, started and stopped
with it, and lists the executor and its capabilities in the mesh directory.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from confluent_kafka import TopicPartition

from a2a_fast.envelope import KIND_TASK_RESPONSE, Inbound
from a2a_fast.provider import derived_id
from a2a_fast.runtime import Agent, AgentConfig, replay

__all__ = ["Executor", "TaskContext", "TaskHandler"]

TERMINAL = frozenset({"COMPLETED", "FAILED"})


@dataclass
class TaskContext:
    """What a handler gets: the task's inputs, and :meth:`progress` to report how far it is.

    A workflow step (:mod:`a2a_fast.mesh.workflows`) runs the same handlers: ``task_id`` is then
    ``<session id>/<step name>``, ``collaboration_id`` the session id and ``previous_output`` the output
    of the session's previous successful step (None for the first step).
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

    async def progress(self, fraction: float, message: str | None = None) -> None:
        """Publishes ``RUNNING`` with ``fraction`` (0.0 to 1.0) done."""
        await self._report(min(1.0, max(0.0, fraction)), message)


TaskHandler = Callable[[TaskContext], Awaitable[Any]]


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
    ) -> None:
        super().__init__(config)
        self.handlers: dict[str, TaskHandler] = {}
        for capability, handler in (handlers or {}).items():
            self.register(capability, handler)
        self.max_tasks = max_tasks
        self.task_timeout = task_timeout
        self._slots = asyncio.Semaphore(max_tasks)
        self.finished = _BoundedSet(1_000_000)
        self.running: set[str] = set()
        self.counts = {"COMPLETED": 0, "FAILED": 0, "SKIPPED": 0}
        self.rebuilt = 0
        self.serve_steps = serve_steps
        self.steps: Agent | None = None

    def register(self, capability: str, handler: TaskHandler) -> None:
        """Makes ``handler`` run the tasks of ``capability`` (case-insensitive)."""
        self.handlers[capability.strip().lower()] = handler

    def subscriptions(self) -> list[str]:
        return [self.topics.responses]

    async def start(self) -> None:
        await super().start()
        if self.serve_steps and self.steps is None:
            from a2a_fast.mesh.workflows import StepRunner  # it builds on this module

            config = replace(self.config, group_id=None, http_port=None)
            runner = StepRunner(config, self.handlers, announce=self.role)
            try:
                await runner.start()
            except BaseException:
                await super().stop()
                raise
            self.steps = runner

    async def stop(self) -> None:
        if self.steps is not None:
            await self.steps.stop()
            self.steps = None
        await super().stop()

    def task_counts(self) -> dict[str, int]:
        return {**self.counts, "RUNNING": len(self.running)}

    def extra_status(self) -> dict[str, Any]:
        return {
            "capabilities": sorted(self.handlers),
            "max_tasks": self.max_tasks,
            "rebuilt_finished": self.rebuilt,
        }

    def on_partitions_assigned(self, partitions: list[TopicPartition]) -> None:
        consumer, catalog = self._consumer, self.catalog
        if consumer is None or catalog is None or not partitions:
            return
        committed = consumer.committed(partitions, timeout=10)
        start = {(tp.topic, tp.partition): tp.offset for tp in committed}
        for message in replay(self.config, catalog, start):
            if message.kind == KIND_TASK_RESPONSE and message.record["status"] in TERMINAL:
                self.finished.add(message.task_id)
                self.rebuilt += 1

    async def handle(self, message: Inbound) -> None:
        if message.kind != KIND_TASK_RESPONSE:
            return
        status = message.record["status"]
        if status in TERMINAL:
            self.finished.add(message.task_id)
        elif status == "ACCEPTED":
            if message.task_id in self.finished or message.task_id in self.running:
                self.counts["SKIPPED"] += 1
                return
            async with self._slots:
                await self._run(message)

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
                traceparent=accepted.traceparent,
                event_id=derived_id(accepted.event_id, f"{status}/{reports}"),
            )

        async def progress(fraction: float, note: str | None) -> None:
            await report("RUNNING", progress=fraction, message=note)

        try:
            capability = (record.get("capability") or "").strip().lower()
            handler = self.handlers.get(capability)
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
                await report("FAILED", message=f"{type(error).__name__}: {error}")
                self.counts["FAILED"] += 1
            else:
                await report("COMPLETED", progress=1.0, result=json.dumps(outcome, default=str))
                self.counts["COMPLETED"] += 1
            self.finished.add(task_id)
        except LookupError as error:
            await report("FAILED", message=str(error))
            self.counts["FAILED"] += 1
            self.finished.add(task_id)
        finally:
            self.running.discard(task_id)
