"""The provider role: prices task requests for the skills it has, and negotiates.

A provider reads ``task-requests`` and ``negotiations`` in the consumer group ``providers`` (configurable).
Kafka hands each partition to exactly one member of the group and every record is keyed by task id,
so **each request and each negotiation turn is answered by exactly one provider of the pool** — two
providers never bid on the same task. Providers of one group form a pool with one catalogue of skills
(give them the same ``skills``); a pool with different skills is a different group, with its own
requesters' traffic. A request for a capability the provider does not have is **rejected** with the
reason, rather than silently left to time out.

A request's ``capability`` must equal a skill name (case-insensitive); the free-text description is never
searched.

The provider keeps no negotiation state: a requester's turn repeats the task's capability, description
and parameters, and :class:`~a2a_fast.agents.policies.PricingPolicy` is a function of the offer and the round,
so any member of the pool can answer any turn, and a restarted provider needs nothing rebuilt. The
response's ``ce_id`` derives from the answered message's ``ce_id``: answering a redelivered record
again produces the same id, which readers drop.

It publishes on ``task-responses``: ``NEGOTIATING`` with a counter-offer, ``ACCEPTED`` with the agreed
cost (and the task's capability, description and parameters for the executors), or ``REJECTED``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from a2a_fast.agents.base import Agent, AgentConfig
from a2a_fast.agents.policies import Decision, PricingPolicy
from a2a_fast.observability.metrics import ROUND_BUCKETS
from a2a_fast.observability.tracing import continue_trace
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.ids import derived_id
from a2a_fast.protocol.kinds import KIND_NEGOTIATION, KIND_TASK_REQUEST, KIND_TASK_RESPONSE
from a2a_fast.protocol.limits import priority_name

__all__ = ["Provider"]

log = logging.getLogger("a2a_fast.agents.provider")


def _request_priority(message: Inbound) -> str | None:
    level = message.record.get("priority") if message.kind == KIND_TASK_REQUEST else None
    return None if level is None else priority_name(int(level))


class Provider(Agent):
    """Answers task requests for ``skills`` (skill name → minimum price) with ``pricing``."""

    role = "provider"

    def __init__(self, config: AgentConfig, skills: Mapping[str, float], pricing: PricingPolicy | None = None) -> None:
        super().__init__(config)
        self.skills = {name.strip().lower(): float(price) for name, price in skills.items()}
        self.pricing = pricing or PricingPolicy()
        self.decisions: Counter[str] = Counter()

    def subscriptions(self) -> list[str]:
        return [self.topics.requests, self.topics.negotiations]

    def task_counts(self) -> dict[str, int]:
        return dict(self.decisions)

    def extra_status(self) -> dict[str, Any]:
        return {"skills": self.skills}

    def capabilities(self) -> list[str]:
        return sorted(self.skills)

    async def handle(self, message: Inbound) -> None:
        with self.protocol_metrics.timer("a2a", "negotiate"):
            await self._handle(message)

    async def _handle(self, message: Inbound) -> None:
        record = message.record
        if message.kind == KIND_TASK_REQUEST:
            context = {
                "capability": record["capability"],
                "description": record["description"],
                "parameters": record.get("parameters") or {},
            }
            await self._answer(message, context, record.get("proposed_cost"), 0, "PROPOSE")
        elif message.kind == KIND_NEGOTIATION:
            context = {
                "capability": record.get("capability") or "",
                "description": record.get("description") or "",
                "parameters": record.get("parameters") or {},
            }
            await self._answer(message, context, record.get("offer"), int(record["round"]), record["action"])

    async def _answer(
        self, message: Inbound, context: dict[str, Any], offer: float | None, round_number: int, action: str
    ) -> None:
        capability = str(context["capability"])
        minimum = self.skills.get(capability.strip().lower())
        if minimum is None:
            decision = Decision("reject", reason=f"provider {self.agent_id} has no skill {capability!r}")
        elif action == "REJECT":
            reason = message.record.get("reason") or "requester gave up"
            decision = Decision("reject", reason=f"requester withdrew: {reason}")
        elif action == "ACCEPT":
            # Accepting our own ask: still never below the minimum price.
            decision = (
                Decision("accept", offer)
                if offer is not None and offer >= minimum
                else Decision("reject", reason=f"accepted price {offer} is below the minimum {minimum}")
            )
        else:
            decision = self.pricing.decide(minimum, offer, round_number + 1)
        response: dict[str, Any] = {
            "task_id": message.task_id,
            "responder_id": self.agent_id,
            "counter_offer": None,
            "agreed_cost": None,
            "message": decision.reason,
            "progress": None,
            "result": None,
            "capability": capability,
            "description": None,
            "parameters": {},
            "round": round_number,
            "timestamp": int(time.time() * 1000),
        }
        if decision.action == "accept":
            response.update(
                status="ACCEPTED",
                agreed_cost=decision.price,
                description=context["description"],
                parameters=context["parameters"],
            )
        elif decision.action == "counter":
            response.update(status="NEGOTIATING", counter_offer=decision.price, round=round_number + 1)
        else:
            response.update(status="REJECTED")
        if response["status"] != "NEGOTIATING":
            self.metrics.observe("negotiation_rounds", round_number, ROUND_BUCKETS, role=self.role)
        await self.publish(
            KIND_TASK_RESPONSE,
            response,
            target_agent=message.source_agent,
            collaboration_id=message.collaboration_id,
            traceparent=continue_trace(message.traceparent),
            event_id=derived_id(message.event_id, "answer"),
            priority=message.priority or _request_priority(message),
        )
        self.decisions[response["status"]] += 1
        log.info("answered %s (round %s): %s", response["status"], response["round"], decision.reason or decision.price)
