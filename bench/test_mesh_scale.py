"""The mesh at the seed's scale: 1,000 live agents (``mesh.max_agents``' default) over the local Kafka.

Four processes (``python -m bench.mesh_sim host``) run 250 agents each on a directory topic of this run's own,
registering and heart-beating with the default settings (every 5 s, dead after 30 s). Results go to
``bench/results/mesh.json``; the whole file takes about a minute.

* **heartbeat traffic**: records and bytes per second on the directory topic (key, value and headers) over a
  ten-second window, read with a plain consumer from the topic's end.
* **convergence**: then a process that has never seen the mesh (``python -m bench.mesh_sim observe``) starts
  an ``AgentDirectory`` and times ``start()`` until all 1,000 are alive, reading the registrations and the
  heartbeats since; three such processes, one after another. The same process states the Python heap its
  directory and router hold per agent.
* **routing**: one capability decision over the 1,000 live agents (each capability offered by about 100 of
  them): the native table ``MeshRouter`` mirrors the directory into, one call and 1,000 in one call
  (``route_many``); ``MeshRouter.route`` with its metrics; and, as the baseline, the directory's own
  ``find_agents_by_capability`` with a round-robin pick, what routing costs without the table. Every
  implementation's choices are checked to be live agents offering the capability.
* **memory**: each host process's resident memory before its agents and once they are registered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from confluent_kafka import OFFSET_END, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from a2a_fast.config import ProtocolConfig
from a2a_fast.mesh.directory import AgentDirectory
from a2a_fast.mesh.router import MeshRouter
from a2a_fast.stack import Endpoints, ensure_up
from bench.mesh_sim import CAPABILITIES, card

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "mesh.json"
AGENTS = ProtocolConfig().mesh.max_agents
PROCESSES = 4
OBSERVERS = 3
TRAFFIC_WINDOW_SECONDS = 10.0
DECISIONS = 1000
_results: dict[str, Any] = {}


@dataclass
class Mesh:
    kafka: str
    topic: str
    hosts: list[dict[str, Any]]


def _line(stream: IO[str], patience: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(patience)
    if not lines or not lines[0]:
        raise TimeoutError(f"no answer from a mesh process in {patience}s")
    return lines[0]


@pytest.fixture(scope="module")
def mesh() -> Iterator[Mesh]:
    endpoints: Endpoints = ensure_up()[0]
    topic = f"bench-{uuid.uuid4().hex[:8]}.a2a.agents"
    share = AGENTS // PROCESSES
    hosts = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.mesh_sim", "host", endpoints.kafka, topic, str(n * share), str(share)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    try:
        reports = [json.loads(_line(host.stdout, 120)) for host in hosts if host.stdout is not None]
        yield Mesh(endpoints.kafka, topic, reports)
    finally:
        for host in hosts:
            with contextlib.suppress(OSError):
                if host.stdin is not None:
                    host.stdin.close()
        for host in hosts:
            try:
                host.wait(60)
            except subprocess.TimeoutExpired:
                host.kill()
                host.wait()
            if host.stdout is not None:
                host.stdout.close()
        admin = AdminClient({"bootstrap.servers": endpoints.kafka})
        for future in admin.delete_topics([topic], operation_timeout=10).values():
            with contextlib.suppress(Exception):
                future.result(15)
    _results["hosts"] = {
        "processes": PROCESSES,
        "agents": sum(report["agents"] for report in reports),
        "register_seconds": [round(report["register_seconds"], 3) for report in reports],
        "rss_bytes_per_agent_marginal": round(
            statistics.mean((r["rss_after"] - r["rss_before"]) / r["agents"] for r in reports)
        ),
        "rss_bytes_per_agent_all_in": round(statistics.mean(r["rss_after"] / r["agents"] for r in reports)),
    }
    _save()


def observe(mesh: Mesh) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.mesh_sim", "observe", mesh.kafka, mesh.topic, str(AGENTS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return report


def heartbeat_traffic(mesh: Mesh) -> dict[str, Any]:
    consumer = Consumer({"bootstrap.servers": mesh.kafka, "group.id": f"bench-{uuid.uuid4().hex}"})
    consumer.assign([TopicPartition(mesh.topic, 0, OFFSET_END)])
    records = size = 0
    kinds: dict[str, int] = {}
    try:
        consumer.consume(1, 1.0)  # the assignment takes effect: the window starts at the topic's end
        started = time.monotonic()
        while (left := started + TRAFFIC_WINDOW_SECONDS - time.monotonic()) > 0:
            for message in consumer.consume(500, min(left, 0.5)):
                if message.error() is not None:
                    continue
                records += 1
                headers = message.headers() or []
                size += len(message.key() or b"") + len(message.value() or b"")
                size += sum(len(name) + len(value or b"") for name, value in headers)
                kind = dict(headers).get("ce_type", b"").decode()
                kinds[kind] = kinds.get(kind, 0) + 1
        elapsed = time.monotonic() - started
    finally:
        consumer.close()
    return {
        "window_seconds": round(elapsed, 2),
        "records_per_s": round(records / elapsed, 1),
        "bytes_per_s": round(size / elapsed),
        "bytes_per_record": round(size / max(1, records)),
        "records_by_type": kinds,
    }


@pytest.mark.timeout(120)
def test_heartbeat_traffic(benchmark: Any, mesh: Mesh) -> None:
    benchmark.group = f"mesh heartbeats of {AGENTS} agents, {TRAFFIC_WINDOW_SECONDS:g} s window"
    benchmark.extra_info.update(impl="a2a_fast", items=1)
    traffic = benchmark.pedantic(lambda: heartbeat_traffic(mesh), rounds=1, iterations=1)
    interval = ProtocolConfig().heartbeat.interval_seconds
    assert traffic["records_per_s"] > 0
    _results["heartbeats"] = {"interval_seconds": interval, "expected_records_per_s": AGENTS / interval, **traffic}
    benchmark.extra_info.update(traffic)
    _save()


@pytest.mark.timeout(300)
def test_directory_converges_in_a_new_process(benchmark: Any, mesh: Mesh) -> None:
    benchmark.group = f"mesh directory of {AGENTS} agents, new process"
    benchmark.extra_info.update(impl="a2a_fast", items=1)
    runs: list[dict[str, Any]] = []
    benchmark.pedantic(lambda: runs.append(observe(mesh)), rounds=OBSERVERS, iterations=1)
    assert [run["agents"] for run in runs] == [AGENTS] * OBSERVERS
    seconds = [round(run["converge_seconds"], 3) for run in runs]
    benchmark.extra_info["converge_seconds"] = seconds
    _results["convergence"] = {
        "agents": AGENTS,
        "converge_seconds": seconds,
        "records_read": [run["records_read"] for run in runs],
        "directory_heap_bytes_per_agent": round(statistics.median(r["directory_heap_bytes_per_agent"] for r in runs)),
    }
    _save()


@pytest.fixture(scope="module")
def router(mesh: Mesh) -> Iterator[MeshRouter]:
    async def converge() -> AgentDirectory:
        directory = AgentDirectory(mesh.kafka, mesh.topic)
        await directory.start()
        await directory.wait_for(lambda d: sum(1 for i in d.get_all_agents() if i.alive) >= AGENTS, 60)
        await directory.stop()  # a frozen view: routing is measured, not following the topic
        directory.as_of = time.time()  # and liveness judged now, so no agent times out while the bench runs
        return directory

    directory = asyncio.run(converge())
    mesh_router = MeshRouter(directory)
    assert len(mesh_router.table) == AGENTS
    yield mesh_router
    mesh_router.close()


def scan_router(directory: AgentDirectory) -> Callable[[str], str | None]:
    """Routing without the table: the directory's live agents offering the capability, in turn."""
    turn = itertools.count()

    def route(capability: str) -> str | None:
        found = directory.find_agents_by_capability(capability)
        return found[next(turn) % len(found)].agent_id if found else None

    return route


