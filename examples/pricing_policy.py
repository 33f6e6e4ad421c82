"""A provider with a pricing policy of its own, negotiating with a requester that has a budget.

:class:`FirmPricing` opens at ``minimum * markup`` and comes down a fixed ``step`` of the minimum each round,
and, unlike the default :class:`~a2a_fast.PricingPolicy` (which takes any offer at or above the minimum), it
accepts only an offer that reaches what it asks in that round. For a skill whose minimum is 100, a requester
offering 60 with a budget of 120 then settles at 117.50 after two counter-offers (the default policy would
have taken 105.00 in the second round). The requester prints each turn, and the negotiated price once the
executor has done the task. Exits 0 when the task is COMPLETED at that price.

Broker, registry and ``--topic-prefix`` as in ``custom_handler.py``::

    python examples/pricing_policy.py
"""

from __future__ import annotations

import argparse
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import uvloop

from a2a_fast import (
    A2AError,
    AgentConfig,
    BudgetPolicy,
    Decision,
    Endpoints,
    Executor,
    PricingPolicy,
    Provider,
    Requester,
    TaskContext,
    TopicNames,
)

EXPECTED_PRICE = 117.5


@dataclass(frozen=True, slots=True)
class FirmPricing(PricingPolicy):
    """Asks ``minimum * (markup - step * (round - 1))``, never below the minimum, and accepts only that much.

    A policy is a pure function of the offer and the round: any provider of the pool can answer any turn."""

    step: float = 0.2

    def ask(self, minimum: float, round_number: int) -> float:
        return max(round(minimum * (self.markup - self.step * (round_number - 1)), 2), minimum)

    def decide(self, minimum: float, offer: float | None, round_number: int) -> Decision:
        asking = self.ask(minimum, round_number)
        if offer is not None and offer >= asking:
            return Decision("accept", round(offer, 2))
        if round_number > self.max_rounds:
            return Decision("reject", reason=f"no agreement after {self.max_rounds} rounds")
        return Decision("counter", asking)


async def translate(task: TaskContext) -> dict[str, Any]:
    return {"text": f"[de] {task.description}"}


def show_turn(pending: Any, message: Any) -> None:
    """The requester's ``on_update``: called with the request and each response to it."""
    record = message.record
    if record["status"] == "NEGOTIATING":
        print(f"  we offered {pending.last_offer:.2f}; {message.source_agent} asks {record['counter_offer']:.2f}")
    elif record["status"] == "ACCEPTED":
        print(f"  we offered {pending.last_offer:.2f}; {message.source_agent} accepts {record['agreed_cost']:.2f}")


async def main(prefix: str) -> int:
    endpoints = Endpoints.from_env()
    topics = TopicNames(prefix)

    def config(agent_id: str) -> AgentConfig:
        return AgentConfig(agent_id, endpoints.kafka, endpoints.schema_registry, topics=topics)

    provider = Provider(config("provider-1"), {"translate": 100.0}, FirmPricing(markup=1.5, step=0.2))
    executor = Executor(config("executor-1"), {"translate": translate})  # a provider accepts only what runs
    requester = Requester(config("requester-1"), BudgetPolicy(budget=120.0))
    requester.on_update = show_turn
    async with provider, executor, requester:
        print("requesting a translation, offering 60.00 with a budget of 120.00")
        outcome = await requester.request_task("Good morning", 60.0, capability="translate", max_wait=60)
    print(f"{outcome.status}: negotiated price {outcome.agreed_cost} after {outcome.rounds} counter-offers")
    return 0 if outcome.status == "COMPLETED" and outcome.agreed_cost == EXPECTED_PRICE else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic-prefix", default=f"example-{uuid.uuid4().hex[:8]}.", help="topic namespace")
    try:
        sys.exit(uvloop.run(main(parser.parse_args().topic_prefix)))
    except A2AError as error:
        sys.exit(f"pricing_policy: {error}")
