"""What the workflow tests share, on the in-memory transport and on the broker: two definitions, step handlers,
a directory stand-in that finds agents by what they offer, and a session's records as read from the log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from a2a_fast.agents.tasks import TaskContext
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.workflows.definitions import WorkflowDefinition, WorkflowStep

__all__ = ["REPORT", "TWO_STEPS", "Locator", "fails", "session_log", "translate"]

TWO_STEPS = WorkflowDefinition(
    "report",
    "Report",
    "summarise then translate",
    [
        WorkflowStep("summarize", "Summarise", ["summarize"], {"words": "6"}, timeout=5, retries=1),
        WorkflowStep("enrich", "Optional enrichment", ["classify"], required=False, timeout=5),
        WorkflowStep("translate", "Translate", ["translate"], timeout=5),
    ],
)


REPORT = WorkflowDefinition(
    "report",
    "Summarise and translate",
    "step 1's summary is step 2's input",
    [
        WorkflowStep("summary", "Summarise the text", ["summarize"], timeout=20),
        WorkflowStep("german", "Translate the summary", ["translate"], timeout=20),
    ],
)


async def translate(task: TaskContext) -> dict[str, Any]:
    previous = task.previous_output or {}
    return {"german": f"[de] {previous.get('summary')}", "session": task.collaboration_id}


async def fails(task: TaskContext) -> None:
    raise RuntimeError(f"{task.task_id} cannot be done")


@dataclass
class Card:
    agent_id: str


@dataclass
class Info:
    card: Card


class Locator:
    def __init__(self, offers: dict[str, list[str]], dead: set[str] | None = None) -> None:
        self.offers = offers
        self.dead = dead or set()

    def find_agents_by_capability(self, capability: str) -> list[Info]:
        return [Info(Card(a)) for a, caps in self.offers.items() if capability in caps and a not in self.dead]

    def is_agent_alive(self, agent_id: str) -> bool:
        return agent_id in self.offers and agent_id not in self.dead


class Log(Protocol):
    """A test mesh on either transport: its topics and what one of them holds."""

    topics: TopicNames

    def log(self, topic: str) -> list[Inbound]: ...


def session_log(mesh: Log, session_id: str) -> list[tuple[str, str, str | None]]:
    return [
        (m.kind, m.record.get("event") or m.record.get("status") or m.record["step_name"], m.target_agent)
        for m in mesh.log(mesh.topics.collaborations)
        if m.task_id == session_id
    ]
