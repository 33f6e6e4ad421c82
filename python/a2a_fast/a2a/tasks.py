"""A2A tasks as an agent's pool knows them: each task's latest ``Task``, folded from its events.

The events an executor produces change its task the way the A2A SDK's task manager changes it (a status
update moves the previous status message into the history, an artifact update adds or extends an artifact,
a follow-up user message joins the history at its turn's first event), so a task folded here from the log is
the task the SDK would have stored. :class:`TaskStore` keeps every open task and the last ``retained`` that
ended; ``version`` counts a task's events, so the same event read twice (once when produced, once when the
log is read back) changes nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from a2a.server.tasks.task_manager import append_artifact_to_task
from a2a.types import (
    ListTasksRequest,
    ListTasksResponse,
    Message,
    StreamResponse,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils import telemetry
from a2a.utils.constants import DEFAULT_LIST_TASKS_PAGE_SIZE
from a2a.utils.errors import InvalidParamsError
from a2a.utils.task import (
    ListTasksCursor,
    apply_history_length,
    decode_list_tasks_cursor,
    encode_list_tasks_cursor,
    validate_history_length,
    validate_page_size,
)

from a2a_fast.a2a.states import TERMINAL

__all__ = [
    "StoredTask",
    "TaskStore",
    "add_user_message",
    "apply_artifact",
    "apply_event",
    "apply_status",
    "apply_task",
    "new_task",
]

_SUBMITTED: TaskState = TaskState.TASK_STATE_SUBMITTED

# The SDK wraps this helper in a span of its own; with the SDK's tracing off, that wrapper is a no-op object's
# calls on every artifact event, so the helper itself is called then.
_append_artifact = (
    append_artifact_to_task
    if telemetry.otel_installed and telemetry.otel_enabled
    else getattr(append_artifact_to_task, "__wrapped__", append_artifact_to_task)
)


@dataclass(slots=True)
class StoredTask:
    """One task: its state now, how many events made it, and the call that created it."""

    task: Task
    version: int
    creator: str
    """The request id of the SendMessage that started the task (a redelivered one is told from a clash)."""

    @property
    def terminal(self) -> bool:
        return self.task.status.state in TERMINAL


def new_task(task_id: str, context_id: str, message: Message | None, state: TaskState) -> Task:
    """A task the executor did not create itself (it failed first, or sent an update before any Task)."""
    task = Task(id=task_id, context_id=context_id, status=TaskStatus(state=state))
    if message is not None:
        task.history.append(message)
    return task


def add_user_message(task: Task, message: Message) -> None:
    """A follow-up message joins the history (after the status message it answers), once."""
    if any(earlier.message_id == message.message_id for earlier in task.history):
        return
    if task.status.HasField("message"):
        task.history.append(task.status.message)
        task.status.ClearField("message")
    task.history.append(message)


def apply_event(task: Task | None, event: StreamResponse) -> Task | None:
    """``task`` after one event of its stream (a ``Task`` event starts it; a later one does not replace it);
    None while there is no task (a ``Message`` reply)."""
    kind = event.WhichOneof("payload")
    if kind == "task":
        return apply_task(task, event.task)
    if kind == "status_update":
        return apply_status(task, event.status_update)
    if kind == "artifact_update":
        return apply_artifact(task, event.artifact_update)
    return task


def apply_task(task: Task | None, event: Task) -> Task:
    """``task`` after a ``Task`` event: a copy of it when there was no task yet, else unchanged."""
    if task is None:
        task = Task()
        task.CopyFrom(event)
    return task


def apply_status(task: Task | None, update: TaskStatusUpdateEvent) -> Task:
    """``task`` after a status update: the previous status message joins the history."""
    if task is None:
        task = Task(id=update.task_id, context_id=update.context_id)
    status = task.status
    if status.HasField("message"):
        task.history.append(status.message)
    if update.HasField("metadata"):
        task.metadata.MergeFrom(update.metadata)
    status.CopyFrom(update.status)
    return task


def apply_artifact(task: Task | None, update: TaskArtifactUpdateEvent) -> Task:
    """``task`` after an artifact update (added, or appended to the artifact of the same id)."""
    if task is None:
        task = Task(id=update.task_id, context_id=update.context_id, status=TaskStatus(state=_SUBMITTED))
    _append_artifact(task, update)
    return task


class TaskStore:
    """The tasks of one agent pool, open ones all, ended ones the last ``retained``."""

    def __init__(self, retained: int = 10_000) -> None:
        if retained < 1:
            raise ValueError(f"retained: must be at least 1, got {retained}")
        self.retained = retained
        self.tasks: dict[str, StoredTask] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self.tasks)

    def get(self, task_id: str) -> StoredTask | None:
        return self.tasks.get(task_id)

    def put(self, stored: StoredTask) -> None:
        task_id = stored.task.id
        self.tasks[task_id] = stored
        if stored.terminal and task_id not in self._ended:
            self._ended[task_id] = None
            while len(self._ended) > self.retained:
                self.tasks.pop(self._ended.popitem(last=False)[0], None)

    def merge(self, stored: StoredTask) -> bool:
        """Keeps ``stored`` when it is newer than what is known of its task; whether it was."""
        known = self.tasks.get(stored.task.id)
        if known is not None and known.version >= stored.version:
            return False
        self.put(stored)
        return True

    def list(self, request: ListTasksRequest) -> ListTasksResponse:
        """One page of the tasks, most recently updated first, as the spec's ListTasks gives it (§3.1.4)."""
        validate_history_length(request)
        if request.HasField("page_size"):
            validate_page_size(request.page_size)
        tasks = [stored.task for stored in self.tasks.values()]
        if request.context_id:
            tasks = [task for task in tasks if task.context_id == request.context_id]
        if request.status:
            tasks = [task for task in tasks if task.status.state == request.status]
        if request.HasField("status_timestamp_after"):
            after = request.status_timestamp_after.ToNanoseconds()
            tasks = [
                task
                for task in tasks
                if task.status.HasField("timestamp") and task.status.timestamp.ToNanoseconds() >= after
            ]
        tasks.sort(key=_order, reverse=True)
        start = 0
        if request.page_token:
            cursor = decode_list_tasks_cursor(request.page_token)
            if cursor is None:
                raise InvalidParamsError(f"invalid page token: {request.page_token!r}")
            start = next((i for i, task in enumerate(tasks) if _order(task) < cursor.sort_key()), len(tasks))
        size = request.page_size or DEFAULT_LIST_TASKS_PAGE_SIZE
        page = tasks[start : start + size]
        more = start + size < len(tasks)
        shown = []
        for task in page:
            copy = apply_history_length(task, request)
            if copy is task:
                copy = Task()
                copy.CopyFrom(task)
            if not request.include_artifacts:
                copy.ClearField("artifacts")
            shown.append(copy)
        token = ""
        if more and page:
            has_time, stamp, task_id = _order(page[-1])
            token = encode_list_tasks_cursor(ListTasksCursor(stamp if has_time else None, task_id))
        return ListTasksResponse(tasks=shown, next_page_token=token, page_size=size, total_size=len(tasks))


def _order(task: Task) -> tuple[bool, int, str]:
    has_time = task.status.HasField("timestamp")
    return has_time, task.status.timestamp.ToNanoseconds() if has_time else 0, task.id
