"""Task state and timelines folded from the log: the one place that turns messages into what happened.

Every message about a task (its ``TaskRequest``, the providers' and executors' ``TaskResponse`` records, the
requester's ``Negotiation`` turns) is keyed by the task id, so folding the three topics in order rebuilds each
task's state and its timeline: who asked for what, who offered what and when, who ran it and how it ended.
Tasks of A2A agents (:mod:`a2a_fast.a2a`) fold the same way from ``a2a.requests`` and ``a2a.events``: a message
sent to an agent is its request (the A2A agent's name as the capability), and the agent's records say the
task's state in the same words (``RUNNING``, ``NEGOTIATING`` while it waits for input, ``COMPLETED``...).

:class:`TaskLog` is that fold. The requester rebuilds its open requests with it at start-up, the executor the
tasks already finished, and ``a2a-fast replay``/``tasks`` and the MCP server answer from it::

    log = TaskLog()
    for message in replay(transport, catalog, names, topics=list(TASK_TOPICS)):
        log.fold(message)
    log.get(task_id).timeline

**Cancels.** ``CANCELING`` (a cancel asked for) holds until a final state arrives: a late progress report or
acceptance does not move the task out of it. ``CANCELED`` is final. A status newer than this reader's schema
reads as ``UNKNOWN`` (the enum's default): it is on the timeline and leaves the state as it was.

``until`` (epoch milliseconds) ignores messages stamped later, to see the mesh as it stood at that time.
``retained_finished`` bounds a long-lived fold (the MCP server's view): only the last that many tasks that
ended are kept, older ones are forgotten (they stay on the log, and :meth:`TaskLog.counts` still counts them).
Messages of a task whose request is not in the log (read from a committed offset, or a retention cut) still
count: the task exists with what is known.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from a2a_fast.errors import UnknownTaskError, ValidationError
from a2a_fast.protocol.envelope import Inbound, json_or_text
from a2a_fast.protocol.kinds import (
    KIND_A2A_EVENT,
    KIND_A2A_REQUEST,
    KIND_NEGOTIATION,
    KIND_TASK_REQUEST,
    KIND_TASK_RESPONSE,
)
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport import Transport, as_transport
from a2a_fast.transport.log import replay
from a2a_fast.transport.registry import SchemaCatalog

__all__ = [
    "A2A_KINDS",
    "DEFAULT_RETAINED_TASKS",
    "FINAL_STATES",
    "OPEN_STATES",
    "STATES",
    "TASK_KINDS",
    "UNKNOWN_STATUS",
    "AgentActivity",
    "TaskHistory",
    "TaskLog",
    "TimelineEntry",
    "existing_topics",
    "format_time",
    "parse_time",
    "read_log",
    "timeline_entry",
]

FINAL_STATES: Final = frozenset({"COMPLETED", "FAILED", "REJECTED", "CANCELED"})
OPEN_STATES: Final = frozenset({"PENDING", "NEGOTIATING", "ACCEPTED", "RUNNING", "CANCELING"})
A2A_KINDS: Final = frozenset({KIND_A2A_REQUEST, KIND_A2A_EVENT})
"""The A2A binding's records; those about a task (a message sent, a cancel, a change of state) fold into it."""
TASK_KINDS: Final = frozenset({KIND_TASK_REQUEST, KIND_TASK_RESPONSE, KIND_NEGOTIATION, *A2A_KINDS})
_A2A_SENDS: Final = frozenset({"SendMessage", "SendStreamingMessage"})
# How many ended tasks a long-lived view keeps by default (the MCP server's).
DEFAULT_RETAINED_TASKS: Final = 10_000
STATES: Final = (
    *("PENDING", "NEGOTIATING", "ACCEPTED", "RUNNING", "CANCELING"),
    *("COMPLETED", "FAILED", "REJECTED", "CANCELED"),
)
UNKNOWN_STATUS: Final = "UNKNOWN"
"""The status a reader gets for one its schema does not know (the enum's default); never written."""


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One message about a task: when, from whom to whom, what it said, and where it is in the log."""

    time: int
    """The message's own timestamp, epoch milliseconds."""
    kind: str
    agent: str
    target: str | None
    event: str
    """``REQUESTED``, a negotiation action (``COUNTER``, ``ACCEPT``, ``REJECT``...) or a task status."""
    price: float | None
    round: int
    detail: str | None
    progress: float | None
    topic: str
    partition: int
    offset: int
    event_id: str
    traceparent: str | None

    @property
    def role(self) -> str:
        """The sender's side in this step: requester, provider or executor (``unknown`` for a status newer
        than this reader's schema; an A2A agent's records are an executor's). A cancel is asked for on the
        requester's side (by the requester, or an operator for it); ``CANCELED`` comes from the executor when
        the task had been accepted (it carries the agreed cost, as every executor report does), else from the
        requester's side. ``REJECTED`` is a provider's, but for the one a requester addresses to itself when no
        live provider serves its request (:mod:`a2a_fast.protocol.roles`)."""
        if self.kind == KIND_A2A_EVENT:
            return "executor"
        if self.kind != KIND_TASK_RESPONSE or self.event == "CANCELING":
            return "requester"
        if self.event == "REJECTED" and self.target == self.agent:
            return "requester"
        if self.event == "CANCELED":
            return "executor" if self.price is not None else "requester"
        if self.event == UNKNOWN_STATUS:
            return "unknown"
        return "executor" if self.event in ("RUNNING", "COMPLETED", "FAILED") else "provider"

    def describe(self) -> str:
        """One readable line: ``provider-1 NEGOTIATING 150.00 (round 1) -> requester-1``."""
        parts = [self.agent, self.event]
        if self.price is not None:
            parts.append(f"{self.price:.2f}")
        if self.round and self.event in ("NEGOTIATING", "ACCEPTED", "REJECTED", "COUNTER", "ACCEPT", "REJECT"):
            parts.append(f"(round {self.round})")
        if self.progress is not None and self.event == "RUNNING":
            parts.append(f"{100 * self.progress:.0f}%")
        if self.target and self.target != self.agent:
            parts.append(f"-> {self.target}")
        line = " ".join(parts)
        return f"{line}: {self.detail}" if self.detail else line


