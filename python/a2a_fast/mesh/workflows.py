"""Collaboration workflows: ordered steps run by live agents, kept as event-sourced sessions on the log.

A :class:`WorkflowDefinition` is a list of :class:`WorkflowStep`\\ s. ``await coordinator.start_collaboration(
workflow_id, agent_ids, params)`` starts a *session* of it; the :class:`Coordinator` then sends each step, in
order, to a live agent offering all of the step's capabilities (only among ``agent_ids`` when given, found
through the mesh directory) and feeds each step's output to the next one.

Everything a session is lives on the ``collaborations`` topic, keyed by the session id, with the session id
as every record's ``ce_collaborationid``:

* ``SessionEvent`` ``STARTED`` (with the definition, agents, parameters and deadline), then exactly one of
  ``COMPLETED`` / ``FAILED`` / ``TIMED_OUT``, from the coordinator;
* ``StepRequest``: attempt *n* of step *i*, addressed to one agent (``ce_targetagent``), from the coordinator;
* ``StepResult``: how that attempt ended, from the agent (``COMPLETED`` with its output, ``FAILED``, or
  ``TIMED_OUT`` when its handler overran), or ``TIMED_OUT`` from the coordinator when no answer came in time.
  The first result of an attempt in log order counts; later ones are ignored.

**The log is the state.** The coordinator changes a session only by applying records *as read back from the
log*, and acts (next attempt, end of session) on what the applied state asks for. Its own timer decisions are
records like any other (a ``TIMED_OUT`` result), so a late answer and a timeout are ordered by the log, not
by whichever the coordinator happened to see first. A restarted coordinator (same ``agent_id``) therefore
rebuilds its sessions by reading the topic from the start and resumes them exactly where they stood: an
attempt still open keeps its original deadline, a decided step is never run again, a session whose deadline
passed while nobody watched times out.

**Steps.** A step's ``timeout`` bounds each attempt; a failed or timed-out attempt is retried up to
``retries`` times, on an agent not tried yet for that step when there is one (an attempt for which no live
agent offers the capabilities fails at once). A required step that runs out of attempts fails the session
(naming the step); an optional one (``required=False``) is recorded as FAILED and the session goes on with
the previous output. A session times out as a whole after the ``timeout_seconds`` given to
:meth:`Coordinator.start_collaboration` (default ``workflows.default_timeout_seconds``), and a coordinator
runs at most ``workflows.max_concurrent_sessions`` sessions at once (:class:`~a2a_fast.errors.SessionLimitError`).
It answers for the last ``workflows.retained_finished_sessions`` sessions that ended and forgets older ones, so
a long-running coordinator's memory stays bounded; their records stay on the log for ``a2a-fast replay``.

**Running steps.** :class:`StepRunner` is the agent side: it reads the topic in its own consumer group
(``<topic prefix>steps-<agent id>``), runs the step requests addressed to it (ignoring the others) with the
same handlers executors use (:class:`~a2a_fast.executor.TaskContext`, with the step's parameters and the
previous output), and answers with a ``StepResult``. Every :class:`~a2a_fast.executor.Executor` runs one
beside itself.

Workflow definitions are registered in memory (:meth:`Coordinator.register_workflow`); a session carries
its own copy, so it resumes even when its workflow was not registered again after a restart.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from a2a_fast.config import ProtocolConfig, load_named
from a2a_fast.envelope import KIND_SESSION_EVENT, KIND_STEP_REQUEST, KIND_STEP_RESULT, Inbound, json_or_text
from a2a_fast.errors import ConfigError, SessionLimitError, UnknownSessionError, UnknownWorkflowError, WorkflowError
from a2a_fast.executor import TaskContext, TaskHandler
from a2a_fast.provider import derived_id
from a2a_fast.runtime import Agent, AgentConfig, replay
from a2a_fast.tracing import child_traceparent, new_traceparent

__all__ = [
    "AgentLocator",
    "CollaborationStatus",
    "Coordinator",
    "SessionState",
    "StepAttempt",
    "StepRunner",
    "StepStatus",
    "WorkflowDefinition",
    "WorkflowStep",
    "load_workflows",
]

log = logging.getLogger("a2a_fast.workflows")

RUNNING = "RUNNING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
PENDING = "PENDING"
SESSION_FINAL = frozenset({COMPLETED, FAILED, TIMED_OUT})


# --- Definitions ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkflowStep:
    """One step: an agent offering every one of ``capabilities`` runs the handler of the first one.

    ``params`` are the step's fixed inputs (a session's ``params`` override them); ``timeout`` bounds each
    attempt in seconds; ``retries`` is how many more attempts a failed or timed-out one gets; a step with
    ``required=False`` may fail without failing the session.
    """

    name: str
    description: str = ""
    capabilities: Sequence[str] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    required: bool = True
    timeout: float = 60.0
    retries: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise WorkflowError("step name: must be a non-empty string")
        where = f"step {self.name!r}"
        if isinstance(self.capabilities, str):
            raise WorkflowError(f"{where}: capabilities must be a list of names, got the string {self.capabilities!r}")
        capabilities = tuple(str(c).strip().lower() for c in self.capabilities)
        if not capabilities or not all(capabilities):
            raise WorkflowError(f"{where}: capabilities must name at least one capability, none empty")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in dict(self.params).items()):
            raise WorkflowError(f"{where}: params must map strings to strings")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, int | float) or not self.timeout > 0:
            raise WorkflowError(f"{where}: timeout must be a number of seconds > 0, got {self.timeout!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise WorkflowError(f"{where}: retries must be an integer >= 0, got {self.retries!r}")
        object.__setattr__(self, "capabilities", capabilities)
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "timeout", float(self.timeout))

    @property
    def attempts_allowed(self) -> int:
        return 1 + self.retries

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "capabilities": list(self.capabilities),
            "params": dict(self.params),
            "required": self.required,
            "timeout": self.timeout,
            "retries": self.retries,
        }


@dataclass(frozen=True)
class WorkflowDefinition:
    """A named, ordered list of steps; ``id`` is what :meth:`Coordinator.start_collaboration` takes."""

    id: str
    name: str
    description: str
    steps: Sequence[WorkflowStep]

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise WorkflowError("workflow id: must be a non-empty string")
        steps = tuple(self.steps)
        if not steps:
            raise WorkflowError(f"workflow {self.id!r}: needs at least one step")
        names = [step.name for step in steps]
        duplicate = next((name for name in names if names.count(name) > 1), None)
        if duplicate is not None:
            raise WorkflowError(f"workflow {self.id!r}: step name {duplicate!r} is used twice")
        object.__setattr__(self, "steps", steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "steps": [step.to_dict() for step in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowDefinition:
        """The definition of :meth:`to_dict`'s output; raises :class:`WorkflowError` when it is not one."""
        try:
            steps = [WorkflowStep(**step) for step in data["steps"]]
            return cls(data["id"], data.get("name", data["id"]), data.get("description", ""), steps)
        except (KeyError, TypeError) as error:
            raise WorkflowError(f"not a workflow definition: {error}") from error


