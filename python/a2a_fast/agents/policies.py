"""How requesters and providers negotiate a price: pure functions of the offer on the table.

The exchange, in rounds:

1. The requester proposes a cost in its ``TaskRequest`` (or none).
2. The provider answers with :meth:`PricingPolicy.decide`: it **accepts** any offer at or above its
   minimum price for the skill, otherwise it **counters** (round 1, 2, ...) with an ask that starts at
   ``minimum * markup`` and concedes a fraction of the gap to the minimum each round, and it **rejects**
   once the requester keeps countering after ``max_rounds`` rounds.
3. The requester answers a counter-offer with :meth:`BudgetPolicy.respond`: it **accepts** a counter-offer
   within its budget, otherwise **counters** at the midpoint between its last offer and the provider's ask
   (capped at the budget), and **gives up** after ``max_rounds`` counter-offers.

Both policies are stateless: everything they need travels in the messages, so any provider of a pool can
answer any turn, and a restarted agent decides exactly as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["BudgetPolicy", "Decision", "PricingPolicy"]

Action = Literal["accept", "counter", "reject"]


@dataclass(frozen=True, slots=True)
class Decision:
    """One side's move: ``accept`` at ``price``, ``counter`` with ``price``, or ``reject`` with ``reason``."""

    action: Action
    price: float | None = None
    reason: str | None = None


def _cents(value: float) -> float:
    return round(value, 2)


@dataclass(frozen=True, slots=True)
class PricingPolicy:
    """A provider's pricing: the opening ask is ``minimum * markup``; each further round concedes
    ``concession`` of the remaining gap to the minimum; no more counter-offers after ``max_rounds``."""

    markup: float = 1.5
    concession: float = 0.5
    max_rounds: int = 5

    def __post_init__(self) -> None:
        if self.markup < 1.0:
            raise ValueError(f"markup is {self.markup}, expected >= 1.0")
        if not 0.0 < self.concession <= 1.0:
            raise ValueError(f"concession is {self.concession}, expected in (0, 1]")
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds is {self.max_rounds}, expected >= 1")

    def ask(self, minimum: float, round_number: int) -> float:
        """The provider's asking price in counter-offer round ``round_number`` (1 for the first)."""
        gap = minimum * (self.markup - 1.0)
        return max(_cents(minimum + gap * (1.0 - self.concession) ** max(0, round_number - 1)), minimum)

    def decide(self, minimum: float, offer: float | None, round_number: int) -> Decision:
        """The answer to ``offer`` made in reply to counter-offer ``round_number - 1`` (0: the request)."""
        if offer is not None and offer >= minimum:
            return Decision("accept", _cents(offer))
        if round_number > self.max_rounds:
            return Decision("reject", reason=f"no agreement after {self.max_rounds} rounds")
        return Decision("counter", self.ask(minimum, round_number))


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """A requester's budget rule: accept within ``budget``, counter at the midpoint, give up after
    ``max_rounds`` counter-offers. ``budget`` None means "the proposed cost is the budget", and with no proposed
    cost either, no limit: the provider's first ask is accepted (a request that names no price asks for the
    provider's)."""

    budget: float | None = None
    max_rounds: int = 4

    def __post_init__(self) -> None:
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds is {self.max_rounds}, expected >= 1")

    def limit(self, proposed: float | None) -> float:
        """The most this requester pays for a task proposed at ``proposed``."""
        if self.budget is not None:
            return self.budget
        return proposed if proposed is not None else math.inf

    def respond(self, last_offer: float | None, counter: float, round_number: int, budget: float) -> Decision:
        """The answer to the provider's counter-offer ``counter`` in round ``round_number``."""
        if counter <= budget:
            return Decision("accept", _cents(counter))
        if round_number >= self.max_rounds:
            return Decision("reject", reason=f"gave up after {round_number} rounds: ask {counter} over budget {budget}")
        floor = last_offer if last_offer is not None else 0.0
        return Decision("counter", min(_cents((floor + counter) / 2.0), budget))