@dataclass(slots=True)
class TaskHistory:
    """What the log says about one task, as of the last message folded."""

    task_id: str
    state: str = "PENDING"
    requester: str | None = None
    capability: str | None = None
    description: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    priority: int | None = None
    proposed_cost: float | None = None
    last_offer: float | None = None
    """The requester's latest price: its proposal, then each counter of its own."""
    last_ask: float | None = None
    """The provider's latest counter-offer."""
    agreed_cost: float | None = None
    rounds: int = 0
    answered_round: int = 0
    """The last provider round the requester answered with a negotiation turn."""
    provider: str | None = None
    executor: str | None = None
    progress: float | None = None
    result: Any = None
    error: str | None = None
    requested_at: int | None = None
    updated_at: int | None = None
    traceparent: str | None = None
    collaboration_id: str | None = None
    pool: str | None = None
    """The providers' consumer group the request was addressed to (``ce_targetgroup``), if any."""
    executor_pool: str | None = None
    """The executors' consumer group the ACCEPTED was addressed to (``ce_targetgroup``), if any."""
    accepted_at: int | None = None
    """When a provider accepted it (epoch milliseconds); None while it never was."""
    canceled_by: str | None = None
    """Who asked for it to be canceled (the first ``CANCELING``), if anyone did."""
    timeline: list[TimelineEntry] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def to_dict(self, timeline: bool = True) -> dict[str, Any]:
        """JSON-able: times as ISO 8601 text beside the epoch milliseconds."""
        data = asdict(self)
        data["requested"] = format_time(self.requested_at)
        data["updated"] = format_time(self.updated_at)
        if timeline:
            data["timeline"] = [{**asdict(entry), "at": format_time(entry.time)} for entry in self.timeline]
        else:
            del data["timeline"]
        return data