def load_workflows(spec: str) -> list[WorkflowDefinition]:
    """The workflow definitions named by ``"package.module:NAME"`` (a sequence of them)."""
    found = load_named(spec, "--workflows")
    definitions = list(found.values() if isinstance(found, Mapping) else found)
    if not all(isinstance(definition, WorkflowDefinition) for definition in definitions):
        raise ConfigError(f"--workflows {spec!r}: expected a sequence of WorkflowDefinition")
    return definitions


# --- Status, as callers see it --------------------------------------------------------------------------------------


@dataclass
class StepAttempt:
    """One attempt of a step: the agent it went to (None: no live agent could take it) and how it ended."""

    attempt: int
    agent_id: str | None
    state: str = RUNNING
    error: str | None = None
    started: float = 0.0
    finished: float | None = None


@dataclass
class StepStatus:
    """A step's state (PENDING, RUNNING, COMPLETED, FAILED, TIMED_OUT), its attempts and its output."""

    name: str
    capabilities: tuple[str, ...]
    required: bool
    state: str = PENDING
    attempts: list[StepAttempt] = field(default_factory=list)
    output: Any = None
    error: str | None = None

    @property
    def agent(self) -> str | None:
        """The agent of the latest attempt."""
        return self.attempts[-1].agent_id if self.attempts else None