ROUTE_IMPLS = ["a2a_fast", "a2a_fast_route_many", "a2a_fast_mesh_router", "python_directory_scan"]


@pytest.mark.parametrize("impl", ROUTE_IMPLS)
def test_capability_routing(benchmark: Any, router: MeshRouter, impl: str) -> None:
    benchmark.group = f"mesh capability routing over {AGENTS} live agents"
    batch = [CAPABILITIES[n % len(CAPABILITIES)] for n in range(DECISIONS)]
    table = router.table
    assert router.directory is not None
    scan = scan_router(router.directory)
    runs: dict[str, tuple[int, Callable[[], list[str | None]]]] = {
        "a2a_fast": (1, lambda: [table.route(batch[0])]),
        "a2a_fast_route_many": (DECISIONS, lambda: table.route_many(batch)),
        "a2a_fast_mesh_router": (1, lambda: [router.route(batch[0])]),
        "python_directory_scan": (1, lambda: [scan(batch[0])]),
    }
    items, run = runs[impl]
    benchmark.extra_info.update(impl=impl, items=items)
    offering = {capability: set(table.agents_for(capability)) for capability in CAPABILITIES}
    chosen = [run() for _ in range(200)]
    asked = batch if items > 1 else [batch[0]]
    for choices in chosen:
        assert all(agent in offering[capability] for agent, capability in zip(choices, asked, strict=True))
    live = {f"agent-{n:04d}" for n in range(AGENTS)}
    assert offering[batch[0]] == {a for a in live if batch[0] in card(int(a[6:])).capabilities}
    benchmark(run)
    per_decision = benchmark.stats.stats.median / items
    _results.setdefault("routing", {"agents": AGENTS, "median_ns_per_decision": {}})
    _results["routing"]["median_ns_per_decision"][impl] = round(per_decision * 1e9, 1)
    _save()


def _save() -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**previous, **_results}, indent=2, sort_keys=True) + "\n")