class TaskLog:
    """Per-task state and timeline folded from A2A messages, optionally only those up to ``until``, keeping
    every task or only the last ``retained_finished`` that ended."""

    def __init__(self, until: int | None = None, retained_finished: int | None = None) -> None:
        if retained_finished is not None and retained_finished < 1:
            raise ValueError(f"retained_finished: must be at least 1, got {retained_finished}")
        self.until = until
        self.retained_finished = retained_finished
        self.tasks: dict[str, TaskHistory] = {}
        self.folded = 0
        self._seen: set[str] = set()
        self._ended: OrderedDict[str, None] = OrderedDict()
        # Ids of forgotten tasks (as many as are retained), so a redelivered message does not bring one back.
        self._forgotten: OrderedDict[str, None] = OrderedDict()
        self._forgotten_counts: dict[str, int] = {}

    def fold_all(self, messages: Iterable[Inbound]) -> TaskLog:
        for message in messages:
            self.fold(message)
        return self

    def fold(self, message: Inbound) -> TaskHistory | None:
        """Applies one message; returns the task it changed, None when it was skipped (a redelivered
        ``ce_id``, or stamped after ``until``)."""
        record = message.record
        stamp = int(record.get("timestamp") or 0)
        if message.kind not in TASK_KINDS:
            return None
        if message.kind in A2A_KINDS and not self._about_a_task(message):
            return None
        if (self.until is not None and stamp > self.until) or message.event_id in self._seen:
            return None
        if message.task_id in self._forgotten:
            return None
        self._seen.add(message.event_id)
        task = self.tasks.get(message.task_id)
        if task is None:
            task = self.tasks[message.task_id] = TaskHistory(message.task_id)
        task.collaboration_id = task.collaboration_id or message.collaboration_id
        task.updated_at = max(task.updated_at or 0, stamp)
        if message.kind == KIND_TASK_REQUEST:
            self._requested(task, message, stamp)
        elif message.kind == KIND_NEGOTIATION:
            self._negotiated(task, message)
        elif message.kind == KIND_A2A_REQUEST:
            self._a2a_called(task, message, stamp)
        elif message.kind == KIND_A2A_EVENT:
            self._a2a_answered(task, message)
        else:
            self._responded(task, message)
        entry = timeline_entry(message)
        # Topics interleave as they are read; each task's timeline is kept in time order.
        bisect.insort(task.timeline, entry, key=lambda item: item.time)
        self.folded += 1
        limit = self.retained_finished
        if limit is not None and task.final and task.task_id not in self._ended:
            self._ended[task.task_id] = None
            while len(self._ended) > limit:
                self._forget(self._ended.popitem(last=False)[0], limit)
        return task

    def _about_a_task(self, message: Inbound) -> bool:
        """Whether an A2A record changes a task: a message sent (the first starts the task), a cancel of a known
        task, or an agent's record that says the task's state (reads, lists and the like do not)."""
        record = message.record
        if message.kind == KIND_A2A_EVENT:
            refused = record.get("error_code") is not None and message.task_id in self.tasks
            return record.get("status") is not None or refused
        method = record.get("method")
        return method in _A2A_SENDS or (method == "CancelTask" and message.task_id in self.tasks)

    def _forget(self, task_id: str, remembered: int) -> None:
        task = self.tasks.pop(task_id)
        for entry in task.timeline:
            self._seen.discard(entry.event_id)
        self._forgotten_counts[task.state] = self._forgotten_counts.get(task.state, 0) + 1
        self._forgotten[task_id] = None
        while len(self._forgotten) > remembered:
            self._forgotten.popitem(last=False)

    def get(self, task_id: str) -> TaskHistory | None:
        return self.tasks.get(task_id)

    def find(self, wanted: str) -> TaskHistory:
        """The task with id ``wanted``, or the one task whose id starts with it; :class:`UnknownTaskError` naming
        it when there is none (or the prefix matches several)."""
        exact = self.tasks.get(wanted)
        if exact is not None:
            return exact
        matches = [task for task in self.tasks.values() if task.task_id.startswith(wanted)] if wanted else []
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise UnknownTaskError(f"task id prefix {wanted!r} matches {len(matches)} tasks; give more of it")
        raise UnknownTaskError(f"task {wanted!r} is not in the log")

    def select(self, states: Iterable[str] = (), requester: str | None = None) -> list[TaskHistory]:
        """Tasks in any of ``states`` (all when empty), of one requester if given, oldest first."""
        wanted = {state.upper() for state in states}
        unknown = wanted - set(STATES)
        if unknown:
            raise ValidationError(f"unknown task state(s) {sorted(unknown)}: expected some of {', '.join(STATES)}")
        found = [
            task
            for task in self.tasks.values()
            if (not wanted or task.state in wanted) and (requester is None or task.requester == requester)
        ]
        return sorted(found, key=lambda task: (task.requested_at or task.updated_at or 0, task.task_id))

    def execution_queue(self) -> dict[str, list[TaskHistory]]:
        """Tasks accepted or running (being canceled too, once accepted), by executor; accepted ones no executor
        has started are under ``""``."""
        queue: dict[str, list[TaskHistory]] = {}
        for task in self.select(["ACCEPTED", "RUNNING", "CANCELING"]):
            if task.accepted_at is not None:
                queue.setdefault(task.executor or "", []).append(task)
        return queue

    def counts(self) -> dict[str, int]:
        """Tasks by state, forgotten ones included."""
        counts = dict(self._forgotten_counts)
        for task in self.tasks.values():
            counts[task.state] = counts.get(task.state, 0) + 1
        return counts

    def activity(self) -> dict[str, AgentActivity]:
        """Each agent seen in the log: its roles, how many messages it sent and when it sent the last."""
        found: dict[str, AgentActivity] = {}
        for task in self.tasks.values():
            for entry in task.timeline:
                agent = found.get(entry.agent)
                if agent is None:
                    agent = found[entry.agent] = AgentActivity(entry.agent)
                agent.messages += 1
                agent.last_seen = max(agent.last_seen, entry.time)
                if entry.role not in agent.roles:
                    agent.roles.append(entry.role)
                    agent.roles.sort()
                if task.state in OPEN_STATES and entry.role != "requester":
                    agent.open_tasks.add(task.task_id)
        return found

    @staticmethod
    def _requested(task: TaskHistory, message: Inbound, stamp: int) -> None:
        record = message.record
        task.requester = record.get("requester_id") or message.source_agent
        task.capability = record.get("capability")
        task.description = record.get("description")
        task.parameters = dict(record.get("parameters") or {})
        task.priority = record.get("priority")
        task.proposed_cost = record.get("proposed_cost")
        if not task.answered_round:  # the negotiations topic may have been folded first
            task.last_offer = task.proposed_cost
        task.requested_at = stamp
        task.traceparent = message.traceparent
        task.pool = message.target_group

    @staticmethod
    def _negotiated(task: TaskHistory, message: Inbound) -> None:
        record = message.record
        task.requester = task.requester or message.source_agent
        task.capability = task.capability or record.get("capability")
        task.description = task.description or record.get("description")
        task.answered_round = max(task.answered_round, int(record.get("round") or 0))
        if record["action"] == "COUNTER" and record.get("offer") is not None:
            task.last_offer = record["offer"]

    @staticmethod
    def _a2a_called(task: TaskHistory, message: Inbound, stamp: int) -> None:
        record = message.record
        if record.get("method") not in _A2A_SENDS or record.get("continues") or task.requested_at is not None:
            return  # a follow-up message or a cancel: on the timeline only
        task.requester = record.get("requester_id") or message.source_agent
        task.capability = record.get("agent")
        task.description = record.get("text")
        task.requested_at = stamp
        task.traceparent = message.traceparent
        task.pool = message.target_group

    @staticmethod
    def _a2a_answered(task: TaskHistory, message: Inbound) -> None:
        record = message.record
        if record.get("status") is None:
            return  # a call on the task refused: on the timeline only
        status = str(record["status"])
        if not task.final:
            task.state = status
        task.requester = task.requester or message.target_agent
        task.executor = message.source_agent
        text = record.get("text") or record.get("error_message")
        if status == "COMPLETED":
            task.progress = 1.0
            task.result = text
        elif status in ("FAILED", "REJECTED", "CANCELED"):
            task.error = text

    @staticmethod
    def _responded(task: TaskHistory, message: Inbound) -> None:
        record = message.record
        status = str(record["status"])
        if status == UNKNOWN_STATUS:
            return
        # A late report racing the outcome never reopens a finished task, nor one being canceled.
        ended_now = not task.final and status in FINAL_STATES
        if not task.final and (task.state != "CANCELING" or ended_now):
            task.state = status
        task.capability = task.capability or record.get("capability")
        if status in ("NEGOTIATING", "ACCEPTED"):
            task.rounds = max(task.rounds, int(record.get("round") or 0))
            task.provider = message.source_agent
            if status == "NEGOTIATING":
                task.last_ask = record.get("counter_offer")
            else:
                task.agreed_cost = record.get("agreed_cost")
                task.executor_pool = message.target_group
                if task.accepted_at is None:
                    task.accepted_at = int(record.get("timestamp") or 0)
        elif status == "CANCELING":
            task.canceled_by = task.canceled_by or message.source_agent
        elif status == "CANCELED" and ended_now:  # a second confirmation, or one after another outcome, adds nothing
            task.error = record.get("message")
            if record.get("agreed_cost") is not None:
                task.executor = message.source_agent
        elif status == "REJECTED":
            task.provider = task.provider or message.source_agent
            task.error = record.get("message")
        elif status in ("RUNNING", "COMPLETED", "FAILED"):
            task.executor = message.source_agent
            task.progress = 1.0 if status == "COMPLETED" else record.get("progress")
            if status == "COMPLETED":
                task.result = json_or_text(record.get("result"))
            elif status == "FAILED":
                task.error = record.get("message")


