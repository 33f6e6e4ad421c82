"""The A2A SDK's echo agent over Kafka beside the same agent over the SDK's own JSON-RPC, in one run.

Both sides are the SDK's: its ``Client`` from its ``ClientFactory`` (``ClientConfig(streaming=False)``, as its
helloworld client) sends ``SendMessage`` to the package's SDK echo executor
(:class:`a2a_fast.a2a.builtin.EchoExecutor`: the task, WORKING, the text as an artifact, COMPLETED), served in a
process of its own (``bench/a2a_servers.py``):

* ``jsonrpc``: the SDK's ``DefaultRequestHandler`` with an in-memory task store, its JSON-RPC routes in Starlette,
  uvicorn on loopback; the client's card from the agent's ``/.well-known/agent-card.json``, its transport the
  SDK's ``JsonRpcTransport`` over httpx;
* ``kafka``: the executor as an :class:`~a2a_fast.a2a.A2AAgent` in the mesh on the local broker; the card from
  the mesh directory, the transport :class:`~a2a_fast.a2a.KafkaClientTransport`; the agents' default ``linger.ms`` of
  1 on both sides, and once more (``kafka_linger_0``) with 0, which trades batching for latency.

Each implementation runs ``SEQUENTIAL`` calls one after the other (concurrency 1: the latency of a call) and
then ``PARALLEL[impl]`` calls from 32 concurrent callers (throughput, and the latency under that load), after a
warm-up; every answer is checked (COMPLETED, its artifact the text sent). Results, with the ratios of kafka to
jsonrpc, go to ``bench/results/a2a.json``. The SDK's own OpenTelemetry spans are off in all three processes
(``OTEL_INSTRUMENTATION_A2A_SDK_ENABLED=false``), as they are off in our agents.
"""

from __future__ import annotations

import os

os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from confluent_kafka.admin import AdminClient

from a2a_fast.a2a import KAFKA_BINDING, KafkaCaller, find_card, register
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints, ensure_up
from a2a_fast.stack.services import free_ports
from bench.a2a_servers import calls
from bench.processes import stop

RESULTS = Path(__file__).resolve().parent / "results" / "a2a.json"
REPO = Path(__file__).resolve().parent.parent
IMPLS = ("jsonrpc", "kafka", "kafka_linger_0")
LINGER_MS = {"kafka": 1, "kafka_linger_0": 0}
"""The producers' ``linger.ms`` on both sides: 1 is the agents' default (batches under load), 0 sends at once."""
CONCURRENCY = 32
SEQUENTIAL = 400
PARALLEL = {"jsonrpc": 3000, "kafka": 12000, "kafka_linger_0": 12000}
WARM_UP = 300
_results: dict[str, Any] = {}


@pytest.fixture(scope="module")
def endpoints() -> Endpoints:
    found, _ = ensure_up()
    return found


@contextlib.contextmanager
def server(*args: str) -> Iterator[subprocess.Popen[str]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "python"), str(REPO), os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.a2a_servers", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        stop([process])


@contextlib.asynccontextmanager
async def jsonrpc_client() -> AsyncIterator[Client]:
    port = free_ports()
    with server("jsonrpc", str(port)):
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=2 * CONCURRENCY)) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    card = await A2ACardResolver(http, base).get_agent_card()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
            client = ClientFactory(ClientConfig(streaming=False, httpx_client=http)).create(card)
            try:
                yield client
            finally:
                await client.close()


@contextlib.asynccontextmanager
async def kafka_client(endpoints: Endpoints, linger_ms: int) -> AsyncIterator[Client]:
    topics = TopicNames(f"bench-a2a-{uuid.uuid4().hex[:8]}.")
    try:
        args = ("kafka", endpoints.kafka, endpoints.schema_registry, topics.prefix, str(linger_ms))
        with server(*args) as process:
            assert process.stdout is not None
            line = await asyncio.get_running_loop().run_in_executor(None, process.stdout.readline)
            assert line.strip() == "ready", f"the Kafka echo agent did not start: {line!r}"
            card = await find_card("echo", endpoints.kafka, topics.prefix)
            caller = KafkaCaller.connect(
                endpoints.kafka, endpoints.schema_registry, topics.prefix, max_in_flight=1024, linger_ms=linger_ms
            )
            factory = ClientFactory(ClientConfig(streaming=False, supported_protocol_bindings=[KAFKA_BINDING]))
            register(factory, caller)
            client = factory.create(card)
            try:
                yield client
            finally:
                await client.close()
                await caller.stop()
    finally:
        names = [*topics.all(), topics.agents]
        for future in AdminClient({"bootstrap.servers": endpoints.kafka}).delete_topics(names).values():
            with contextlib.suppress(Exception):
                future.result(15)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.timeout(600)
def test_echo_over_kafka_and_jsonrpc(benchmark: Any, endpoints: Endpoints, impl: str) -> None:
    benchmark.group = "a2a echo, 32 concurrent callers"
    label = {"kafka": "a2a_fast", "kafka_linger_0": "a2a_fast linger.ms 0", "jsonrpc": "a2a-sdk jsonrpc"}[impl]
    benchmark.extra_info.update(impl=label, items=PARALLEL[impl])

    async def run() -> dict[str, Any]:
        opened = kafka_client(endpoints, LINGER_MS[impl]) if impl in LINGER_MS else jsonrpc_client()
        async with opened as client:
            await calls(client, WARM_UP, CONCURRENCY)
            _, one = await calls(client, SEQUENTIAL, 1)
            seconds, many = await calls(client, PARALLEL[impl], CONCURRENCY)
        return {
            "concurrency_1": {"calls": SEQUENTIAL, "p50_ms": quantile(one, 0.5), "p99_ms": quantile(one, 0.99)},
            f"concurrency_{CONCURRENCY}": {
                "calls": PARALLEL[impl],
                "msgs_per_s": round(PARALLEL[impl] / seconds),
                "p50_ms": quantile(many, 0.5),
                "p99_ms": quantile(many, 0.99),
            },
        }

    _results[impl] = benchmark.pedantic(lambda: uvloop.run(run()), rounds=1, iterations=1)
    many = f"concurrency_{CONCURRENCY}"
    for name in LINGER_MS:
        if name in _results and "jsonrpc" in _results:
            kafka, jsonrpc = _results[name], _results["jsonrpc"]
            _results[f"{name}_vs_jsonrpc"] = {
                "throughput_ratio": round(kafka[many]["msgs_per_s"] / jsonrpc[many]["msgs_per_s"], 2),
                "p50_ratio_concurrency_1": round(
                    kafka["concurrency_1"]["p50_ms"] / jsonrpc["concurrency_1"]["p50_ms"], 2
                ),
            }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(_results, indent=2, sort_keys=True) + "\n")
