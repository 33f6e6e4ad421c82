"""The provider role: prices task requests for the skills it has, and negotiates.

**Where requests go.** Providers with the same skills form a *pool*: one consumer group, by default
``providers.<skills>`` (``providers.summarize+translate``; ``--group`` names another). A requester chooses a
live provider offering the request's capability from the mesh directory (priority tiers, then round robin or
least loaded) and addresses the request to that provider's pool (``ce_targetgroup``). Every pool reads
``task-requests`` and ``negotiations`` and skips, unread, what is addressed to another pool; within the pool
Kafka hands each partition to one member and records are keyed by task id, so **each request and each
negotiation turn is answered by exactly one provider**, and a member that dies leaves its partitions to the
others. A request addressed to no pool (a producer that does not route) is answered by the first pool, by
name, of those offering its capability, and rejected by the first pool of all when none offers it.

A pool that has the request's skill prices it; a request addressed to a pool without the skill is rejected
with the reason. Skills are matched exactly (case-insensitive); the free-text description is never searched.

The provider keeps no negotiation state: a requester's turn repeats the task's capability, description
and parameters, and :class:`~a2a_fast.agents.policies.PricingPolicy` is a function of the offer and the round,
so any member of the pool can answer any turn, and a restarted provider needs nothing rebuilt. The
response's ``ce_id`` derives from the answered message's ``ce_id``: answering a redelivered record
again produces the same id, which readers drop.

**Redelivered after a crash.** A provider killed after its answer was acknowledged but before its input's
offset was committed leaves that input to be read again by whoever gets the partition. Before reading, that
member lists the ids of the records past the committed offsets (from the start of a partition with none
committed) and looks for their answers on
``task-responses`` (from the oldest such record's time, less :data:`ANSWER_CLOCK_MARGIN_MS` for clocks that
disagree): an input already answered is not answered twice, so a late duplicate never follows, say, the
task's ``ACCEPTED`` in the log.

It publishes on ``task-responses``: ``NEGOTIATING`` with a counter-offer, ``ACCEPTED`` with the agreed cost
(and the task's capability, description and parameters), addressed to the pool of a live executor that runs
the capability, or ``REJECTED`` (no such skill, no live executor for it, no agreement).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from confluent_kafka import TopicPartition

from a2a_fast.agents.base import Agent, AgentConfig, pool_group
from a2a_fast.agents.policies import Decision, PricingPolicy
from a2a_fast.mesh.router import MeshRouter
from a2a_fast.observability.metrics import ROUND_BUCKETS
from a2a_fast.observability.tracing import continue_trace
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.ids import derived_id
from a2a_fast.protocol.kinds import KIND_NEGOTIATION, KIND_TASK_REQUEST, KIND_TASK_RESPONSE
from a2a_fast.protocol.limits import priority_name
from a2a_fast.transport.log import event_ids

__all__ = ["ANSWER_CLOCK_MARGIN_MS", "Provider"]

log = logging.getLogger("a2a_fast.agents.provider")

ANSWER_CLOCK_MARGIN_MS: Final = 10_000
"""How much earlier than the record it answers an answer may be stamped (the two senders' clocks differ)."""


def _request_priority(message: Inbound) -> str | None:
    level = message.record.get("priority") if message.kind == KIND_TASK_REQUEST else None
    return None if level is None else priority_name(int(level))


class Provider(Agent):
    """Answers task requests for ``skills`` (skill name → minimum price) with ``pricing``."""

    role = "provider"
    reads_directory = True

    def __init__(self, config: AgentConfig, skills: Mapping[str, float], pricing: PricingPolicy | None = None) -> None:
        self.skills = {name.strip().lower(): float(price) for name, price in skills.items()}
        super().__init__(config)
        self.pricing = pricing or PricingPolicy()
        self.decisions: Counter[str] = Counter()
        self.answered: OrderedDict[str, None] = OrderedDict()
        """Ids of answers found on the log for inputs to be read again (rebuilt when partitions are assigned)."""
        self.already_answered = 0

    def default_group(self) -> str:
        return pool_group(self.topics.prefix, self.role, self.skills)

    def subscriptions(self) -> list[str]:
        return [self.topics.requests, self.topics.negotiations]

    def task_counts(self) -> dict[str, int]:
        return dict(self.decisions)

    def extra_status(self) -> dict[str, Any]:
        return {"skills": self.skills, "already_answered": self.already_answered}

    def on_partitions_assigned(self, partitions: list[TopicPartition]) -> None:
        consumer = self.consumer
        if consumer is None or not partitions:
            return
        try:
            committed = consumer.client.committed(partitions, timeout=10)
            # A partition with nothing committed is read from its start, as the pool's consumer reads it: a member
            # that died before its first commit leaves answers there too.
            start = {(tp.topic, tp.partition): max(tp.offset, 0) for tp in committed}
            # Other clients are opened and closed in a thread of their own: the Kafka binding keeps per-thread
            # state for the call that runs this callback, which a nested client's calls would clear.
            with ThreadPoolExecutor(1, thread_name_prefix=f"{self.agent_id}-answers") as thread:
                pending, present = thread.submit(self._answers_given, start).result()
        except Exception as error:  # a rebalance callback must not raise; answering again is the old fallback
            log.warning("%s: looking for answers already given failed: %r", self.agent_id, error)
            return
        for event_id, _ in pending:
            answer = derived_id(event_id, "answer")
            if answer in present:
                self.answered[answer] = None
        while len(self.answered) > 100_000:
            self.answered.popitem(last=False)

    def capabilities(self) -> list[str]:
        return sorted(self.skills)

    def expires(self, message: Inbound) -> bool:
        return self._answers(message)

    def _answers_given(self, start: dict[tuple[str, int], int]) -> tuple[list[tuple[str, int]], set[str]]:
        """The ids (and times) of the inputs past ``start``, and the ids on ``task-responses`` since the oldest."""
        pending = event_ids(self.transport, start, reader=self.agent_id)
        if not pending:
            return [], set()
        since = max(1, min(stamp for _, stamp in pending) - ANSWER_CLOCK_MARGIN_MS)
        topic = self.topics.responses
        admin = self.transport.admin()
        numbers = admin.list_topics(topic, timeout=10).topics[topic].partitions
        present = {found for found, _ in event_ids(self.transport, {(topic, n): -since for n in numbers})}
        return pending, present

    def _answers(self, message: Inbound) -> bool:
        """Whether this pool answers ``message``: it is addressed here, or to no pool and this pool is the one
        that answers such messages for its capability."""
        if message.target_group is not None:
            return message.target_group == self.group_id
        router = self.mesh.router if self.mesh is not None else None
        if router is None:
            return True
        capability = str(message.record.get("capability") or "")
        pools = _pools(router, self.role, capability) or _pools(router, self.role, None)
        return not pools or min(pools) == self.group_id

    def _executor_pool(self, capability: str) -> str | bool | None:
        """The pool of a live executor running ``capability`` (chosen by the router), None when this provider
        does not route (no directory), False when no live executor runs it."""
        router = self.mesh.router if self.mesh is not None else None
        if router is None:
            return None
        chosen = router.route(capability, role="executor")
        if chosen is None:
            return False
        return router.pool_of(chosen) or None

    async def handle(self, message: Inbound) -> None:
        if message.kind not in (KIND_TASK_REQUEST, KIND_NEGOTIATION) or not self._answers(message):
            return
        answer = derived_id(message.event_id, "answer")
        if answer in self.answered:
            del self.answered[answer]
            self.already_answered += 1
            log.info("already answered before a restart: not answered again")
            return
        with self.protocol_metrics.timer("a2a", "negotiate"):
            record = message.record
            if message.kind == KIND_TASK_REQUEST:
                await self._answer(
                    message,
                    answer,
                    record["capability"],
                    record["description"],
                    record.get("parameters") or {},
                    record.get("proposed_cost"),
                    0,
                    "PROPOSE",
                )
            else:
                await self._answer(
                    message,
                    answer,
                    record.get("capability") or "",
                    record.get("description") or "",
                    record.get("parameters") or {},
                    record.get("offer"),
                    int(record["round"]),
                    record["action"],
                )

    async def _answer(
        self,
        message: Inbound,
        answer: str,
        capability: str,
        description: str,
        parameters: dict[str, str],
        offer: float | None,
        round_number: int,
        action: str,
    ) -> None:
        """Answers ``message`` (a request, or a requester's turn of round ``round_number``) with the response whose
        ``ce_id`` is ``answer``."""
        capability = str(capability)
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
        executors: str | None = None
        if decision.action == "accept":
            found = self._executor_pool(capability)
            if found is False:
                decision = Decision("reject", reason=f"no live executor runs capability {capability!r}")
            elif isinstance(found, str):
                executors = found
        accepted = decision.action == "accept"
        countered = decision.action == "counter"
        status = "ACCEPTED" if accepted else "NEGOTIATING" if countered else "REJECTED"
        response: dict[str, Any] = {
            "task_id": message.task_id,
            "responder_id": self.agent_id,
            "status": status,
            "counter_offer": decision.price if countered else None,
            "agreed_cost": decision.price if accepted else None,
            "message": decision.reason,
            "progress": None,
            "result": None,
            "capability": capability,
            "description": description if accepted else None,
            "parameters": parameters if accepted else {},
            "round": round_number + 1 if countered else round_number,
            "timestamp": int(time.time() * 1000),
        }
        if not countered:
            self.metrics.observe("negotiation_rounds", round_number, ROUND_BUCKETS, role=self.role)
        await self.publish(
            KIND_TASK_RESPONSE,
            response,
            target_agent=message.source_agent,
            collaboration_id=message.collaboration_id,
            traceparent=continue_trace(message.traceparent),
            event_id=answer,
            priority=message.priority or _request_priority(message),
            target_group=executors,
        )
        self.decisions[status] += 1
        log.info("answered %s (round %s): %s", status, response["round"], decision.reason or decision.price)


def _pools(router: MeshRouter, role: str, capability: str | None) -> set[str]:
    """The pools of the live agents of ``role`` offering ``capability`` (of every live agent of ``role``
    when None)."""
    assert router.directory is not None
    if capability is None:
        agents = [
            info.agent_id for info in router.directory.get_all_agents() if info.alive and info.card.agent_type == role
        ]
    else:
        agents = router.agents_for(capability, role=role)
    return {pool for pool in map(router.pool_of, agents) if pool}
