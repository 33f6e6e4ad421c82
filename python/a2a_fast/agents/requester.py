"""The requester role: asks the mesh for work, negotiates the price, and awaits the outcome.

``await requester.request_task("Summarise the report", 80.0, capability="summarize")`` publishes a
``TaskRequest`` on ``task-requests`` and resolves to a :class:`TaskOutcome` once the task reaches a final
state: ``COMPLETED`` (with the executor's result), ``FAILED`` (with its error), ``REJECTED`` (by the
provider, or because this requester gave up) or ``CANCELED``. On the way the requester answers every
counter-offer with its :class:`~a2a_fast.agents.policies.BudgetPolicy` on ``negotiations``.

``await requester.cancel(task_id, reason)`` asks for the cancel of one of its open tasks; :meth:`Requester.outcome`
then resolves to ``CANCELED`` (or to the state the task reached first). From the moment of the cancel, or of
reading anyone's ``CANCELING`` of one of its tasks, it answers no more counter-offers; it ends a task never
accepted itself, once it reads its own CANCELING back with no ACCEPTED before it, and it sends the cancel on to
the pool of an ACCEPTED that comes after a cancel. See :mod:`a2a_fast.agents.cancel` for the whole protocol.

The requester reads ``task-responses`` in its own consumer group (``requester-<id>``), so it sees every
response and keeps those addressed to it (``ce_targetagent``). Its open tasks are rebuilt from the log
at start-up by :func:`a2a_fast.history.tasks.read_log` (the same fold ``a2a-fast replay`` uses): the requests it
published, their responses and its own negotiation turns, read to their current end, so
:meth:`Requester.get_pending_requests` survives a restart and the negotiation carries on where it stood
(with the budget given at start-up, since budgets are private and never published).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from a2a_fast.agents.base import Agent, AgentConfig
from a2a_fast.agents.cancel import CANCELED, CANCELING, cancel_note, cancel_record
from a2a_fast.agents.policies import BudgetPolicy
from a2a_fast.errors import TaskFinalError, UnknownTaskError
from a2a_fast.history.tasks import FINAL_STATES, OPEN_STATES, UNKNOWN_STATUS, TaskHistory, read_log
from a2a_fast.observability.logs import log_context
from a2a_fast.observability.metrics import LATENCY_BUCKETS, ROUND_BUCKETS
from a2a_fast.observability.tracing import continue_trace, span
from a2a_fast.protocol.envelope import TARGET_AGENT_HEADER, TARGET_GROUP_HEADER, Inbound, header_texts, json_or_text
from a2a_fast.protocol.ids import derived_id, random_id
from a2a_fast.protocol.kinds import KIND_NEGOTIATION, KIND_TASK_REQUEST, KIND_TASK_RESPONSE
from a2a_fast.protocol.limits import priority_name

__all__ = ["PendingRequest", "Requester", "TaskOutcome"]

log = logging.getLogger("a2a_fast.agents.requester")

_CLOCK_MARGIN = 60.0


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """How a task ended. ``latency`` is seconds from request to final state; ``rounds`` the number of
    counter-offers; ``result`` the executor's JSON result (decoded) when COMPLETED; ``error`` the reason
    when FAILED, REJECTED or CANCELED. ``status`` is ``TIMED_OUT`` when the caller's timeout expired first."""

    status: str
    task_id: str
    agreed_cost: float | None
    rounds: int
    result: Any
    error: str | None
    latency: float
    capability: str
    provider: str | None = None
    executor: str | None = None


