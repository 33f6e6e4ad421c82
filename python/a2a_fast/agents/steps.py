"""The agent side of workflow steps: runs the step requests addressed to one agent with its task handlers.

See :mod:`a2a_fast.workflows`; every :class:`~a2a_fast.agents.executor.Executor` runs a :class:`StepRunner`
beside itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import replace

from a2a_fast.agents.base import Agent, AgentConfig
from a2a_fast.agents.tasks import TaskContext, TaskHandler, result_text
from a2a_fast.mesh.directory import AgentCard
from a2a_fast.observability.tracing import child_traceparent
from a2a_fast.protocol.envelope import Inbound, json_or_text
from a2a_fast.protocol.ids import derived_id
from a2a_fast.protocol.kinds import KIND_STEP_REQUEST, KIND_STEP_RESULT
from a2a_fast.workflows.sessions import COMPLETED, FAILED, TIMED_OUT, millis

__all__ = ["StepRunner"]


async def _no_progress(_fraction: float, _message: str | None) -> None:
    return None


class StepRunner(Agent):
    """Runs the workflow steps addressed to ``config.agent_id`` with ``handlers`` (capability → handler).

    It reads ``collaborations`` in its own group ``<topic prefix>steps-<agent id>``, skips step requests
    addressed to other agents and those whose timeout already passed (the coordinator has given up on them),
    and answers each of its own with a ``StepResult`` to the coordinator. A handler still running when the
    step's timeout passes is cancelled and answered ``TIMED_OUT``.

    Run on its own, it joins the mesh directory like every agent, offering its handlers' capabilities;
    beside an executor it stays out of it (``join_mesh=False``), as the executor is listed already.
    """

    role = "step-runner"
    transactions_wait_for_handlers = False  # its handlers run for as long as their tasks do

    def __init__(self, config: AgentConfig, handlers: Mapping[str, TaskHandler]) -> None:
        super().__init__(config)
        self.handlers = handlers
        self.counts = {COMPLETED: 0, FAILED: 0, TIMED_OUT: 0, "IGNORED": 0, "EXPIRED": 0}

    def card(self) -> AgentCard:
        card = super().card()
        return replace(card, resources={**card.resources, "steps": True})

    def capabilities(self) -> list[str]:
        return sorted(name.strip().lower() for name in self.handlers)

    def default_group(self) -> str:
        return f"{self.topics.prefix}steps-{self.agent_id}"

    def subscriptions(self) -> list[str]:
        return [self.topics.collaborations]

    def task_counts(self) -> dict[str, int]:
        return dict(self.counts)

    def expires(self, message: Inbound) -> bool:
        # Every runner reads the whole topic in a group of its own: only the step requests addressed to it are
        # its to dead-letter when late, or each runner would write its own copy.
        return message.kind == KIND_STEP_REQUEST and message.target_agent == self.agent_id

    async def handle(self, message: Inbound) -> None:
        if message.kind != KIND_STEP_REQUEST:
            return
        if message.target_agent != self.agent_id:
            self.counts["IGNORED"] += 1
            return
        record = message.record
        remaining = (record["timestamp"] + record["timeout_ms"]) / 1000 - time.time()
        if remaining <= 0:
            self.counts["EXPIRED"] += 1
            return
        capability = record["capability"].strip().lower()
        handler = {name.strip().lower(): h for name, h in self.handlers.items()}.get(capability)
        output: str | None = None
        error: str | None = None
        if handler is None:
            status, error = FAILED, f"agent {self.agent_id} has no handler for capability {capability!r}"
        else:
            context = TaskContext(
                task_id=f"{message.task_id}/{record['step_name']}",
                capability=capability,
                description=record.get("description") or "",
                parameters=dict(record.get("parameters") or {}),
                agreed_cost=None,
                requester_id=record["coordinator_id"],
                _report=_no_progress,
                previous_output=json_or_text(record.get("input")),
                collaboration_id=message.collaboration_id or message.task_id,
            )
            try:
                outcome = await asyncio.wait_for(handler(context), remaining)
            except TimeoutError:
                status, error = TIMED_OUT, f"{self.agent_id} did not finish within {record['timeout_ms'] / 1000:g}s"
            except asyncio.CancelledError:
                raise
            except Exception as failure:
                status, error = FAILED, f"{type(failure).__name__}: {failure}"
            else:
                status, output = COMPLETED, result_text(outcome)
        self.counts[status] += 1
        await self.publish(
            KIND_STEP_RESULT,
            {
                "task_id": message.task_id,
                "step_index": record["step_index"],
                "step_name": record["step_name"],
                "attempt": record["attempt"],
                "agent_id": self.agent_id,
                "status": status,
                "output": output,
                "error": error,
                "timestamp": millis(time.time()),
            },
            target_agent=record["coordinator_id"],
            collaboration_id=message.collaboration_id or message.task_id,
            traceparent=child_traceparent(message.traceparent),
            event_id=derived_id(message.event_id, "result"),
        )
