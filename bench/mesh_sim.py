"""The processes of ``bench/test_mesh_scale.py``: many agents in one process, and a newcomer's directory.

``python -m bench.mesh_sim host KAFKA TOPIC FIRST COUNT`` runs agents ``FIRST`` .. ``FIRST+COUNT-1`` (see
:func:`card`) in one process: one :class:`AgentDirectory`, one shared producer, a :class:`Presence` per agent
with the default heartbeat settings. It prints one JSON line once every agent's REGISTER was read back
(``register_seconds``, the process's resident memory before the agents and after), heartbeats until its stdin
closes, then deregisters them all and prints ``stopped``.

``python -m bench.mesh_sim observe KAFKA TOPIC EXPECTED`` is a process that has never seen the mesh: it starts
an :class:`AgentDirectory` on ``TOPIC`` and prints one JSON line with the seconds from ``start()`` until
``EXPECTED`` agents are alive (``converge_seconds``), the records it read, and the Python heap its directory
and a :class:`MeshRouter` over it hold per agent (a second directory, measured with ``tracemalloc``, which
slows it; the timed one runs without).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
import tracemalloc

from a2a_fast.config import ProtocolConfig
from a2a_fast.mesh.directory import AgentCard, AgentDirectory, Presence
from a2a_fast.mesh.router import MeshRouter
from a2a_fast.transport import as_transport
from a2a_fast.transport.producer import Producer

CAPABILITIES = [f"cap-{n:02d}" for n in range(20)]


def card(number: int) -> AgentCard:
    """Agent ``number``: two of the 20 capabilities (each offered by about a tenth of the agents), weights 1-3."""
    first = number % len(CAPABILITIES)
    second = (first + 1 + (number // len(CAPABILITIES)) % (len(CAPABILITIES) - 1)) % len(CAPABILITIES)
    return AgentCard(
        f"agent-{number:04d}",
        "worker",
        capabilities=(CAPABILITIES[first], CAPABILITIES[second]),
        endpoints={"metrics": f"http://127.0.0.1:{9000 + number}/metrics"},
        resources={"cpus": 1, "memory_mb": 256},
        weight=1 + number % 3,
    )


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def host(kafka: str, topic: str, first: int, count: int) -> None:
    config = ProtocolConfig()
    transport = as_transport(kafka)
    directory = AgentDirectory(transport, topic, config)
    await directory.start()
    producer = Producer(transport, f"mesh-sim-{first}", on_deliveries=lambda _batch: None)
    producer.start()
    gc.collect()
    before = resident_bytes()
    started = time.perf_counter()
    presences = [Presence(directory, card(n), producer=producer) for n in range(first, first + count)]
    await asyncio.gather(*(presence.start() for presence in presences))
    registered = time.perf_counter() - started
    gc.collect()
    after = resident_bytes()
    print(
        json.dumps({"agents": count, "register_seconds": registered, "rss_before": before, "rss_after": after}),
        flush=True,
    )
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await asyncio.gather(*(presence.stop() for presence in presences))
    await producer.close(10.0)
    await directory.stop()
    print("stopped", flush=True)


async def observe(kafka: str, topic: str, expected: int) -> None:
    transport = as_transport(kafka)

    def converged(directory: AgentDirectory) -> bool:
        return sum(1 for info in directory.get_all_agents() if info.alive) >= expected

    started = time.perf_counter()
    directory = AgentDirectory(transport, topic)
    await directory.start()
    await directory.wait_for(converged, 60)
    seconds = time.perf_counter() - started
    position = directory.position
    await directory.stop()

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    measured = AgentDirectory(transport, topic)
    await measured.start()
    await measured.wait_for(converged, 60)
    router = MeshRouter(measured)
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    agents = len(router.table)
    router.close()
    await measured.stop()
    print(
        json.dumps(
            {
                "converge_seconds": seconds,
                "records_read": position,
                "agents": agents,
                "directory_heap_bytes_per_agent": heap / max(1, agents),
            }
        ),
        flush=True,
    )


def main(argv: list[str]) -> int:
    import uvloop

    if argv[1:2] == ["host"] and len(argv) == 6:
        uvloop.run(host(argv[2], argv[3], int(argv[4]), int(argv[5])))
        return 0
    if argv[1:2] == ["observe"] and len(argv) == 5:
        uvloop.run(observe(argv[2], argv[3], int(argv[4])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
