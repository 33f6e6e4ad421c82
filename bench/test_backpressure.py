"""Memory of an executor with a large backlog: 100k accepted tasks wait while it runs 4 at a time.

Each case runs in a process of its own (resident memory is the process's, and Python keeps what it once took),
preloads nothing itself and reads the same 100k ACCEPTED records, addressed to its pool, from its own topics:

* **a2a_fast**: the executor as it ships (``max_tasks=4``, ``read_ahead=4``): once every slot is taken and four
  more tasks wait, it takes no more and holds each partition back at its next task; librdkafka's prefetch is
  held to 1 MiB.
* **unbounded**: the same executor made to take in everything it is given (``read_ahead`` and
  ``max_in_flight`` above the backlog, librdkafka's default prefetch of 64 MiB), as a consumer without
  back-pressure would.

Resident memory is sampled for 15 s after the executor first has its partitions. Results in
``bench/results/backpressure.json``; figures in ``bench/README.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from a2a_fast.agents.base import AgentConfig
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.tasks import TaskContext
from a2a_fast.protocol.envelope import Envelope
from a2a_fast.protocol.kinds import KIND_TASK_RESPONSE
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints, ensure_up
from a2a_fast.transport.admin import ensure_topics
from a2a_fast.transport.registry import SchemaCatalog

RESULTS = Path(__file__).resolve().parent / "results" / "backpressure.json"
BACKLOG = 100_000
WATCH_SECONDS = 15.0
CASES: dict[str, tuple[int, dict[str, Any]]] = {
    "a2a_fast": (4, {}),
    "unbounded": (
        BACKLOG * 2,
        {
            "max_in_flight": BACKLOG * 2,
            "consumer_config": {"queued.max.messages.kbytes": 65536, "queued.min.messages": 100000},
        },
    ),
}


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def never(task: TaskContext) -> None:
    await asyncio.Event().wait()


async def watch(endpoints: Endpoints, prefix: str, read_ahead: int, overrides: dict[str, Any]) -> dict[str, Any]:
    topics = TopicNames(prefix)
    config = AgentConfig("executor-1", endpoints.kafka, endpoints.schema_registry, topics=topics, **overrides)
    executor = Executor(config, {"summarize": never}, max_tasks=4, read_ahead=read_ahead, serve_steps=False)
    await executor.start()
    try:
        await executor.wait_assigned()
        started, first = time.monotonic(), rss()
        samples = []
        while time.monotonic() - started < WATCH_SECONDS:
            samples.append(rss())
            await asyncio.sleep(0.5)
        return {
            "rss_at_assignment_mib": round(first / 2**20, 1),
            "rss_peak_mib": round(max(samples) / 2**20, 1),
            "rss_growth_mib": round((max(samples) - first) / 2**20, 1),
            "tasks_held": len(executor.held),
            "partitions_held_back": len(executor.consumer.held) if executor.consumer else 0,
        }
    finally:
        # the handlers never return: stopping cancels them, and their records stay uncommitted
        executor.config.drain_timeout = 1.0
        await executor.stop()


def run_case(endpoints: Endpoints, prefix: str, read_ahead: int, overrides: dict[str, Any], out: Any) -> None:
    out.put(asyncio.run(watch(endpoints, prefix, read_ahead, overrides)))


def preload(endpoints: Endpoints, prefix: str, group: str) -> None:
    topics = TopicNames(prefix)
    ensure_topics(endpoints.kafka, topics.all())
    with SchemaCatalog(endpoints.schema_registry, topics) as catalog:
        catalog.register()
        envelope = Envelope(catalog, topics, "provider-x")
        producer = Producer({"bootstrap.servers": endpoints.kafka, "linger.ms": 20})
        for n in range(BACKLOG):
            record = envelope.encode(
                KIND_TASK_RESPONSE,
                {
                    "task_id": f"t{n:06d}",
                    "responder_id": "provider-x",
                    "status": "ACCEPTED",
                    "counter_offer": None,
                    "agreed_cost": 1.0,
                    "message": None,
                    "progress": None,
                    "result": None,
                    "capability": "summarize",
                    "description": "waiting",
                    "parameters": {},
                    "round": 0,
                    "timestamp": int(time.time() * 1000),
                },
                target_group=group,
            )
            while True:
                try:
                    producer.produce(record.topic, record.value, record.key, headers=record.headers)
                    break
                except BufferError:
                    producer.poll(0.05)
        assert producer.flush(60) == 0


@pytest.mark.parametrize("case", list(CASES))
def test_backlog_memory(benchmark: Any, case: str) -> None:
    endpoints, _ = ensure_up()
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    group = f"{prefix}executors.summarize"
    preload(endpoints, prefix, group)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()

    def watched() -> dict[str, Any]:
        process = context.Process(target=run_case, args=(endpoints, prefix, *CASES[case], out))
        process.start()
        try:
            found: dict[str, Any] = out.get(timeout=WATCH_SECONDS + 120)
            return found
        finally:
            process.join(30)

    try:
        # one round: the figure of interest is the memory, the time is the watch itself
        result = benchmark.pedantic(watched, rounds=1, iterations=1)
        benchmark.extra_info.update(impl=case, **result)
    finally:
        admin = AdminClient({"bootstrap.servers": endpoints.kafka})
        for future in admin.delete_topics(list(TopicNames(prefix).all())).values():
            with contextlib.suppress(Exception):
                future.result(15)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[case] = {"backlog": BACKLOG, "watch_seconds": WATCH_SECONDS, **result}
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(case, data[case])
    if case == "a2a_fast":
        assert result["tasks_held"] <= 8 and result["partitions_held_back"] > 0
