"""What the workflow tests share: a three-step definition and a directory stand-in that finds agents by what
they offer."""

from __future__ import annotations

from dataclasses import dataclass

from a2a_fast.workflows.definitions import WorkflowDefinition, WorkflowStep

__all__ = ["TWO_STEPS", "Locator"]

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