@dataclass
class CollaborationStatus:
    """A session's state (RUNNING, COMPLETED, FAILED, TIMED_OUT) and each step's; ``output`` is the last
    successful step's output once COMPLETED. Times are epoch seconds."""

    session_id: str
    workflow_id: str
    coordinator_id: str
    state: str
    steps: list[StepStatus]
    agent_ids: list[str]
    parameters: dict[str, str]
    started: float
    deadline: float
    finished: float | None = None
    error: str | None = None
    output: Any = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with each step's ``agent`` and ``attempts`` spelled out."""
        body = asdict(self)
        for step, status in zip(body["steps"], self.steps, strict=True):
            step["agent"] = status.agent
        return body


# --- Where steps can go ---------------------------------------------------------------------------------------------


class AgentLocator(Protocol):
    """What the coordinator needs from the mesh directory (:class:`a2a_fast.mesh.directory.AgentDirectory`):
    the live agents offering a capability, and whether one agent is alive."""

    def find_agents_by_capability(self, capability: str) -> Iterable[Any]:
        """Live agents offering ``capability``: agent infos (with ``.card.agent_id``), cards or ids."""
        ...

    def is_agent_alive(self, agent_id: str) -> bool: ...


def _agent_id(found: Any) -> str:
    if isinstance(found, str):
        return found
    card = getattr(found, "card", found)
    return str(card.agent_id)


def live_agents_for(locator: AgentLocator, capabilities: Sequence[str], among: Sequence[str] = ()) -> list[str]:
    """Ids of the live agents offering every one of ``capabilities`` (and in ``among`` when given), sorted."""
    found: set[str] | None = None
    for capability in capabilities:
        ids = {_agent_id(item) for item in locator.find_agents_by_capability(capability)}
        found = ids if found is None else found & ids
    chosen = found or set()
    if among:
        chosen &= set(among)
    return sorted(agent for agent in chosen if locator.is_agent_alive(agent))


def choose_agent(candidates: Sequence[str], tried: Sequence[str | None], turn: int = 0) -> str | None:
    """The agent for the next attempt: one not tried yet for this step (rotating by ``turn``), else the one
    tried the fewest times and longest ago."""
    if not candidates:
        return None
    untried = [agent for agent in candidates if agent not in tried]
    if untried:
        return untried[turn % len(untried)]
    last = {agent: index for index, agent in enumerate(tried) if agent is not None}
    return min(candidates, key=lambda agent: (tried.count(agent), last.get(agent, -1)))


# --- Session state: a fold over the session's records ---------------------------------------------------------------


@dataclass(frozen=True)
class _Action:
    """What a session needs next: ``dispatch`` (step, attempt), ``wait`` (until ``due``), ``finish``
    (``state``, ``message``) or ``expire`` (the session deadline passed)."""

    kind: str
    step: int = -1
    attempt: int = 0
    due: float = 0.0
    state: str = ""
    message: str | None = None