@dataclass
class PendingRequest:
    """A request not finished yet, as :meth:`Requester.get_pending_requests` reports it."""

    task_id: str
    capability: str
    description: str
    parameters: dict[str, str]
    proposed_cost: float | None
    budget: float
    state: str = "PENDING"
    rounds: int = 0
    last_offer: float | None = None
    agreed_cost: float | None = None
    progress: float | None = None
    provider: str | None = None
    executor: str | None = None
    started: float = field(default_factory=time.time)
    traceparent: str | None = None
    pool: str | None = None
    """The providers' consumer group the request was addressed to; its negotiation turns go there too."""
    executor_pool: str | None = None
    """The executors' consumer group its ACCEPTED was addressed to; a cancel goes there too."""
    accepted_offset: int | None = None
    """Where in its partition of ``task-responses`` the task was accepted, once it was."""
    canceling: bool = False
    """A cancel was asked for (by this requester, or by anyone for it): no more counter-offers are answered."""
    cancel_sent: bool = False
    """This requester itself asked for the cancel."""
    cancel_offset: int | None = None
    """Where the first CANCELING of the task is in its partition, once read."""


class BudgetBook:
    """The budgets given to :meth:`Requester.submit`, kept in the agent's state folder so that a restarted requester
    negotiates its open tasks within them: a budget is the requester's own limit and never goes on the log its
    providers read. One line per task (``<task id> <budget>``), appended with one write that a crash cannot cut in
    two; rewritten with the open tasks only at a restart and whenever finished ones outnumber them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._written = 0
        self._broken = False

    @classmethod
    def for_agent(cls, state_dir: Path, bootstrap: str, topic: str, agent_id: str) -> BudgetBook:
        name = hashlib.sha256(f"{bootstrap}\n{topic}\n{agent_id}".encode()).hexdigest()[:32]
        return cls(state_dir / "budgets" / f"{name}.txt")

    def read(self) -> dict[str, float]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return {}
        budgets: dict[str, float] = {}
        for line in lines:
            task_id, _, amount = line.partition(" ")
            try:
                budgets[task_id] = float(amount)
            except ValueError:
                continue  # a line cut short by a full disk: that task falls back to the policy's limit
        return budgets

    def keep(self, budgets: dict[str, float]) -> None:
        """Rewrites the book with ``budgets`` only (the open tasks'), then appends to it."""
        self.close()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fresh = self.path.with_suffix(".new")
            fresh.write_text("".join(f"{task} {amount!r}\n" for task, amount in budgets.items()), encoding="utf-8")
            os.chmod(fresh, 0o600)
            os.replace(fresh, self.path)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as error:
            self._give_up(error)
        self._written = len(budgets)

    def add(self, task_id: str, budget: float, open_tasks: dict[str, float]) -> None:
        if self._broken:
            return
        if self._fd is None or self._written > 2 * len(open_tasks) + 10_000:
            self.keep(open_tasks)
            if self._fd is None:
                return
        try:
            os.write(self._fd, f"{task_id} {budget!r}\n".encode())
            self._written += 1
        except OSError as error:
            self._give_up(error)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _give_up(self, error: OSError) -> None:
        self.close()
        self._broken = True
        log.warning("budget book %s: %s; a restart negotiates open tasks within the policy's limit", self.path, error)


class Requester(Agent):
    """Publishes task requests and negotiates them with ``policy``."""

    role = "requester"
    reads_directory = True

    def __init__(self, config: AgentConfig, policy: BudgetPolicy | None = None, resume: bool = True) -> None:
        super().__init__(config)
        self.policy = policy or BudgetPolicy()
        self.resume = resume
        """Whether :meth:`start` rebuilds this requester's open requests from the log (a requester that
        never ran under this id has none to rebuild)."""
        self._pending: dict[str, PendingRequest] = {}
        self._budgets: dict[str, float] = {}
        """The budgets given to :meth:`submit` for the open tasks, kept in :attr:`budget_book` too."""
        self.budget_book = (
            BudgetBook.for_agent(config.state_dir, self.transport.bootstrap, self.topics.requests, self.agent_id)
            if resume and config.state_dir is not None
            else None
        )
        """Where a requester that resumes (its id outlives its process) keeps those budgets for its restart."""
        self._waiters: dict[str, list[asyncio.Future[TaskOutcome | None]]] = {}
        """The callers of :meth:`outcome` waiting, by task id."""
        self._recent: OrderedDict[str, TaskOutcome] = OrderedDict()  # outcomes, for late outcome() calls
        self.outcomes: Counter[str] = Counter()
        self.resumed = 0
        self.on_update: Callable[[PendingRequest, Inbound], None] | None = None
        """Called with the request and the response each time one of this requester's tasks changes state."""

    def default_group(self) -> str:
        return f"{self.topics.prefix}requester-{self.agent_id}"

    def subscriptions(self) -> list[str]:
        return [self.topics.responses]

    def addressed(self, headers: Any) -> str | bool:
        # Only the responses addressed to this requester are its business; the rest are other requesters'.
        # Their target group is kept: an ACCEPTED's names the executors' pool a cancel must go to.
        target_agent, target_group = header_texts(headers, TARGET_AGENT_HEADER, TARGET_GROUP_HEADER)
        if target_agent != self.agent_id:
            return False
        return target_group or True

    def consume_from(self) -> float | None:
        # A requester's group with nothing committed yet starts shortly before the requester did: its own
        # requests, and so the responses to them, come later. The margin covers senders whose clocks run
        # behind; the history before it is not this requester's.
        return self._started_at - _CLOCK_MARGIN

    def expires(self, message: Inbound) -> bool:
        return message.task_id in self._pending

    def task_counts(self) -> dict[str, int]:
        states = Counter(pending.state for pending in self._pending.values())
        return {**states, **self.outcomes}

    def get_pending_requests(self) -> list[PendingRequest]:
        """Copies of the requests still open, oldest first."""
        return sorted((replace(pending) for pending in self._pending.values()), key=lambda p: p.started)

    async def request_task(
        self,
        description: str,
        proposed_cost: float | None = None,
        *,
        capability: str,
        priority: int = 1,
        parameters: dict[str, str] | None = None,
        budget: float | None = None,
        max_wait: float | None = None,
    ) -> TaskOutcome:
        """Requests a task and waits for its final outcome (or ``max_wait`` seconds: ``TIMED_OUT``).

        ``budget`` is the most this requester will pay (default: the policy's budget, else the
        proposed cost).
        """
        # The request's acknowledgement is not waited for on its own: a request that is not delivered fails the
        # wait for its outcome instead (one wake-up per task fewer).
        task_id = await self._submit(description, proposed_cost, capability, priority, parameters, budget, False)
        found = await self._outcome(task_id, max_wait)
        if found is not None:
            return found
        pending = self._pending.get(task_id)
        return TaskOutcome(
            "TIMED_OUT",
            task_id,
            pending.agreed_cost if pending else None,
            pending.rounds if pending else 0,
            None,
            f"no final state within {max_wait}s",
            time.time() - (pending.started if pending else time.time()),
            capability,
        )

    async def submit(
        self,
        description: str,
        proposed_cost: float | None = None,
        *,
        capability: str,
        priority: int = 1,
        parameters: dict[str, str] | None = None,
        budget: float | None = None,
    ) -> str:
        """Publishes a request and returns its task id once the broker has it; :meth:`outcome` awaits the result."""
        return await self._submit(description, proposed_cost, capability, priority, parameters, budget, True)

    async def _submit(
        self,
        description: str,
        proposed_cost: float | None,
        capability: str,
        priority: int,
        parameters: dict[str, str] | None,
        budget: float | None,
        acknowledged: bool,
    ) -> str:
        """:meth:`submit`; unless ``acknowledged``, returns once the request is handed to the producer, and a request
        not delivered fails the waits for its outcome (:meth:`_outcome`) with the KafkaException."""
        task_id = random_id()
        limit = budget if budget is not None else self.policy.limit(proposed_cost)
        if budget is not None:
            self._budgets[task_id] = budget
            if self.budget_book is not None:
                self.budget_book.add(task_id, budget, self._budgets)
        pending = PendingRequest(
            task_id,
            capability,
            description,
            dict(parameters or {}),
            proposed_cost,
            limit,
            last_offer=proposed_cost,
        )
        assert self._loop is not None, "requester not started"
        self._pending[task_id] = pending
        attributes = {"a2a.agent_id": self.agent_id, "a2a.task_id": task_id, "a2a.capability": capability}
        # The request starts the task's trace: every hop after it continues this span.
        with (
            log_context(agent_id=self.agent_id, task_id=task_id, correlation_id=task_id),
            span("requester request", None, attributes) as trace,
        ):
            pending.traceparent = trace
            pending.pool = self._provider_pool(capability)
            log.info("requesting %s at %s from %s", capability, proposed_cost, pending.pool or "any provider")
            if pending.pool == "":
                await self._reject_unserved(pending, priority)
            else:
                await self._publish_request(pending, priority, acknowledged=acknowledged)
        return task_id

    def _provider_pool(self, capability: str) -> str | None:
        """The pool of a live provider offering ``capability``, chosen by the router (priority tiers, then
        the routing strategy); ``""`` when no live provider offers it; None without a directory."""
        router = self.mesh.router if self.mesh is not None else None
        if router is None:
            return None
        chosen = router.route(capability, role="provider")
        if chosen is None:
            return ""
        return router.pool_of(chosen)

    async def _reject_unserved(self, pending: PendingRequest, priority: int) -> None:
        """No live provider offers the capability: the request goes on the log addressed to this requester's
        own group, which no provider reads, and so does its rejection, which ends it."""
        await self._publish_request(pending, priority, pool=self.group_id)
        await self.publish(
            KIND_TASK_RESPONSE,
            {
                "task_id": pending.task_id,
                "responder_id": self.agent_id,
                "status": "REJECTED",
                "counter_offer": None,
                "agreed_cost": None,
                "message": f"no live provider offers capability {pending.capability!r}",
                "progress": None,
                "result": None,
                "capability": pending.capability,
                "description": None,
                "parameters": {},
                "round": 0,
                "timestamp": int(time.time() * 1000),
            },
            target_agent=self.agent_id,
            collaboration_id=pending.task_id,
            traceparent=continue_trace(pending.traceparent),
            event_id=derived_id(pending.task_id, "unserved"),
            priority=priority_name(priority),
        )

    async def _publish_request(
        self, pending: PendingRequest, priority: int, pool: str | None = None, *, acknowledged: bool = True
    ) -> None:
        task_id = pending.task_id
        record = {
            "task_id": task_id,
            "requester_id": self.agent_id,
            "description": pending.description,
            "capability": pending.capability,
            "proposed_cost": pending.proposed_cost,
            "priority": priority,
            "parameters": pending.parameters,
            "timestamp": int(pending.started * 1000),
        }
        attributes: dict[str, Any] = {
            "collaboration_id": task_id,
            "traceparent": pending.traceparent,
            "priority": priority_name(priority),
            "target_group": pool or pending.pool,
        }
        if not acknowledged and self.publish_reported(
            KIND_TASK_REQUEST, record, partial(self._request_reported, task_id), **attributes
        ):
            return
        await self.publish(KIND_TASK_REQUEST, record, **attributes)

    def _request_reported(self, task_id: str, error: KafkaException | None) -> None:
        """A request sent unacknowledged was not delivered: whoever waits for its outcome gets the error."""
        if error is None:
            return
        for waiter in self._waiters.get(task_id, ()):
            if not waiter.done():
                waiter.set_exception(error)

    async def cancel(self, task_id: str, reason: str | None = None) -> None:
        """Asks for the cancel of the open task ``task_id``; :meth:`outcome` resolves to ``CANCELED`` once the
        task ends that way (or to the final state it reached first, should the cancel have come too late).

        Raises :class:`~a2a_fast.errors.TaskFinalError` for a task this requester saw end, and
        :class:`~a2a_fast.errors.UnknownTaskError` for one it never had open (or has forgotten); asking again
        for a task whose cancel it already asked for does nothing."""
        pending = self._pending.get(task_id)
        if pending is None:
            ended = self._recent.get(task_id)
            if ended is not None:
                said = f": {ended.error}" if ended.error else ""
                raise TaskFinalError(f"task {task_id} is already {ended.status}{said}; there is nothing to cancel")
            raise UnknownTaskError(f"task {task_id!r} is not an open task of requester {self.agent_id}")
        if pending.cancel_sent:
            return
        pending.canceling = pending.cancel_sent = True
        accepted = pending.accepted_offset is not None
        log.info("asking for the cancel of %s (%s)", task_id, pending.state)
        await self.publish(
            KIND_TASK_RESPONSE,
            cancel_record(
                task_id,
                self.agent_id,
                CANCELING,
                reason,
                capability=pending.capability,
                agreed_cost=pending.agreed_cost if accepted else None,
            ),
            target_agent=self.agent_id,
            collaboration_id=task_id,
            traceparent=continue_trace(pending.traceparent),
            target_group=pending.executor_pool if accepted else None,
        )

    async def outcome(self, task_id: str) -> TaskOutcome:
        """Waits for the final outcome of a task submitted (or resumed) by this requester."""
        found = await self._outcome(task_id, None)
        assert found is not None
        return found

    async def _outcome(self, task_id: str, max_wait: float | None) -> TaskOutcome | None:
        """:meth:`outcome`, or None once ``max_wait`` seconds passed first. Each call waits on a future of its own,
        so a caller cancelled or timed out leaves the others waiting."""
        ended = self._recent.get(task_id)
        if ended is not None:
            return ended
        assert self._loop is not None, "requester not started"
        waiter: asyncio.Future[TaskOutcome | None] = self._loop.create_future()
        waiters = self._waiters.get(task_id)
        if waiters is None:
            self._waiters[task_id] = [waiter]
        else:
            waiters.append(waiter)
        timer = None if max_wait is None else self._loop.call_later(max_wait, _time_out, waiter)
        try:
            return await waiter
        finally:
            if timer is not None:
                timer.cancel()
            waiters = self._waiters.get(task_id)
            if waiters is not None and waiter in waiters:  # not answered: timed out or cancelled
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[task_id]

    async def stop(self) -> None:
        await super().stop()
        if self.budget_book is not None:
            self.budget_book.close()

    async def on_start(self) -> None:
        if self.resume:
            await asyncio.get_running_loop().run_in_executor(None, self._rebuild)

    def _rebuild(self) -> None:
        assert self.catalog is not None
        log = read_log(self.transport, self.catalog, self.topics, reader=self.agent_id)
        given = self.budget_book.read() if self.budget_book is not None else {}
        for task in log.select(OPEN_STATES, requester=self.agent_id):
            if task.capability is None or task.requested_at is None:
                continue  # its request is no longer in the log: nothing to negotiate with
            self._pending[task.task_id] = PendingRequest(
                task.task_id,
                task.capability,
                task.description or "",
                task.parameters,
                task.proposed_cost,
                given.get(task.task_id, self.policy.limit(task.proposed_cost)),
                state=task.state,
                # A provider turn left unanswered by a crash is redelivered and answered, not skipped.
                rounds=task.answered_round,
                last_offer=task.last_offer,
                agreed_cost=task.agreed_cost,
                progress=task.progress,
                provider=task.provider,
                executor=task.executor,
                started=task.requested_at / 1000,
                traceparent=task.traceparent,
                pool=task.pool,
                executor_pool=task.executor_pool,
                **self._cancel_state(task),
            )
        self.resumed = len(self._pending)
        self._budgets = {task: amount for task, amount in given.items() if task in self._pending}
        if self.budget_book is not None:
            self.budget_book.keep(self._budgets)

    def _cancel_state(self, task: TaskHistory) -> dict[str, Any]:
        """What the log says of a task's acceptance and cancel, as :class:`PendingRequest` keeps it."""
        responses = [entry for entry in task.timeline if entry.topic == self.topics.responses]
        accepted = [entry.offset for entry in responses if entry.event == "ACCEPTED"]
        cancels = [entry for entry in responses if entry.event == CANCELING]
        return {
            "accepted_offset": min(accepted, default=None),
            "canceling": bool(cancels),
            "cancel_sent": any(entry.agent == self.agent_id for entry in cancels),
            "cancel_offset": min((entry.offset for entry in cancels), default=None),
        }

    def _apply(self, pending: PendingRequest, message: Inbound) -> None:
        record = message.record
        status = record["status"]
        if not pending.canceling or status in FINAL_STATES or status == CANCELING:
            pending.state = status  # while a cancel is on its way, only an outcome moves the task on
        if status == "NEGOTIATING":
            pending.rounds = max(pending.rounds, int(record["round"]))
            pending.provider = message.source_agent
        elif status == "ACCEPTED":
            pending.agreed_cost = record.get("agreed_cost")
            pending.provider = message.source_agent
            pending.rounds = max(pending.rounds, int(record["round"]))
            pending.executor_pool = message.target_group
            if pending.accepted_offset is None:
                pending.accepted_offset = message.offset
        elif status == "RUNNING":
            pending.progress = record.get("progress")
            pending.executor = message.source_agent
        elif status == CANCELING:
            pending.canceling = True
            if pending.cancel_offset is None:
                pending.cancel_offset = message.offset
        elif status == CANCELED:
            if record.get("agreed_cost") is not None:  # an executor's (see a2a_fast.agents.cancel)
                pending.executor = message.source_agent
        elif status in FINAL_STATES and status != "REJECTED":
            pending.executor = message.source_agent

    async def handle(self, message: Inbound) -> None:
        if message.kind != KIND_TASK_RESPONSE or message.target_agent != self.agent_id:
            return
        record = message.record
        status = record["status"]
        pending = self._pending.get(message.task_id)
        if pending is None:
            ended = self._recent.get(message.task_id)
            if status == "ACCEPTED" and ended is not None and ended.status == CANCELED:
                await self._pass_cancel_on(message, "canceled before this acceptance")
            return
        if status == UNKNOWN_STATUS:
            log.info(
                "a status newer than this requester's schema from %s: left as %s", message.source_agent, pending.state
            )
            return
        if status == "NEGOTIATING" and (int(record["round"]) <= pending.rounds or pending.canceling):
            return  # an older turn, answered already, or one of a task being canceled
        if status == "ACCEPTED" and pending.cancel_offset is not None and pending.cancel_offset < message.offset:
            await self._pass_cancel_on(message, "canceled before this acceptance")
        self._apply(pending, message)
        log.info("%s from %s", status, message.source_agent)
        if self.on_update is not None:
            try:
                self.on_update(pending, message)
            except Exception:
                log.exception("%s: on_update callback failed", self.agent_id)
        if status == "NEGOTIATING":
            with self.protocol_metrics.timer("a2a", "negotiate"):
                await self._negotiate(pending, message)
        elif status == CANCELING and message.source_agent == self.agent_id:
            await self._answer_own_cancel(pending, message)
        elif status in FINAL_STATES:
            self._finish(pending, message)

    async def _answer_own_cancel(self, pending: PendingRequest, cancel: Inbound) -> None:
        """This requester's CANCELING, read back: with no ACCEPTED before it in the partition, no executor holds
        the task and none will start it, so the task ends here; otherwise its executor answers."""
        if pending.accepted_offset is not None and pending.accepted_offset < cancel.offset:
            return
        await self.publish(
            KIND_TASK_RESPONSE,
            cancel_record(
                pending.task_id,
                self.agent_id,
                CANCELED,
                cancel_note(self.agent_id, cancel.record.get("message"), "before it was accepted"),
                capability=pending.capability,
            ),
            target_agent=self.agent_id,
            collaboration_id=cancel.collaboration_id,
            traceparent=continue_trace(cancel.traceparent),
            event_id=derived_id(cancel.event_id, CANCELED),
        )

    async def _pass_cancel_on(self, accepted: Inbound, reason: str | None) -> None:
        """An ACCEPTED after the task's cancel: sends the cancel on to that ACCEPTED's pool. Its executor skips
        such a task anyway when it read the first CANCELING; this covers one that did not (a restarted one)."""
        log.info("accepted by %s after its cancel: passing the cancel on", accepted.source_agent)
        record = accepted.record
        await self.publish(
            KIND_TASK_RESPONSE,
            cancel_record(
                accepted.task_id,
                self.agent_id,
                CANCELING,
                reason,
                capability=record.get("capability"),
                agreed_cost=record.get("agreed_cost"),
            ),
            target_agent=self.agent_id,
            collaboration_id=accepted.collaboration_id,
            traceparent=continue_trace(accepted.traceparent),
            event_id=derived_id(accepted.event_id, CANCELING),
            target_group=accepted.target_group,
        )

    async def _negotiate(self, pending: PendingRequest, message: Inbound) -> None:
        record = message.record
        round_number = int(record["round"])
        counter = float(record["counter_offer"])
        decision = self.policy.respond(pending.last_offer, counter, round_number, pending.budget)
        action = {"accept": "ACCEPT", "counter": "COUNTER", "reject": "REJECT"}[decision.action]
        if decision.action == "counter":
            pending.last_offer = decision.price
        await self.publish(
            KIND_NEGOTIATION,
            {
                "task_id": pending.task_id,
                "round": round_number,
                "from_agent": self.agent_id,
                "to_agent": message.source_agent,
                "action": action,
                "offer": decision.price,
                "reason": decision.reason,
                "capability": pending.capability,
                "description": pending.description,
                "parameters": pending.parameters,
                "timestamp": int(time.time() * 1000),
            },
            target_agent=message.source_agent,
            collaboration_id=message.collaboration_id,
            traceparent=continue_trace(message.traceparent),
            event_id=derived_id(message.event_id, "turn"),
            priority=message.priority,
            target_group=pending.pool,
        )

    def _finish(self, pending: PendingRequest, message: Inbound) -> None:
        record = message.record
        status = record["status"]
        result = json_or_text(record.get("result")) if status == "COMPLETED" else None
        outcome = TaskOutcome(
            status=status,
            task_id=pending.task_id,
            agreed_cost=pending.agreed_cost,
            rounds=pending.rounds,
            result=result,
            error=record.get("message") if status != "COMPLETED" else None,
            latency=max(0.0, time.time() - pending.started),
            capability=pending.capability,
            provider=pending.provider,
            executor=pending.executor,
        )
        del self._pending[pending.task_id]
        self._budgets.pop(pending.task_id, None)
        self.outcomes[status] += 1
        if status == "COMPLETED":
            self.protocol_metrics.record_success("a2a", "request", outcome.latency)
        else:
            self.protocol_metrics.record_failure("a2a", "request", outcome.latency)
        self.metrics.observe("request_seconds", outcome.latency, LATENCY_BUCKETS, status=status)
        self.metrics.observe("negotiation_rounds", outcome.rounds, ROUND_BUCKETS, role=self.role)
        self._recent[pending.task_id] = outcome
        if len(self._recent) > 10_000:
            self._recent.popitem(last=False)
        for waiter in self._waiters.pop(pending.task_id, ()):
            if not waiter.done():
                waiter.set_result(outcome)


def _time_out(waiter: asyncio.Future[TaskOutcome | None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