@dataclass(slots=True)
class AgentActivity:
    """What the log shows of one agent."""

    agent_id: str
    roles: list[str] = field(default_factory=list)
    messages: int = 0
    last_seen: int = 0
    open_tasks: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "roles": list(self.roles),
            "messages": self.messages,
            "last_seen": format_time(self.last_seen),
            "open_tasks": sorted(self.open_tasks),
        }


def timeline_entry(message: Inbound) -> TimelineEntry:
    """What one task message (request, response or negotiation turn) says, as a timeline entry.

    Raises :class:`ValidationError` for any other kind (a collaboration message has no task timeline;
    :func:`a2a_fast.history.events.describe_message` reads every kind)."""
    if message.kind not in TASK_KINDS:
        raise ValidationError(f"{message.kind} is not a task message: it has no task timeline entry")
    record = message.record
    price: float | None = None
    detail: str | None = None
    progress: float | None = None
    round_number = int(record.get("round") or 0)
    if message.kind == KIND_TASK_REQUEST:
        event = "REQUESTED"
        price = record.get("proposed_cost")
        detail = f"{record.get('capability')}: {record.get('description')}"
    elif message.kind == KIND_A2A_REQUEST:
        method = record.get("method")
        if method in _A2A_SENDS:
            event = "REPLIED" if record.get("continues") else "REQUESTED"
        else:
            event = "CANCEL" if method == "CancelTask" else str(method)
        detail = f"{record.get('agent')}: {record.get('text')}" if method in _A2A_SENDS else None
    elif message.kind == KIND_A2A_EVENT:
        refused = record.get("error_code") is not None and not record.get("status")
        event = "REFUSED" if refused else str(record.get("status") or record.get("method"))
        detail = record.get("text") or record.get("error_message")
    elif message.kind == KIND_NEGOTIATION:
        event = str(record["action"])
        price = record.get("offer")
        detail = record.get("reason")
    else:
        event = str(record["status"])
        price = {
            "NEGOTIATING": record.get("counter_offer"),
            "ACCEPTED": record.get("agreed_cost"),
            "CANCELED": record.get("agreed_cost"),
        }.get(event)
        detail = record.get("result") if event == "COMPLETED" else record.get("message")
        if event == UNKNOWN_STATUS:
            unknown = "a status newer than this reader's schema"
            detail = f"{unknown}: {detail}" if detail else unknown
        progress = record.get("progress")
    return TimelineEntry(
        time=int(record.get("timestamp") or 0),
        kind=message.kind,
        agent=message.source_agent,
        target=message.target_agent,
        event=event,
        price=price,
        round=round_number,
        detail=detail,
        progress=progress,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        event_id=message.event_id,
        traceparent=message.traceparent,
    )


