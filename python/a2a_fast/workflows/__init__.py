"""Collaboration workflows: ordered steps run by live agents, kept as event-sourced sessions on the log.

A :class:`~a2a_fast.workflows.definitions.WorkflowDefinition` is a list of
:class:`~a2a_fast.workflows.definitions.WorkflowStep`\\ s. ``await coordinator.start_collaboration(workflow_id,
agent_ids, params)`` starts a *session* of it; the :class:`~a2a_fast.agents.coordinator.Coordinator` then sends each
step, in order, to a live agent offering all of the step's capabilities (only among ``agent_ids`` when given, found
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

**Steps.** A step's ``timeout`` bounds each attempt; a failed or timed-out attempt is retried up to ``retries``
times, on an agent not tried yet for that step when there is one (an attempt for which no live agent offers the
capabilities fails at once). A required step that runs out of attempts fails the session (naming the step); an
optional one (``required=False``) is recorded as FAILED and the session goes on with the previous output. A session
times out as a whole after the ``timeout_seconds`` given to
:meth:`~a2a_fast.agents.coordinator.Coordinator.start_collaboration` (default
``workflows.default_timeout_seconds``), and a coordinator runs at most ``workflows.max_concurrent_sessions``
sessions at once (:class:`~a2a_fast.errors.SessionLimitError`). It answers for the last
``workflows.retained_finished_sessions`` sessions that ended and forgets older ones, so a long-running coordinator's
memory stays bounded; their records stay on the log for ``a2a-fast replay``.

**Running steps.** :class:`~a2a_fast.agents.steps.StepRunner` is the agent side: it reads the topic in its own
consumer group (``<topic prefix>steps-<agent id>``), runs the step requests addressed to it (ignoring the others)
with the same handlers executors use (:class:`~a2a_fast.agents.tasks.TaskContext`, with the step's parameters and the
previous output), and answers with a ``StepResult``. Every :class:`~a2a_fast.agents.executor.Executor` runs one beside
itself.

Workflow definitions are registered in memory (:meth:`~a2a_fast.agents.coordinator.Coordinator.register_workflow`);
a session carries its own copy, so it resumes even when its workflow was not registered again after a restart.
"""