class SessionState:
    """One session rebuilt from its records; :meth:`apply` each record in log order, then ask
    :meth:`next_action`. Applying is idempotent: a record already reflected changes nothing."""

    def __init__(
        self,
        session_id: str,
        coordinator_id: str,
        definition: WorkflowDefinition,
        agent_ids: Sequence[str],
        parameters: Mapping[str, str],
        started: float,
        deadline: float,
        traceparent: str | None = None,
    ) -> None:
        self.session_id = session_id
        self.coordinator_id = coordinator_id
        self.definition = definition
        self.agent_ids = list(agent_ids)
        self.parameters = dict(parameters)
        self.started = started
        self.deadline = deadline
        self.traceparent = traceparent
        self.state = RUNNING
        self.finished: float | None = None
        self.error: str | None = None
        self.steps = [StepStatus(step.name, tuple(step.capabilities), step.required) for step in definition.steps]
        self._outputs: list[str | None] = [None] * len(self.steps)

    @classmethod
    def from_started(cls, message: Inbound) -> SessionState:
        """The session a ``STARTED`` session event begins."""
        record = message.record
        definition = WorkflowDefinition.from_dict(json.loads(record["workflow"] or "{}"))
        return cls(
            message.task_id,
            record["coordinator_id"],
            definition,
            record.get("agent_ids") or [],
            record.get("parameters") or {},
            record["timestamp"] / 1000,
            (record.get("deadline") or record["timestamp"]) / 1000,
            message.traceparent,
        )

    @property
    def final(self) -> bool:
        return self.state in SESSION_FINAL

    def apply(self, message: Inbound) -> None:
        if self.final:
            return
        record = message.record
        if message.kind == KIND_SESSION_EVENT:
            event = record["event"]
            if event in SESSION_FINAL:
                self.state, self.finished, self.error = event, record["timestamp"] / 1000, record.get("message")
                for step in self.steps:
                    for attempt in step.attempts:
                        if attempt.state == RUNNING:
                            attempt.state, attempt.finished = event, self.finished
                    if step.state == RUNNING:
                        step.state = event
            return
        index = record["step_index"]
        if not 0 <= index < len(self.steps):
            return
        step = self.steps[index]
        number = record["attempt"]
        if message.kind == KIND_STEP_REQUEST:
            if number == len(step.attempts) + 1 and step.state in (PENDING, RUNNING):
                step.attempts.append(StepAttempt(number, record["agent_id"], started=record["timestamp"] / 1000))
                step.state = RUNNING
        elif message.kind == KIND_STEP_RESULT:
            self._apply_result(index, record)

    def _apply_result(self, index: int, record: Mapping[str, Any]) -> None:
        step, spec = self.steps[index], self.definition.steps[index]
        number, status = record["attempt"], record["status"]
        if number == len(step.attempts) + 1 and record.get("agent_id") is None:
            # No agent could take this attempt: it is recorded without a request.
            step.attempts.append(StepAttempt(number, None, started=record["timestamp"] / 1000))
        if not 1 <= number <= len(step.attempts):
            return
        attempt = step.attempts[number - 1]
        if attempt.state != RUNNING or step.state not in (PENDING, RUNNING):
            return  # the first result of an attempt counts
        attempt.state, attempt.error, attempt.finished = status, record.get("error"), record["timestamp"] / 1000
        if status == COMPLETED:
            step.state, step.error = COMPLETED, None
            self._outputs[index] = record.get("output")
            step.output = json_or_text(record.get("output"))
        elif len(step.attempts) >= spec.attempts_allowed:
            step.state = FAILED
            step.error = f"{attempt.error or status.lower()} (after {len(step.attempts)} attempt(s))"
        else:
            step.state = PENDING

    def previous_output(self, index: int) -> str | None:
        """JSON of the last successful output before step ``index``."""
        for output, step in zip(reversed(self._outputs[:index]), reversed(self.steps[:index]), strict=True):
            if step.state == COMPLETED:
                return output
        return None

    def next_action(self, now: float) -> _Action | None:
        if self.final:
            return None
        if now >= self.deadline:
            return _Action("expire")
        for index, (step, spec) in enumerate(zip(self.steps, self.definition.steps, strict=True)):
            if step.state == COMPLETED:
                continue
            if step.state == FAILED:
                if spec.required:
                    return _Action("finish", state=FAILED, message=f"step {spec.name!r} failed: {step.error}")
                continue
            if step.state == RUNNING and step.attempts and step.attempts[-1].state == RUNNING:
                current = step.attempts[-1]
                return _Action("wait", index, current.attempt, due=current.started + spec.timeout)
            return _Action("dispatch", index, len(step.attempts) + 1)
        return _Action("finish", state=COMPLETED)

    def output_json(self) -> str | None:
        return self.previous_output(len(self.steps))

    def status(self) -> CollaborationStatus:
        return CollaborationStatus(
            session_id=self.session_id,
            workflow_id=self.definition.id,
            coordinator_id=self.coordinator_id,
            state=self.state,
            steps=[replace(step, attempts=[replace(a) for a in step.attempts]) for step in self.steps],
            agent_ids=list(self.agent_ids),
            parameters=dict(self.parameters),
            started=self.started,
            deadline=self.deadline,
            finished=self.finished,
            error=self.error,
            output=json_or_text(self.output_json()) if self.state == COMPLETED else None,
        )


