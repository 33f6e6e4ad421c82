"""Cancelling a task: who may, what happens in each state, and the records that say so.

**Who.** The task's requester (:meth:`Requester.cancel <a2a_fast.agents.requester.Requester.cancel>`), and anyone
acting for it from what the log says (:class:`Canceller`: ``a2a-fast cancel`` and the MCP server's
``cancel_task``). A task the log does not hold is an :class:`~a2a_fast.errors.UnknownTaskError`, one already in a
final state a :class:`~a2a_fast.errors.TaskFinalError`, each naming the task.

**The records.** Both are ``TaskResponse`` records on ``task-responses``, keyed by the task id like every other
message of the task, so they take their place in the order of its partition:

* ``CANCELING`` asks for the cancel: its sender is the canceller, its ``message`` the reason. It is addressed
  to the task's requester (``ce_targetagent``) and, once a provider accepted the task, to the executor pool the
  ``ACCEPTED`` went to (``ce_targetgroup``), so that other pools skip it unread; before that, every executor
  pool reads it.
* ``CANCELED`` ends the task (a final state); its ``message`` says who canceled it, and why. The executor that
  holds the task writes it, with the agreed cost as on every report of its own; for a task never accepted, the
  canceller writes it, without one.

**What happens, by where the task stands when the CANCELING lands in its partition.**

* *Negotiating* (no ``ACCEPTED`` before it): the requester answers no more counter-offers, and the canceller,
  reading its CANCELING back with no ACCEPTED before it, writes CANCELED: the task ends without being accepted.
  A provider's answer still on its way may yet accept it, but that ACCEPTED comes after the CANCELING, and an
  executor that read a CANCELING of a task before its ACCEPTED never starts it (should one have lost that
  memory in a restart, the requester, reading the ACCEPTED, sends the cancel on to that ACCEPTED's pool).
* *Accepted, waiting for a slot*: the executor never starts it; it stops waiting and writes CANCELED.
* *Running*: the executor cancels the handler's coroutine, which sees :class:`asyncio.CancelledError` at the
  ``await`` it is at and may clean up before it re-raises it; then the executor writes CANCELED. A handler that
  swallows the cancellation and returns a result did the work: the task ends COMPLETED, as it says.
* *Final*: nothing changes. A cancel is refused before it is sent; one that raced the outcome is ignored, as
  the first final state of a task is the one it keeps.

Executors take CANCELING out of the task's lane (:meth:`Agent.lane <a2a_fast.agents.base.Agent.lane>`), so
it reaches the handler of the task's ACCEPTED while that waits or runs. A CANCELED has a ``ce_id`` derived from the
CANCELING it answers: handling a redelivered cancel again writes the same record, which readers drop.

**Agents on older schemas.** Up to v1 (kept as ``tests/fixtures/schemas/TaskResponse.v1.avsc``) the status enum
had neither symbol and no default. An agent still built with it resolves each record by its writer's schema id
(fetched from the registry), cannot resolve ``CANCELING`` or ``CANCELED`` against its own enum, and sends that
record to the dead-letter topic with ``dlq.stage=validation`` and a ``dlq.reason`` naming the symbol and the enum;
then it carries on with the next record. So a v1 executor does not cancel the tasks it runs (they end as they
would have), and a v1 requester never sees its task canceled. From v2 on the enum has the default ``UNKNOWN``,
so a status added later reaches this code as ``UNKNOWN``: kept on the timeline, otherwise ignored.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, Final

from a2a_fast.agents.base import Agent
from a2a_fast.errors import TaskFinalError
from a2a_fast.history.tasks import TaskHistory, TimelineEntry
from a2a_fast.history.view import MeshView
from a2a_fast.observability.tracing import continue_trace
from a2a_fast.protocol.ids import derived_id
from a2a_fast.protocol.kinds import KIND_TASK_RESPONSE

__all__ = ["CANCELED", "CANCELING", "Canceller", "cancel_note", "cancel_record", "ensure_cancellable"]

log = logging.getLogger("a2a_fast.agents.cancel")

CANCELING: Final = "CANCELING"
CANCELED: Final = "CANCELED"


def cancel_note(canceller: str, reason: str | None, before: str | None = None) -> str:
    """The ``message`` of a CANCELED: ``canceled by ops-1 before it started: no longer needed``."""
    note = f"canceled by {canceller}" + (f" {before}" if before else "")
    return f"{note}: {reason}" if reason else note


def cancel_record(
    task_id: str,
    responder: str,
    status: str,
    message: str | None,
    *,
    capability: str | None = None,
    agreed_cost: float | None = None,
) -> dict[str, Any]:
    """A CANCELING or CANCELED ``TaskResponse`` record."""
    return {
        "task_id": task_id,
        "responder_id": responder,
        "status": status,
        "counter_offer": None,
        "agreed_cost": agreed_cost,
        "message": message,
        "progress": None,
        "result": None,
        "capability": capability,
        "description": None,
        "parameters": {},
        "round": 0,
        "timestamp": int(time.time() * 1000),
    }


def ensure_cancellable(task: TaskHistory) -> None:
    """Raises :class:`TaskFinalError` naming ``task`` when it has already ended."""
    if task.final:
        ended = f": {task.error}" if task.error else ""
        raise TaskFinalError(f"task {task.task_id} is already {task.state}{ended}; there is nothing to cancel")


def accepted_before(task: TaskHistory, entry: TimelineEntry) -> bool:
    """Whether an ACCEPTED of ``task`` precedes ``entry`` in their partition (both are task responses, keyed by
    the task id, so they share one)."""
    return any(
        seen.event == "ACCEPTED" and seen.topic == entry.topic and seen.offset < entry.offset for seen in task.timeline
    )


class Canceller:
    """Cancels tasks of any requester from what the log says: publishes as ``agent`` (any started agent) and
    follows the task topics with ``view`` (a started :class:`~a2a_fast.history.view.MeshView`)."""

    def __init__(self, agent: Agent, view: MeshView) -> None:
        self.agent = agent
        self.view = view

    async def cancel(self, wanted: str, reason: str | None = None, patience: float = 30.0) -> TaskHistory:
        """Asks for the cancel of the task ``wanted`` (its id, or a prefix only it has) and returns the task, as
        the view holds it (and goes on updating it), once the log shows the CANCELING; ``view.wait_for`` then
        follows it to its final state.

        Raises :class:`~a2a_fast.errors.UnknownTaskError` or :class:`TaskFinalError` naming the task, and
        :class:`TimeoutError` when the CANCELING is not seen in the log within ``patience`` seconds.
        """
        task = self.view.log.find(wanted)
        ensure_cancellable(task)
        accepted = task.accepted_at is not None
        event_id = uuid.uuid4().hex
        await self.agent.publish(
            KIND_TASK_RESPONSE,
            cancel_record(
                task.task_id,
                self.agent.agent_id,
                CANCELING,
                reason,
                capability=task.capability,
                agreed_cost=task.agreed_cost if accepted else None,
            ),
            target_agent=task.requester,
            collaboration_id=task.collaboration_id or task.task_id,
            traceparent=continue_trace(task.traceparent),
            event_id=event_id,
            target_group=task.executor_pool if accepted else None,
        )
        log.info("asked for the cancel of %s (%s)", task.task_id, task.state)
        seen = await asyncio.wait_for(
            self.view.wait_for(task.task_id, lambda found: _entry(found, event_id) is not None), patience
        )
        entry = _entry(seen, event_id)
        assert entry is not None
        # The requester itself answers a CANCELING it sent when it reads it back; anyone else answers their own.
        if not seen.final and seen.requester != self.agent.agent_id and not accepted_before(seen, entry):
            await self.agent.publish(
                KIND_TASK_RESPONSE,
                cancel_record(
                    task.task_id,
                    self.agent.agent_id,
                    CANCELED,
                    cancel_note(self.agent.agent_id, reason, "before it was accepted"),
                    capability=task.capability,
                ),
                target_agent=task.requester,
                collaboration_id=task.collaboration_id or task.task_id,
                traceparent=continue_trace(task.traceparent),
                event_id=derived_id(event_id, CANCELED),
            )
        return seen


def _entry(task: TaskHistory, event_id: str) -> TimelineEntry | None:
    return next((entry for entry in task.timeline if entry.event_id == event_id), None)
