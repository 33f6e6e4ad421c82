"""One collaboration session as folded from the log, and the choice of the agent for each step attempt.

The state machine is pure: :class:`SessionState` applies records read back from the log and says what to do
next (:meth:`SessionState.next_action`); the coordinator agent (:mod:`a2a_fast.agents.coordinator`) acts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from a2a_fast.protocol.envelope import Inbound, json_or_text
from a2a_fast.protocol.kinds import KIND_SESSION_EVENT, KIND_STEP_REQUEST, KIND_STEP_RESULT
from a2a_fast.workflows.definitions import WorkflowDefinition

__all__ = [
    "COMPLETED",
    "FAILED",
    "PENDING",
    "RUNNING",
    "SESSION_FINAL",
    "TIMED_OUT",
    "AgentLocator",
    "CollaborationStatus",
    "SessionState",
    "StepAttempt",
    "StepStatus",
    "choose_agent",
    "live_agents_for",
    "millis",
    "runs_steps",
]

RUNNING = "RUNNING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
PENDING = "PENDING"
SESSION_FINAL = frozenset({COMPLETED, FAILED, TIMED_OUT})


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


def runs_steps(found: Any) -> bool:
    """Whether a directory entry is an agent that runs workflow steps: its card says so (executors do;
    providers list capabilities too, but only price tasks). A bare id is taken at its word."""
    card = getattr(found, "card", found)
    resources = getattr(card, "resources", None)
    return resources is None or bool(resources.get("steps"))


def live_agents_for(locator: AgentLocator, capabilities: Sequence[str], among: Sequence[str] = ()) -> list[str]:
    """Ids of the live agents that run steps and offer every one of ``capabilities`` (and are in ``among`` when
    given), sorted."""
    found: set[str] | None = None
    for capability in capabilities:
        ids = {_agent_id(item) for item in locator.find_agents_by_capability(capability) if runs_steps(item)}
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


def millis(seconds: float) -> int:
    return round(seconds * 1000)
