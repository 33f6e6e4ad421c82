"""The coordinator agent: starts workflow sessions, sends each step to a live agent, and follows the log.

See :mod:`a2a_fast.workflows` for the rules; the session state machine is :mod:`a2a_fast.workflows.sessions`.
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
from dataclasses import replace
from typing import Any

from a2a_fast.agents.base import Agent, AgentConfig
from a2a_fast.config import ProtocolConfig
from a2a_fast.errors import SessionLimitError, UnknownSessionError, UnknownWorkflowError, WorkflowError
from a2a_fast.observability.tracing import child_traceparent, new_traceparent
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.ids import derived_id
from a2a_fast.protocol.kinds import KIND_SESSION_EVENT, KIND_STEP_REQUEST, KIND_STEP_RESULT
from a2a_fast.transport.log import replay
from a2a_fast.workflows.definitions import WorkflowDefinition
from a2a_fast.workflows.sessions import (
    COMPLETED,
    FAILED,
    RUNNING,
    TIMED_OUT,
    AgentLocator,
    CollaborationStatus,
    SessionState,
    choose_agent,
    live_agents_for,
    millis,
)

__all__ = ["Coordinator"]

log = logging.getLogger("a2a_fast.workflows")


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
                    "deadline": millis(session.deadline),
                    "message": None,
                    "output": None,
                    "timestamp": millis(now),
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

        directory = AgentDirectory(self.transport, self.topics.agents, self.protocol)
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
        for message in replay(
            self.transport, self.catalog, self.topics, topics=[self.topics.collaborations], reader=self.agent_id
        ):
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
                "timeout_ms": millis(spec.timeout),
                "timestamp": millis(time.time()),
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
                "timestamp": millis(time.time()),
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
                "timestamp": millis(time.time()),
            },
            collaboration_id=session.session_id,
            traceparent=child_traceparent(session.traceparent),
            event_id=derived_id(session.session_id, f"end/{state}"),
        )
