"""Any A2A message in words: the event it records and one readable line, as ``a2a-fast tail`` prints them.

Task messages read as their :class:`~a2a_fast.history.tasks.TimelineEntry` does
(``prov-1 NEGOTIATING 90.00 (round 1) -> req-1``). Collaboration messages read as what they say about
the session (``coord-1 STARTED brief: steps summary, translate``) or one attempt of one step
(``coord-1 REQUESTED step 1 summary (summarize) attempt 1 -> exec-1``,
``exec-1 COMPLETED step 1 summary attempt 1: {"summary": ...}``).
"""

from __future__ import annotations

import json
from typing import Any, Final

from a2a_fast.history.tasks import TASK_KINDS, timeline_entry
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_SESSION_EVENT, KIND_STEP_REQUEST, KIND_STEP_RESULT

__all__ = ["COLLABORATION_KINDS", "describe_message", "message_event", "subject_label"]

COLLABORATION_KINDS: Final = frozenset({KIND_SESSION_EVENT, KIND_STEP_REQUEST, KIND_STEP_RESULT})


def subject_label(message: Inbound) -> str:
    """What the record key names: ``task`` for task messages, ``session`` for collaboration messages."""
    return "session" if message.kind in COLLABORATION_KINDS else "task"


def message_event(message: Inbound) -> str:
    """The event a message records: ``REQUESTED``, a negotiation action, a task status; a session's
    ``STARTED``/``COMPLETED``/``FAILED``/``TIMED_OUT``; ``REQUESTED`` for a step attempt, or how it ended."""
    record = message.record
    if message.kind in TASK_KINDS:
        return timeline_entry(message).event
    if message.kind == KIND_SESSION_EVENT:
        return str(record.get("event") or "?")
    if message.kind == KIND_STEP_REQUEST:
        return "REQUESTED"
    if message.kind == KIND_STEP_RESULT:
        return str(record.get("status") or "?")
    return "?"


def describe_message(message: Inbound) -> str:
    """One readable line about any A2A message (see the module's examples)."""
    if message.kind in TASK_KINDS:
        return timeline_entry(message).describe()
    record = message.record
    event = message_event(message)
    if message.kind == KIND_SESSION_EVENT:
        line = f"{message.source_agent} {event} {record.get('workflow_id') or '?'}"
        if event == "STARTED":
            steps = _step_names(record.get("workflow"))
            agents = list(record.get("agent_ids") or ())
            line += f": steps {', '.join(steps) or '?'}" + (f"; agents {', '.join(agents)}" if agents else "")
            return line
        detail = record.get("output") if event == "COMPLETED" else record.get("message")
        return f"{line}: {detail}" if detail else line
    if message.kind == KIND_STEP_REQUEST:
        return (
            f"{message.source_agent} {event} {_step(record)} ({record.get('capability') or '?'})"
            f" attempt {record.get('attempt')} -> {record.get('agent_id') or message.target_agent or '?'}"
        )
    if message.kind == KIND_STEP_RESULT:
        line = f"{message.source_agent} {event} {_step(record)} attempt {record.get('attempt')}"
        runner = record.get("agent_id")
        if runner and runner != message.source_agent:
            line += f" (agent {runner})"
        elif not runner:
            line += " (no live agent)"
        detail = record.get("output") if event == "COMPLETED" else record.get("error")
        return f"{line}: {detail}" if detail else line
    return f"{message.source_agent} {message.kind}"


def _step(record: dict[str, Any]) -> str:
    index = record.get("step_index")
    number = index + 1 if isinstance(index, int) else "?"
    return f"step {number} {record.get('step_name') or '?'}"


def _step_names(workflow_json: Any) -> list[str]:
    """The step names of a session's workflow definition (JSON text); none when it is not readable."""
    try:
        steps = json.loads(workflow_json)["steps"] if isinstance(workflow_json, str) else []
        return [str(step["name"]) for step in steps]
    except (ValueError, KeyError, TypeError):
        return []
