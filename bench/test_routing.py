"""Routing lookups: a2a_fast against a Python dict-and-lock table and a Cython build of the same lookup.

The Python baseline is a straightforward, fair implementation: the same selection rules (priority
tiers, weighted round robin with the same spread, least load/weight) over plain dicts, every read
and write under one ``threading.Lock``. The Cython table is compiled from ``bench/cython/cyroute.pyx``
in a temporary directory when the session starts, so all three run in the same process and run.
"""

from __future__ import annotations

import bisect
import importlib.util
import itertools
import math
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from a2a_fast.mesh.routing import RoutingTable

AGENTS = [(f"agent-{i:02d}", [f"cap-{i % 5}", f"cap-{(i * 3) % 7 + 5}"], i % 3, 1 + i % 4) for i in range(40)]
CAPABILITIES = sorted({c for _, caps, _, _ in AGENTS for c in caps})
BATCH = [CAPABILITIES[i % len(CAPABILITIES)] for i in range(1000)]
HOT = "cap-1"


def stride_for(total: int) -> int:
    if total <= 2:
        return 1
    stride = min(max(int(total * 0.61803398875), 1), total - 1)
    while math.gcd(stride, total) != 1:
        stride += 1
    return stride


class LockedTable:
    """Dict-and-lock routing table with the same selection rules as a2a_fast."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._agents: dict[str, tuple[list[str], int, int]] = {}
        self._loads: dict[str, int] = {}
        self._pools: dict[str, tuple[list[str], list[int], list[int], int, int]] = {}
        self._cursors: dict[str, int] = {}

    def upsert_agent(self, agent_id: str, capabilities: list[str], priority: int = 0, weight: int = 1) -> None:
        with self._lock:
            self._agents[agent_id] = (list(capabilities), priority, weight)
            self._loads.setdefault(agent_id, 0)
            self._rebuild()

    def _rebuild(self) -> None:
        grouped: dict[str, list[tuple[int, str, int]]] = {}
        for agent_id, (capabilities, priority, weight) in self._agents.items():
            for capability in capabilities:
                grouped.setdefault(capability, []).append((priority, agent_id, weight))
        self._pools = {}
        for capability, members in grouped.items():
            top = max(priority for priority, _, _ in members)
            tier = sorted((agent_id, weight) for priority, agent_id, weight in members if priority == top)
            ends = list(itertools.accumulate(weight for _, weight in tier))
            weights = [weight for _, weight in tier]
            self._pools[capability] = ([a for a, _ in tier], weights, ends, ends[-1], stride_for(ends[-1]))
            self._cursors.setdefault(capability, 0)

    def set_load(self, agent_id: str, load: int) -> None:
        with self._lock:
            self._loads[agent_id] = load

    def route(self, capability: str, strategy: str = "round_robin") -> str | None:
        with self._lock:
            pool = self._pools.get(capability)
            if pool is None:
                return None
            agents, weights, ends, total, stride = pool
            if strategy == "round_robin":
                ticket = self._cursors[capability]
                self._cursors[capability] = ticket + 1
                slot = (ticket % total) * stride % total
                return agents[bisect.bisect_right(ends, slot)]
            best, best_load, best_weight = agents[0], self._loads[agents[0]], weights[0]
            for agent_id, weight in zip(agents[1:], weights[1:], strict=True):
                load = self._loads[agent_id]
                if load * best_weight < best_load * weight:
                    best, best_load, best_weight = agent_id, load, weight
            return best

    def route_many(self, capabilities: list[str]) -> list[str | None]:
        return [self.route(capability) for capability in capabilities]


@pytest.fixture(scope="session")
def cyroute(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Compiles ``bench/cython/cyroute.pyx`` with Cython and gcc into a temporary directory."""
    source = Path(__file__).parent / "cython" / "cyroute.pyx"
    build = tmp_path_factory.mktemp("cython")
    c_file = build / "cyroute.c"
    target = build / f"cyroute{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run([sys.executable, "-m", "cython", "-3", str(source), "-o", str(c_file)], check=True)
    include = sysconfig.get_paths()["include"]
    subprocess.run(["gcc", "-O3", "-shared", "-fPIC", f"-I{include}", str(c_file), "-o", str(target)], check=True)
    spec = importlib.util.spec_from_file_location("cyroute", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make(impl: str, cyroute: Any) -> Any:
    if impl == "cython":
        return cyroute.Table(AGENTS)
    table: Any = RoutingTable() if impl == "a2a_fast" else LockedTable()
    for agent_id, capabilities, priority, weight in AGENTS:
        table.upsert_agent(agent_id, capabilities, priority, weight)
    return table


def loads(i: int) -> int:
    return (i * 7919) % 13


def set_loads(table: Any) -> None:
    for i, (agent_id, _, _, _) in enumerate(AGENTS):
        table.set_load(agent_id, loads(i))


IMPLS = ["a2a_fast", "python-dict-lock", "cython"]


@pytest.fixture(scope="session")
def expected(cyroute: Any) -> dict[str, Any]:
    """Outputs of the Python baseline, which every implementation must reproduce."""
    rr = make("python-dict-lock", cyroute)
    ll = make("python-dict-lock", cyroute)
    set_loads(ll)
    return {
        "round_robin": [rr.route(c) for c in CAPABILITIES * 50],
        "least_loaded": [ll.route(c, "least_loaded") for c in CAPABILITIES],
        "batch": make("python-dict-lock", cyroute).route_many(BATCH),
    }


@pytest.mark.parametrize("impl", IMPLS)
def test_route_round_robin(benchmark: Any, tag: Any, cyroute: Any, expected: dict[str, Any], impl: str) -> None:
    table = make(impl, cyroute)
    assert [table.route(c) for c in CAPABILITIES * 50] == expected["round_robin"]
    tag("routing: route() round robin", impl)
    benchmark(table.route, HOT)


@pytest.mark.parametrize("impl", IMPLS)
def test_route_least_loaded(benchmark: Any, tag: Any, cyroute: Any, expected: dict[str, Any], impl: str) -> None:
    table = make(impl, cyroute)
    set_loads(table)
    assert [table.route(c, "least_loaded") for c in CAPABILITIES] == expected["least_loaded"]
    tag("routing: route() least loaded", impl)
    benchmark(table.route, HOT, "least_loaded")


@pytest.mark.parametrize("impl", IMPLS)
def test_route_many(benchmark: Any, tag: Any, cyroute: Any, expected: dict[str, Any], impl: str) -> None:
    table = make(impl, cyroute)
    assert table.route_many(BATCH) == expected["batch"]
    tag("routing: route_many(1000)", impl, items=len(BATCH))
    benchmark(table.route_many, BATCH)


@pytest.fixture
def churn() -> Iterator[Callable[[Any], None]]:
    """Starts a thread that keeps updating a table (about 2000 changes a second) until the test ends."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(table: Any) -> None:
        def run() -> None:
            i = 0
            while not stop.is_set():
                agent_id, capabilities, priority, weight = AGENTS[i % len(AGENTS)]
                table.upsert_agent(agent_id, capabilities, priority, weight)
                table.set_load(agent_id, i % 17)
                i += 1
                time.sleep(0.0005)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join()


@pytest.mark.parametrize("impl", ["a2a_fast", "python-dict-lock"])
def test_route_while_updating(benchmark: Any, tag: Any, cyroute: Any, churn: Any, impl: str) -> None:
    table = make(impl, cyroute)
    offering = {agent_id for agent_id, caps, _, _ in AGENTS if HOT in caps}
    churn(table)
    # Not comparable call by call while the writer runs; every answer must still be a valid agent.
    assert {table.route(HOT) for _ in range(200)} <= offering
    tag("routing: route() during updates", impl)
    benchmark(table.route, HOT)
