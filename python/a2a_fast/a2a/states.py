"""A2A task states and a2a_fast's task states, both ways (the table in ``docs/a2a-kafka-binding.md``).

Every A2AEvent record carries the task's A2A state and the same state in a2a_fast's words, so ``a2a-fast
replay``, ``tasks`` and the console fold A2A tasks like any other:

==========================  ===============  ================================================================
A2A ``TaskState``           a2a_fast state   why
==========================  ===============  ================================================================
``TASK_STATE_SUBMITTED``    ``ACCEPTED``     a member of the agent's pool took the task, it has not started
``TASK_STATE_WORKING``      ``RUNNING``      the executor runs it
``TASK_STATE_INPUT_REQUIRED`` ``NEGOTIATING``  waiting for the requester's next message (our negotiation's twin)
``TASK_STATE_AUTH_REQUIRED``  ``NEGOTIATING``  waiting for the requester too
``TASK_STATE_COMPLETED``    ``COMPLETED``
``TASK_STATE_FAILED``       ``FAILED``
``TASK_STATE_CANCELED``     ``CANCELED``
``TASK_STATE_REJECTED``     ``REJECTED``
==========================  ===============  ================================================================

The other way, a2a_fast's states read as A2A states: ``PENDING`` and ``ACCEPTED`` are ``SUBMITTED``,
``NEGOTIATING`` is ``INPUT_REQUIRED``, ``RUNNING`` and ``CANCELING`` (a cancel asked for, the task not ended
yet) are ``WORKING``, and the final states map to themselves. A call answered with a ``Message`` (no task) ends
as ``COMPLETED``.
"""

from __future__ import annotations

from typing import Final

from a2a.types import TaskState

__all__ = [
    "A2A_OF_MESH",
    "INTERRUPTED",
    "MESH_OF_A2A",
    "TERMINAL",
    "a2a_state",
    "mesh_state",
    "state_name",
]

TERMINAL: Final = frozenset(
    {
        TaskState.TASK_STATE_COMPLETED,
        TaskState.TASK_STATE_FAILED,
        TaskState.TASK_STATE_CANCELED,
        TaskState.TASK_STATE_REJECTED,
    }
)
INTERRUPTED: Final = frozenset({TaskState.TASK_STATE_INPUT_REQUIRED, TaskState.TASK_STATE_AUTH_REQUIRED})

MESH_OF_A2A: Final[dict[int, str]] = {
    TaskState.TASK_STATE_SUBMITTED: "ACCEPTED",
    TaskState.TASK_STATE_WORKING: "RUNNING",
    TaskState.TASK_STATE_INPUT_REQUIRED: "NEGOTIATING",
    TaskState.TASK_STATE_AUTH_REQUIRED: "NEGOTIATING",
    TaskState.TASK_STATE_COMPLETED: "COMPLETED",
    TaskState.TASK_STATE_FAILED: "FAILED",
    TaskState.TASK_STATE_CANCELED: "CANCELED",
    TaskState.TASK_STATE_REJECTED: "REJECTED",
}
A2A_OF_MESH: Final[dict[str, int]] = {
    "PENDING": TaskState.TASK_STATE_SUBMITTED,
    "ACCEPTED": TaskState.TASK_STATE_SUBMITTED,
    "NEGOTIATING": TaskState.TASK_STATE_INPUT_REQUIRED,
    "RUNNING": TaskState.TASK_STATE_WORKING,
    # A2A has no state between asking for a cancel and the task ending: the task still works until then.
    "CANCELING": TaskState.TASK_STATE_WORKING,
    "COMPLETED": TaskState.TASK_STATE_COMPLETED,
    "FAILED": TaskState.TASK_STATE_FAILED,
    "CANCELED": TaskState.TASK_STATE_CANCELED,
    "REJECTED": TaskState.TASK_STATE_REJECTED,
}


def mesh_state(state: int) -> str | None:
    """a2a_fast's state for an A2A ``TaskState`` (None for ``TASK_STATE_UNSPECIFIED``)."""
    return MESH_OF_A2A.get(state)


def a2a_state(state: str) -> int:
    """The A2A ``TaskState`` of an a2a_fast state; raises KeyError naming an unknown one."""
    try:
        return A2A_OF_MESH[state.upper()]
    except KeyError:
        raise KeyError(f"unknown task state {state!r}: expected one of {', '.join(A2A_OF_MESH)}") from None


def state_name(state: int) -> str:
    """``TASK_STATE_WORKING`` for ``TaskState.TASK_STATE_WORKING`` (the ProtoJSON name)."""
    return TaskState.Name(state)
