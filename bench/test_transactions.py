"""What transactions cost: task lifecycles per second over the local Kafka with every agent writing in Kafka
transactions (``AgentConfig.transactional``) and without, in the same run. Results go to
``bench/results/transactions.json``.

The case is ``bench/test_e2e.py``'s lifecycles (provider, executor and requester in one process, a no-op
handler, five records per task), run alternately without and with transactions, twice each, on topics and
groups of its own per run; every task must complete. With transactions each agent commits a transaction every
``commit_interval`` (0.1 s) holding its outputs and its consumed offsets, and reads ``read_committed``, so a
record becomes visible to the next agent only at its writer's next commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import uvloop
from confluent_kafka.admin import AdminClient

from a2a_fast.agents.requester import Requester
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints, ensure_up
from bench.test_e2e import config, mesh

RESULTS = Path(__file__).resolve().parent / "results" / "transactions.json"
LIFECYCLES = 1_000
MESSAGES_PER_TASK = 5
_results: dict[str, list[float]] = {}


@pytest.fixture(scope="module")
def endpoints() -> Endpoints:
    found, _ = ensure_up()
    return found


@pytest.mark.parametrize(
    ("transactional", "round_"),
    [(False, 1), (True, 1), (False, 2), (True, 2)],
    ids=["without-1", "transactions-1", "without-2", "transactions-2"],
)
def test_task_lifecycles_per_second_with_and_without_transactions(
    benchmark: Any, endpoints: Endpoints, transactional: bool, round_: int
) -> None:
    benchmark.group = "e2e lifecycles, transactions"
    benchmark.extra_info.update(impl="a2a_fast transactional" if transactional else "a2a_fast", items=LIFECYCLES)
    topics = TopicNames(f"bench-{uuid.uuid4().hex[:8]}.")

    async def lifecycles() -> tuple[float, list[str], int]:
        agents = mesh(endpoints, topics, transactional=transactional)
        requester = Requester(config(endpoints, topics, "requester", max_in_flight=4000, transactional=transactional))
        for agent in (*agents, requester):
            await agent.start()
        try:
            await asyncio.gather(*(agent.wait_assigned() for agent in (*agents, requester)))
            started = time.perf_counter()
            outcomes = await asyncio.gather(
                *(requester.request_task("t", 5.0, capability="summarize", max_wait=120) for _ in range(LIFECYCLES))
            )
            return (
                time.perf_counter() - started,
                [outcome.status for outcome in outcomes],
                sum(agent.transactions for agent in (*agents, requester)),
            )
        finally:
            for agent in (requester, *agents):
                await agent.stop()

    try:
        seconds, statuses, transactions = benchmark.pedantic(lambda: uvloop.run(lifecycles()), rounds=1, iterations=1)
    finally:
        admin = AdminClient({"bootstrap.servers": endpoints.kafka})
        for future in admin.delete_topics([*topics.all(), topics.agents]).values():
            with contextlib.suppress(Exception):  # a topic the case never created
                future.result(15)
    assert statuses == ["COMPLETED"] * LIFECYCLES
    assert (transactions > 0) == transactional
    key = "transactional" if transactional else "plain"
    _results.setdefault(key, []).append(round(LIFECYCLES / seconds, 1))
    RESULTS.parent.mkdir(exist_ok=True)
    summary: dict[str, Any] = {"tasks": LIFECYCLES, "lifecycles_per_s": _results}
    if _results.get("plain") and _results.get("transactional"):
        plain = sum(_results["plain"]) / len(_results["plain"])
        summary["ratio_transactional_to_plain"] = round(
            sum(_results["transactional"]) / len(_results["transactional"]) / plain, 3
        )
    RESULTS.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