def _millis(seconds: float) -> int:
    return round(seconds * 1000)


# --- The coordinator --------------------------------------------------------------------------------------------------


class Coordinator(Agent):
    """Runs collaboration sessions of registered workflows; see the module docstring.

    ``locator`` finds live agents (default: a mesh :class:`~a2a_fast.mesh.directory.AgentDirectory` on this
    agent's broker, started and stopped with the coordinator); ``protocol`` (else ``config.protocol``, else
    the loaded protocol config) gives the session limit and the default session timeout.
    """

    role = "coordinator"

    def __init__(
        self,
        config: AgentConfig,
        locator: AgentLocator | None = None,
        protocol: ProtocolConfig | None = None,
        workflows: Iterable[WorkflowDefinition] = (),
    ) -> None:
        super().__init__(config if protocol is None else replace(config, protocol=protocol))
        self.locator = locator
        self._own_locator: Any = None
        self._workflows: dict[str, WorkflowDefinition] = {}
        for definition in workflows:
            self.register_workflow(definition)
        self._sessions: dict[str, SessionState] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()  # ended sessions still kept, oldest first
        self._locks: dict[str, asyncio.Lock] = {}
        self._intents: dict[str, set[tuple[Any, ...]]] = {}
        self._timers: dict[tuple[Any, ...], asyncio.TimerHandle] = {}
        self._jobs: set[asyncio.Task[None]] = set()
        self._waiters: dict[str, list[asyncio.Future[CollaborationStatus]]] = {}
        self._replayed: dict[tuple[str, int], int] = {}
        self._turn = 0
        self._stopping = False
        self.resumed = 0
        self.on_change: Callable[[CollaborationStatus], None] | None = None
        """Called with a session's new status each time one of its records is applied."""

    def default_group(self) -> str:
        return f"{self.topics.prefix}coordinator-{self.agent_id}"

    def subscriptions(self) -> list[str]:
        return [self.topics.collaborations]

    # --- the API ----------------------------------------------------------------------------------

    def register_workflow(self, definition: WorkflowDefinition) -> None:
        """Makes ``definition`` startable by its id (registering an id again replaces it)."""
        if not isinstance(definition, WorkflowDefinition):
            raise WorkflowError(f"expected a WorkflowDefinition, got {type(definition).__name__}")
        self._workflows[definition.id] = definition

    def list_workflows(self) -> list[WorkflowDefinition]:
        return sorted(self._workflows.values(), key=lambda definition: definition.id)

    def active_sessions(self) -> int:
        return sum(1 for session in self._sessions.values() if not session.final)

    async def start_collaboration(
        self,
        workflow_id: str,
        agent_ids: Sequence[str] | None = None,
        params: Mapping[str, str] | None = None,
        *,
        timeout_seconds: float | None = None,
    ) -> str:
        """Starts a session of ``workflow_id`` and returns its id once its ``STARTED`` event is on the log.

        Steps go only to ``agent_ids`` when given. Raises :class:`UnknownWorkflowError`,
        :class:`SessionLimitError` (``workflows.max_concurrent_sessions`` sessions running) or
        :class:`WorkflowError` (bad ``params`` or ``timeout_seconds``); the session times out after
        ``timeout_seconds`` (default ``workflows.default_timeout_seconds``).
        """
        definition = self._workflows.get(workflow_id)
        if definition is None:
            known = ", ".join(sorted(self._workflows)) or "none"
            raise UnknownWorkflowError(f"no workflow {workflow_id!r} is registered (registered: {known})")
        limit = self.protocol.workflows.max_concurrent_sessions
        if self.active_sessions() >= limit:
            raise SessionLimitError(
                f"coordinator {self.agent_id} already runs {limit} sessions (workflows.max_concurrent_sessions);"
                " start this one when one of them has ended"
            )
        parameters = dict(params or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in parameters.items()):
            raise WorkflowError("params: must map strings to strings")
        seconds = self.protocol.workflows.default_timeout_seconds if timeout_seconds is None else timeout_seconds
        if not seconds > 0:
            raise WorkflowError(f"timeout_seconds: must be > 0, got {seconds}")
        session_id = uuid.uuid4().hex
        now = time.time()
        session = SessionState(
            session_id, self.agent_id, definition, list(agent_ids or ()), parameters, now, now + seconds,
            new_traceparent(),
        )  # fmt: skip
        self._sessions[session_id] = session  # counted against the limit from now on
        try:
            await self.publish(
                KIND_SESSION_EVENT,
                {
                    "task_id": session_id,
                    "coordinator_id": self.agent_id,
                    "event": "STARTED",
                    "workflow_id": definition.id,
                    "workflow": json.dumps(definition.to_dict()),
                    "agent_ids": session.agent_ids,
                    "parameters": parameters,
                    "deadline": _millis(session.deadline),
                    "message": None,
                    "output": None,
                    "timestamp": _millis(now),
                },
                collaboration_id=session_id,
                traceparent=session.traceparent,
            )
        except BaseException:
            del self._sessions[session_id]
            raise
        self._changed(session)
        await self._advance(session)
        return session_id

    def get_collaboration_status(self, session_id: str) -> CollaborationStatus:
        """A copy of the session's status; raises :class:`UnknownSessionError` for an id it does not run."""
        return self._session(session_id).status()

    def list_sessions(self) -> list[CollaborationStatus]:
        return [session.status() for session in sorted(self._sessions.values(), key=lambda s: s.started)]

    def _session(self, session_id: str) -> SessionState:
        session = self._sessions.get(session_id)
        if session is None:
            kept = self.protocol.workflows.retained_finished_sessions
            raise UnknownSessionError(
                f"coordinator {self.agent_id} has no session {session_id!r} (it keeps the last {kept} ended"
                " sessions: workflows.retained_finished_sessions)"
            )
        return session

    async def wait_for(self, session_id: str) -> CollaborationStatus:
        """Waits until the session is COMPLETED, FAILED or TIMED_OUT and returns its status."""
        session = self._session(session_id)
        if session.final:
            return session.status()
        future: asyncio.Future[CollaborationStatus] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(session_id, []).append(future)
        return await asyncio.shield(future)

    # --- lifecycle --------------------------------------------------------------------------------

    def task_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for session in self._sessions.values():
            counts[session.state] = counts.get(session.state, 0) + 1
        return counts

    def extra_status(self) -> dict[str, Any]:
        return {
            "workflows": sorted(self._workflows),
            "active_sessions": self.active_sessions(),
            "max_concurrent_sessions": self.protocol.workflows.max_concurrent_sessions,
            "resumed_sessions": self.resumed,
        }

    async def on_start(self) -> None:
        if self.locator is None:
            self.locator = self._own_locator = await self._start_directory()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._rebuild)
        unfinished = [session for session in self._sessions.values() if not session.final]
        self.resumed = len(unfinished)
        for session in unfinished:
            await self._advance(session)

    async def _start_directory(self) -> AgentLocator:
        from a2a_fast.mesh.directory import AgentDirectory

        directory = AgentDirectory(self.config.kafka, self.topics.agents, self.protocol)
        await directory.start()
        return directory

    async def stop(self) -> None:
        self._stopping = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for job in list(self._jobs):
            job.cancel()
        if self._jobs:
            await asyncio.wait(list(self._jobs))
        await super().stop()
        if self._own_locator is not None:
            await self._own_locator.stop()
            self._own_locator = None
        for futures in self._waiters.values():
            for future in futures:
                future.cancel()
        self._waiters.clear()

    def _rebuild(self) -> None:
        assert self.catalog is not None
        for message in replay(self.config, self.catalog, topics=[self.topics.collaborations]):
            where = (message.topic, message.partition)
            self._replayed[where] = max(self._replayed.get(where, 0), message.offset + 1)
            self._apply(message)

    # --- applying the log -------------------------------------------------------------------------

    async def handle(self, message: Inbound) -> None:
        if message.offset < self._replayed.get((message.topic, message.partition), 0):
            return  # applied while rebuilding
        session = self._apply(message)
        if session is not None:
            self._changed(session)
            await self._advance(session)

    def _apply(self, message: Inbound) -> SessionState | None:
        if message.kind not in (KIND_SESSION_EVENT, KIND_STEP_REQUEST, KIND_STEP_RESULT):
            return None
        session = self._sessions.get(message.task_id)
        if session is None:
            if message.kind != KIND_SESSION_EVENT or message.record["event"] != "STARTED":
                return None
            if message.record["coordinator_id"] != self.agent_id:
                return None
            try:
                session = SessionState.from_started(message)
            except (WorkflowError, ValueError) as error:
                log.warning("%s: session %s cannot be resumed: %s", self.agent_id, message.task_id, error)
                return None
            self._sessions[session.session_id] = session
            return session
        if session.coordinator_id != self.agent_id:
            return None
        session.apply(message)
        if session.final and session.session_id not in self._ended:
            self._ended[session.session_id] = None
            while len(self._ended) > self.protocol.workflows.retained_finished_sessions:
                self._forget(self._ended.popitem(last=False)[0])
        return session

    def _forget(self, session_id: str) -> None:
        del self._sessions[session_id]
        self._locks.pop(session_id, None)
        self._intents.pop(session_id, None)

    def _changed(self, session: SessionState) -> None:
        if self.on_change is not None:
            try:
                self.on_change(session.status())
            except Exception:
                log.exception("%s: on_change callback failed", self.agent_id)
        if session.final:
            for key in [key for key in self._timers if key[0] == session.session_id]:
                self._timers.pop(key).cancel()
            status = session.status()
            for future in self._waiters.pop(session.session_id, []):
                if not future.done():
                    future.set_result(status)

    # --- acting on what a session needs -----------------------------------------------------------

    async def _advance(self, session: SessionState) -> None:
        if self._stopping:
            return
        lock = self._locks.setdefault(session.session_id, asyncio.Lock())
        async with lock:
            action = session.next_action(time.time())
            if action is None:
                self._locks.pop(session.session_id, None)
                self._intents.pop(session.session_id, None)
                return
            intents = self._intents.setdefault(session.session_id, set())
            self._arm(session, ("deadline",), session.deadline)
            if action.kind == "wait":
                self._arm(session, ("attempt", action.step, action.attempt), action.due)
                return
            # A session ends once, whether it finished or expired first.
            intent = ("end",) if action.kind in ("finish", "expire") else (action.kind, action.step, action.attempt)
            if intent in intents:
                return  # published already; waiting for it to come back from the log
            intents.add(intent)
            if action.kind == "dispatch":
                await self._send_step(session, action.step, action.attempt)
            elif action.kind == "finish":
                await self._end(session, action.state, action.message)
            elif action.kind == "expire":
                running = [step.name for step in session.steps if step.state == RUNNING]
                where = f" while step {running[0]!r} was running" if running else ""
                seconds = session.deadline - session.started
                await self._end(session, TIMED_OUT, f"session did not finish within {seconds:g}s{where}")

    def _arm(self, session: SessionState, what: tuple[Any, ...], due: float) -> None:
        key = (session.session_id, *what)
        if key in self._timers:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, due - time.time())
        # A fresh context: what a timer publishes belongs to no record being handled (see Agent.publish).
        self._timers[key] = loop.call_later(delay, self._fire, session, key, context=contextvars.Context())

    def _fire(self, session: SessionState, key: tuple[Any, ...]) -> None:
        self._timers.pop(key, None)
        if self._stopping:
            return
        attempt = key[1] == "attempt"
        work = self._attempt_timed_out(session, key[2], key[3]) if attempt else self._advance(session)
        job = asyncio.get_running_loop().create_task(self._guarded(work))
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception as error:
            # The session stays as the log has it; the next record or a restart takes it from there.
            log.error("%s: acting on a session failed: %r", self.agent_id, error)

    async def _attempt_timed_out(self, session: SessionState, index: int, number: int) -> None:
        step = session.steps[index]
        if session.final or len(step.attempts) < number or step.attempts[number - 1].state != RUNNING:
            return
        intents = self._intents.setdefault(session.session_id, set())
        if ("timeout", index, number) in intents:
            return
        intents.add(("timeout", index, number))
        spec = session.definition.steps[index]
        agent = step.attempts[number - 1].agent_id
        await self._result(session, index, number, agent, TIMED_OUT, f"no result from {agent} within {spec.timeout:g}s")

    async def _send_step(self, session: SessionState, index: int, number: int) -> None:
        spec, step = session.definition.steps[index], session.steps[index]
        locator = self.locator
        assert locator is not None
        candidates = live_agents_for(locator, spec.capabilities, session.agent_ids)
        agent = choose_agent(candidates, [attempt.agent_id for attempt in step.attempts], self._turn)
        self._turn += 1
        if agent is None:
            among = f" among {session.agent_ids}" if session.agent_ids else ""
            wanted = " + ".join(spec.capabilities)
            await self._result(session, index, number, None, FAILED, f"no live agent{among} offers {wanted}")
            return
        await self.publish(
            KIND_STEP_REQUEST,
            {
                "task_id": session.session_id,
                "coordinator_id": self.agent_id,
                "workflow_id": session.definition.id,
                "step_index": index,
                "step_name": spec.name,
                "attempt": number,
                "agent_id": agent,
                "capability": spec.capabilities[0],
                "description": spec.description,
                "parameters": {**spec.params, **session.parameters},
                "input": session.previous_output(index),
                "timeout_ms": _millis(spec.timeout),
                "timestamp": _millis(time.time()),
            },
            target_agent=agent,
            collaboration_id=session.session_id,
            traceparent=child_traceparent(session.traceparent),
            event_id=derived_id(session.session_id, f"request/{index}/{number}"),
        )

    async def _result(
        self, session: SessionState, index: int, number: int, agent: str | None, status: str, error: str
    ) -> None:
        await self.publish(
            KIND_STEP_RESULT,
            {
                "task_id": session.session_id,
                "step_index": index,
                "step_name": session.definition.steps[index].name,
                "attempt": number,
                "agent_id": agent,
                "status": status,
                "output": None,
                "error": error,
                "timestamp": _millis(time.time()),
            },
            target_agent=self.agent_id,
            collaboration_id=session.session_id,
            traceparent=child_traceparent(session.traceparent),
            event_id=derived_id(session.session_id, f"coordinator-result/{index}/{number}"),
        )

    async def _end(self, session: SessionState, state: str, message: str | None) -> None:
        await self.publish(
            KIND_SESSION_EVENT,
            {
                "task_id": session.session_id,
                "coordinator_id": self.agent_id,
                "event": state,
                "workflow_id": session.definition.id,
                "workflow": None,
                "agent_ids": [],
                "parameters": {},
                "deadline": None,
                "message": message,
                "output": session.output_json() if state == COMPLETED else None,
                "timestamp": _millis(time.time()),
            },
            collaboration_id=session.session_id,
            traceparent=child_traceparent(session.traceparent),
            event_id=derived_id(session.session_id, f"end/{state}"),
        )


# --- The agent side ---------------------------------------------------------------------------------------------------


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

    def __init__(self, config: AgentConfig, handlers: Mapping[str, TaskHandler]) -> None:
        super().__init__(config)
        self.handlers = handlers
        self.counts = {COMPLETED: 0, FAILED: 0, TIMED_OUT: 0, "IGNORED": 0, "EXPIRED": 0}

    def capabilities(self) -> list[str]:
        return sorted(name.strip().lower() for name in self.handlers)

    def default_group(self) -> str:
        return f"{self.topics.prefix}steps-{self.agent_id}"

    def subscriptions(self) -> list[str]:
        return [self.topics.collaborations]

    def task_counts(self) -> dict[str, int]:
        return dict(self.counts)

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
                status, output = COMPLETED, json.dumps(outcome, default=str)
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
                "timestamp": _millis(time.time()),
            },
            target_agent=record["coordinator_id"],
            collaboration_id=message.collaboration_id or message.task_id,
            traceparent=child_traceparent(message.traceparent),
            event_id=derived_id(message.event_id, "result"),
        )
