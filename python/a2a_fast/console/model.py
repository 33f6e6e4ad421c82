"""What the console's pages show, folded from the records of one mesh's topics: the view model.

:class:`ConsoleModel` takes every record as :class:`~a2a_fast.transport.log.LogReader` observes it (decoded,
or with the reason it could not be) and keeps:

* the tasks, through the same fold as ``a2a-fast replay`` (:class:`~a2a_fast.history.tasks.TaskLog`);
* the workflow sessions, through the coordinator's own fold (:class:`~a2a_fast.workflows.sessions.SessionState`);
* the dead letters with their ``dlq.*`` reason, stage and original position, decoded where possible;
* the records on the mesh's topics that could not be decoded at all;
* records per second per topic, and request→completion latencies, over the last minutes.

``until`` (epoch milliseconds) keeps only what was on the log by then, which is how a page is shown "as of" a
time. The model is plain data and code: reading the log and serving pages are elsewhere
(:mod:`a2a_fast.console.feed`, :mod:`a2a_fast.console.app`).
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from a2a_fast.errors import UnknownSessionError, UnknownTaskError, ValidationError
from a2a_fast.history.tasks import (
    FINAL_STATES,
    STATES,
    TASK_KINDS,
    AgentActivity,
    TaskHistory,
    TaskLog,
    TimelineEntry,
    format_time,
    timeline_entry,
)
from a2a_fast.history.view import agent_rows
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import (
    KIND_A2A_EVENT,
    KIND_NEGOTIATION,
    KIND_SESSION_EVENT,
    KIND_STEP_REQUEST,
    KIND_STEP_RESULT,
    KIND_TASK_RESPONSE,
)
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport.log import Observed
from a2a_fast.workflows.sessions import SESSION_FINAL, SessionState

__all__ = [
    "DEFAULT_RETAINED_TASKS",
    "ConsoleModel",
    "DeadLetter",
    "UnreadableRecord",
    "mesh_rows",
    "quantile",
]

DEFAULT_RETAINED_TASKS: Final = 50_000
"""Ended tasks whose timelines the console keeps (counts include the forgotten ones)."""
RETAINED_SESSIONS: Final = 10_000
RETAINED_DEAD_LETTERS: Final = 10_000
RETAINED_UNREADABLE: Final = 1_000
CHART_WINDOW_SECONDS: Final = 900
"""How far back the charts reach: the last 15 minutes before now (or the time shown)."""
LATENCY_BUCKET_SECONDS: Final = 10
LATENCY_SAMPLES: Final = 100_000
MAX_PAGE: Final = 500
TASK_TOPIC_ROLES: Final = frozenset({"requests", "responses", "negotiations", "a2a_requests", "a2a_events"})
SESSION_KINDS: Final = frozenset({KIND_SESSION_EVENT, KIND_STEP_REQUEST, KIND_STEP_RESULT})
SESSION_STATES: Final = ("RUNNING", "COMPLETED", "FAILED", "TIMED_OUT")
SECTIONS: Final = ("tasks", "workflows", "dead_letters", "agents", "metrics")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record on the dead-letter topic: why and where it failed, and what it was when it can be decoded."""

    topic: str
    partition: int
    offset: int
    time: int
    """When it was dead-lettered (the broker's timestamp), epoch milliseconds."""
    reason: str
    stage: str | None
    error_class: str | None
    agent: str | None
    original_topic: str | None
    original_partition: int | None
    original_offset: int | None
    key: str | None
    kind: str | None
    task_id: str | None
    source_agent: str | None
    summary: str | None
    decode_error: str | None

    @classmethod
    def from_observed(cls, observed: Observed) -> DeadLetter:
        headers = observed.headers
        message = observed.message
        summary = None
        if message is not None and message.kind in TASK_KINDS:
            summary = timeline_entry(message).describe()
        elif message is not None:
            summary = f"{message.kind} from {message.source_agent}"
        return cls(
            topic=observed.topic,
            partition=observed.partition,
            offset=observed.offset,
            time=observed.timestamp,
            reason=headers.get("dlq.reason") or "(no dlq.reason header: not written by an a2a_fast agent)",
            stage=headers.get("dlq.stage"),
            error_class=headers.get("dlq.error.class"),
            agent=headers.get("dlq.agent"),
            original_topic=headers.get("dlq.original.topic"),
            original_partition=_whole(headers.get("dlq.original.partition")),
            original_offset=_whole(headers.get("dlq.original.offset")),
            key=observed.key,
            kind=message.kind if message is not None else headers.get("ce_type"),
            task_id=message.task_id if message is not None else None,
            source_agent=message.source_agent if message is not None else headers.get("ce_sourceagent"),
            summary=summary,
            decode_error=observed.error,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": format_time(self.time)}


@dataclass(frozen=True, slots=True)
class UnreadableRecord:
    """A record on one of the mesh's topics that is not a message the mesh can read, and why."""

    topic: str
    partition: int
    offset: int
    time: int
    key: str | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": format_time(self.time)}


class RateCounter:
    """Records per second per topic, by the broker's timestamps, over a sliding window."""

    def __init__(self, window_seconds: int = CHART_WINDOW_SECONDS) -> None:
        self.window = window_seconds
        self.newest = 0
        self._seconds: dict[int, Counter[str]] = {}

    def add(self, topic: str, millis: int) -> None:
        second = millis // 1000
        if second <= self.newest - self.window:
            return
        if second > self.newest:
            self.newest = second
            if len(self._seconds) > self.window + self.window // 4:
                cutoff = second - self.window
                for old in [s for s in self._seconds if s <= cutoff]:
                    del self._seconds[old]
        self._seconds.setdefault(second, Counter())[topic] += 1

    def series(self, end_millis: int, seconds: int, topics: Sequence[str]) -> dict[str, list[int]]:
        """Each topic's records per second for the ``seconds`` whole seconds up to ``end_millis``."""
        last = end_millis // 1000
        span = range(last - seconds + 1, last + 1)
        empty: Counter[str] = Counter()
        return {topic: [self._seconds.get(second, empty)[topic] for second in span] for topic in topics}


def quantile(ordered: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile of sorted values (None when there are none)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class ConsoleModel:
    """Everything the pages show, folded from observed records; see the module docstring."""

    def __init__(
        self,
        topics: TopicNames,
        until: int | None = None,
        retained_tasks: int | None = DEFAULT_RETAINED_TASKS,
    ) -> None:
        self.topics = topics
        self.until = until
        self.tasks = TaskLog(until, retained_tasks)
        self.sessions: OrderedDict[str, SessionState] = OrderedDict()
        self.dead_letters: deque[DeadLetter] = deque(maxlen=RETAINED_DEAD_LETTERS)
        self.dead_letter_total = 0
        self.unreadable: deque[UnreadableRecord] = deque(maxlen=RETAINED_UNREADABLE)
        self.unreadable_total = 0
        self.rates = RateCounter()
        self.records = 0
        self.newest = 0
        """The newest broker timestamp folded, epoch milliseconds."""
        self.versions = dict.fromkeys(SECTIONS, 0)
        """Bumped whenever what a section shows changed, so a page knows what to fetch again."""
        self._roles = {getattr(topics, role): role for role in (*TASK_TOPIC_ROLES, "collaborations", "dlq")}
        self._latencies: deque[tuple[int, float]] = deque(maxlen=LATENCY_SAMPLES)
        self._timed: OrderedDict[str, None] = OrderedDict()
        self._finished_sessions: OrderedDict[str, None] = OrderedDict()
        self._orphans: dict[str, list[Inbound]] = {}

    @property
    def topic_names(self) -> list[str]:
        """The topics this model reads, in the order the charts list them."""
        return list(self.topics.all())

    # --- folding ---------------------------------------------------------------------------------------------------

    def observe(self, observed: Observed) -> bool:
        """Applies one record; True when something a page shows changed."""
        if self.until is not None and observed.timestamp > self.until:
            return False
        role = self._roles.get(observed.topic)
        if role is None:
            return False
        self.records += 1
        self.newest = max(self.newest, observed.timestamp)
        self.rates.add(observed.topic, observed.timestamp)
        if role == "dlq":
            self.dead_letters.append(DeadLetter.from_observed(observed))
            self.dead_letter_total += 1
            self.versions["dead_letters"] += 1
            return True
        message = observed.message
        if message is None:
            self._unreadable(observed, observed.error or "could not be decoded")
            return True
        if role in TASK_TOPIC_ROLES and message.kind in TASK_KINDS:
            return self._fold_task(message)
        if role == "collaborations" and message.kind in SESSION_KINDS:
            return self._fold_session(message)
        self._unreadable(observed, f"a {message.kind} message does not belong on {observed.topic}")
        return True

    def _unreadable(self, observed: Observed, error: str) -> None:
        record = UnreadableRecord(
            observed.topic, observed.partition, observed.offset, observed.timestamp, observed.key, error
        )
        self.unreadable.append(record)
        self.unreadable_total += 1
        self.versions["dead_letters"] += 1

    def _fold_task(self, message: Inbound) -> bool:
        task = self.tasks.fold(message)
        if task is None:
            return False
        # The topics interleave as they are read, so the outcome may be folded before the request.
        if task.state == "COMPLETED" and task.requested_at is not None and task.task_id not in self._timed:
            finished = next(entry.time for entry in reversed(task.timeline) if entry.event == "COMPLETED")
            self._latencies.append((finished, max(0.0, (finished - task.requested_at) / 1000)))
            self._timed[task.task_id] = None
            if len(self._timed) > LATENCY_SAMPLES:
                self._timed.popitem(last=False)
        self.versions["tasks"] += 1
        self.versions["agents"] += 1  # the mesh page shows each agent's open tasks from the log
        return True

    def _fold_session(self, message: Inbound) -> bool:
        record = message.record
        if self.until is not None and int(record.get("timestamp") or 0) > self.until:
            return False
        session_id = message.task_id
        session = self.sessions.get(session_id)
        if session is None:
            if message.kind != KIND_SESSION_EVENT or record.get("event") != "STARTED":
                # Its STARTED event is on the same partition, so it comes first unless retention cut it.
                self._orphans.setdefault(session_id, []).append(message)
                return False
            try:
                session = SessionState.from_started(message)
            except (ValueError, KeyError, TypeError) as error:
                self._unreadable_message(message, f"session {session_id}: its STARTED event is unusable: {error}")
                return True
            self.sessions[session_id] = session
            for earlier in self._orphans.pop(session_id, []):
                session.apply(earlier)
        else:
            session.apply(message)
        if session.final and session_id not in self._finished_sessions:
            self._finished_sessions[session_id] = None
            while len(self._finished_sessions) > RETAINED_SESSIONS:
                self.sessions.pop(self._finished_sessions.popitem(last=False)[0], None)
        self.versions["workflows"] += 1
        return True

    def _unreadable_message(self, message: Inbound, error: str) -> None:
        record = UnreadableRecord(
            message.topic, message.partition, message.offset, int(message.record.get("timestamp") or 0), None, error
        )
        self.unreadable.append(record)
        self.unreadable_total += 1
        self.versions["dead_letters"] += 1

    # --- pages -----------------------------------------------------------------------------------------------------

    def overview(self) -> dict[str, Any]:
        """What every page's header shows: counts per state, totals, and the section versions."""
        sessions = Counter(session.state for session in self.sessions.values())
        return {
            "counts": {state: self.tasks.counts().get(state, 0) for state in STATES},
            "tasks": sum(self.tasks.counts().values()),
            "sessions": {state: sessions.get(state, 0) for state in SESSION_STATES},
            "dead_letters": self.dead_letter_total,
            "unreadable": self.unreadable_total,
            "records": self.records,
            "newest": format_time(self.newest) if self.newest else None,
            "versions": dict(self.versions),
        }

    def task_page(
        self,
        states: Iterable[str] = (),
        capability: str | None = None,
        agent: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> dict[str, Any]:
        """One page of tasks, newest first, in any of ``states``, of a capability, involving an agent."""
        _check_page(offset, limit)
        chosen = self.tasks.select(states)  # raises ValidationError naming an unknown state
        capabilities = sorted({task.capability for task in self.tasks.tasks.values() if task.capability})
        agents = sorted({entry.agent for task in self.tasks.tasks.values() for entry in task.timeline})
        if capability:
            wanted = capability.strip().lower()
            chosen = [task for task in chosen if (task.capability or "").lower() == wanted]
        if agent:
            chosen = [task for task in chosen if any(entry.agent == agent for entry in task.timeline)]
        chosen.reverse()
        return {
            "total": len(chosen),
            "offset": offset,
            "limit": limit,
            "items": [_task_row(task) for task in chosen[offset : offset + limit]],
            "counts": {state: self.tasks.counts().get(state, 0) for state in STATES},
            "capabilities": capabilities,
            "agents": agents,
        }

    def find_task(self, wanted: str) -> TaskHistory:
        """The task with this id, or the one task whose id starts with it; UnknownTaskError otherwise."""
        wanted = wanted.strip()
        exact = self.tasks.get(wanted)
        if exact is not None:
            return exact
        matches = [task for task in self.tasks.tasks.values() if wanted and task.task_id.startswith(wanted)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise UnknownTaskError(f"task id prefix {wanted!r} matches {len(matches)} tasks; give more of it")
        when = "" if self.until is None else f" as of {format_time(self.until)}"
        raise UnknownTaskError(f"task {wanted!r} is not in the log{when}")

    def task_detail(self, wanted: str) -> dict[str, Any]:
        """One task: its state and facts, its timeline, and the timeline read as phases: the request, each
        negotiation round (the provider's ask and the requester's answer), the award, progress, a cancel asked for,
        the outcome (the first final state, as the fold keeps it)."""
        task = self.find_task(wanted)
        entries = task.timeline
        rounds: dict[int, dict[str, Any]] = {}
        request = award = cancel = outcome = None
        progress = []
        for entry in entries:
            shown = _entry(entry)
            if entry.event == "REQUESTED":
                request = shown
            elif entry.event == "NEGOTIATING":
                rounds.setdefault(entry.round, {"round": entry.round, "ask": None, "answer": None})["ask"] = shown
            elif entry.kind == KIND_NEGOTIATION:
                rounds.setdefault(entry.round, {"round": entry.round, "ask": None, "answer": None})["answer"] = shown
            elif entry.event == "ACCEPTED":
                award = shown
            elif entry.event == "RUNNING":
                progress.append(shown)
            elif entry.event == "CANCELING":
                cancel = cancel or shown
            if entry.kind in (KIND_TASK_RESPONSE, KIND_A2A_EVENT) and entry.event in FINAL_STATES:
                outcome = outcome or shown
        involved: dict[str, list[str]] = {}
        for entry in entries:
            roles = involved.setdefault(entry.agent, [])
            if entry.role not in roles:
                roles.append(entry.role)
        return {
            "task": _task_facts(task),
            "trace_id": _trace_id(task.traceparent or next((e.traceparent for e in entries if e.traceparent), None)),
            "agents": [{"agent": agent, "roles": roles} for agent, roles in involved.items()],
            "request": request,
            "rounds": [rounds[number] for number in sorted(rounds)],
            "award": award,
            "progress": progress,
            "cancel": cancel,
            "outcome": outcome,
            "timeline": [_entry(entry) for entry in entries],
        }

    def workflow_page(self, states: Iterable[str] = (), offset: int = 0, limit: int = 50) -> dict[str, Any]:
        """Sessions newest first, each with every step's agent, attempts and state."""
        _check_page(offset, limit)
        wanted = {state.upper() for state in states}
        unknown = wanted - set(SESSION_STATES)
        if unknown:
            raise ValidationError(
                f"unknown session state(s) {sorted(unknown)}: expected some of {', '.join(SESSION_STATES)}"
            )
        chosen = [s for s in self.sessions.values() if not wanted or s.state in wanted]
        chosen.sort(key=lambda session: (session.started, session.session_id), reverse=True)
        return {
            "total": len(chosen),
            "offset": offset,
            "limit": limit,
            "items": [_session(session) for session in chosen[offset : offset + limit]],
        }

    def workflow_detail(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise UnknownSessionError(f"session {session_id!r} is not in the log")
        return _session(session)

    def dead_letter_page(self, offset: int = 0, limit: int = 50) -> dict[str, Any]:
        """Dead letters newest first, and the newest records that could not be read at all."""
        _check_page(offset, limit)
        letters = list(self.dead_letters)
        letters.reverse()
        return {
            "total": self.dead_letter_total,
            "kept": len(letters),
            "offset": offset,
            "limit": limit,
            "items": [letter.to_dict() for letter in letters[offset : offset + limit]],
            "unreadable_total": self.unreadable_total,
            "unreadable": [record.to_dict() for record in reversed(self.unreadable)][:50],
        }

    def charts(self, end: int, minutes: int) -> dict[str, Any]:
        """Records per second per topic, and request→completion p50/p99 per 10 s, over ``minutes`` up to ``end``
        (epoch milliseconds)."""
        if not 1 <= minutes <= CHART_WINDOW_SECONDS // 60:
            raise ValidationError(f"minutes: expected 1 to {CHART_WINDOW_SECONDS // 60}, got {minutes}")
        seconds = minutes * 60
        names = self.topic_names
        rates = self.rates.series(end, seconds, names)
        short = {name: name[len(self.topics.prefix) :] for name in names}
        start = end - seconds * 1000
        buckets: dict[int, list[float]] = {}
        within = []
        for finished, latency in self._latencies:
            if start < finished <= end:
                within.append(latency)
                slot = (finished - start - 1) // (LATENCY_BUCKET_SECONDS * 1000)
                buckets.setdefault(slot, []).append(latency)
        latency_series = []
        for slot in range(math.ceil(seconds / LATENCY_BUCKET_SECONDS)):
            values = sorted(buckets.get(slot, ()))
            latency_series.append(
                {
                    "t": start + (slot + 1) * LATENCY_BUCKET_SECONDS * 1000,
                    "count": len(values),
                    "p50": quantile(values, 0.5),
                    "p99": quantile(values, 0.99),
                }
            )
        within.sort()
        return {
            "end": end,
            "seconds": seconds,
            "rates": {
                "first": (end // 1000 - seconds + 1) * 1000,
                "step": 1000,
                "topics": {short[n]: rates[n] for n in names},
            },
            "latency": {
                "bucket_seconds": LATENCY_BUCKET_SECONDS,
                "buckets": latency_series,
                "count": len(within),
                "p50": quantile(within, 0.5),
                "p99": quantile(within, 0.99),
            },
        }


def mesh_rows(
    registered: Iterable[Any], activity: Mapping[str, AgentActivity], metrics: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The mesh page: each agent from the directory and the log (:func:`~a2a_fast.history.view.agent_rows`), with
    what its ``/metrics`` said last (under ``metrics``, None when it was not scraped)."""
    rows = agent_rows(registered, activity)
    for row in rows:
        row["metrics"] = metrics.get(row["agent_id"])
    return rows


def _check_page(offset: int, limit: int) -> None:
    if offset < 0:
        raise ValidationError(f"offset: expected 0 or more, got {offset}")
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit: expected 1 to {MAX_PAGE}, got {limit}")


def _whole(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _trace_id(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` (``00-<trace id>-<span id>-<flags>``)."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) >= 4 and len(parts[1]) == 32 else None


def _entry(entry: TimelineEntry) -> dict[str, Any]:
    return {**asdict(entry), "at": format_time(entry.time), "role": entry.role, "text": entry.describe()}


def _task_row(task: TaskHistory) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "state": task.state,
        "capability": task.capability,
        "description": (task.description or "")[:200],
        "requester": task.requester,
        "provider": task.provider,
        "executor": task.executor,
        "proposed_cost": task.proposed_cost,
        "agreed_cost": task.agreed_cost,
        "rounds": task.rounds,
        "progress": task.progress,
        "requested": format_time(task.requested_at),
        "updated": format_time(task.updated_at),
    }


def _task_facts(task: TaskHistory) -> dict[str, Any]:
    facts = task.to_dict(timeline=False)
    facts["final"] = task.final
    return facts


def _session(session: SessionState) -> dict[str, Any]:
    status = session.status().to_dict()
    status["started_at"] = format_time(round(session.started * 1000))
    status["finished_at"] = format_time(round(session.finished * 1000)) if session.finished is not None else None
    status["final"] = session.state in SESSION_FINAL
    return status