def read_log(
    transport: str | Transport,
    catalog: SchemaCatalog,
    names: TopicNames,
    *,
    topics: Sequence[str] | None = None,
    start: Mapping[tuple[str, int], int] | None = None,
    until: int | None = None,
    reader: str = "a2a-fast",
    a2a: bool = False,
) -> TaskLog:
    """Folds the task topics (default: requests, responses and negotiations of ``names``; with ``a2a`` the A2A
    topics too, where the mesh has them) from the beginning, or the partitions in ``start`` from those offsets,
    up to their current end. Blocking."""
    chosen = list(topics) if topics is not None else [names.requests, names.responses, names.negotiations]
    if a2a and topics is None and start is None:
        chosen += existing_topics(transport, [names.a2a_requests, names.a2a_events])
    messages = replay(transport, catalog, names, start, chosen if start is None else (), reader=reader)
    return TaskLog(until).fold_all(messages)


def existing_topics(transport: str | Transport, names: Sequence[str]) -> list[str]:
    """Those of ``names`` the broker has (a mesh older than the A2A topics has none of them)."""
    admin = as_transport(transport).admin()
    present = admin.list_topics(timeout=15).topics
    return [name for name in names if name in present]


def format_time(millis: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 UTC text (``2026-11-21T11:30:00.123Z``)."""
    if millis is None:
        return None
    moment = dt.datetime.fromtimestamp(millis / 1000, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str, now: dt.datetime | None = None) -> int:
    """A point in time as epoch milliseconds, from ISO 8601 text (naive means UTC), epoch seconds, or a
    duration ago such as ``10m``, ``2h``, ``30s``, ``1d``. Raises ValidationError naming the accepted forms."""
    value = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(value) > 1 and value[-1] in units and value[:-1].replace(".", "", 1).isdigit():
        moment = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(seconds=float(value[:-1]) * units[value[-1]])
        return int(moment.timestamp() * 1000)
    try:
        return int(float(value) * 1000)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"time {text!r}: expected ISO 8601 (2026-11-21T11:30:00Z), epoch seconds, or an age like 10m, 2h, 1d"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)
