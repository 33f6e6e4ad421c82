"""An A2A SDK agent that ships with the package: the echo of the demo and the benchmarks.

:class:`EchoExecutor` is an ``AgentExecutor`` written the way the SDK's samples write one (the task from the
user's message, then a ``TaskUpdater``): it makes the task, starts work, answers with the user's text as an
artifact and completes. Its card is :func:`echo_card`. Nothing in it knows about Kafka: the same executor runs
behind the SDK's own HTTP server.
"""

from __future__ import annotations

from a2a.helpers import new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
from a2a.utils.errors import InvalidParamsError

__all__ = ["EchoExecutor", "echo_card"]


class EchoExecutor(AgentExecutor):
    """Echoes the user's text back as the task's artifact."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.message is None:
            raise InvalidParamsError("a message is required")
        task = context.current_task
        if task is None:
            task = new_task_from_user_message(context.message)
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        await updater.add_artifact([new_text_part(context.get_user_input())], name="echo")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


def echo_card(name: str = "Echo", interfaces: list[AgentInterface] | None = None) -> AgentCard:
    """The echo agent's card (skill ``echo``, streaming), with ``interfaces`` when it is served elsewhere too."""
    return AgentCard(
        name=name,
        description="Answers with the text it was sent, as a task's artifact.",
        version="1.0.0",
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        capabilities=AgentCapabilities(streaming=True),
        supported_interfaces=interfaces or [],
        skills=[AgentSkill(id="echo", name="Echo", description="Echoes text back.", tags=["echo", "demo"])],
    )
