"""The echo agent of ``bench/test_a2a.py`` served in a process of its own, over either binding, and the echo calls
the A2A benchmarks make to it (:func:`calls`).

``python -m bench.a2a_servers jsonrpc PORT`` serves the package's SDK echo executor
(:class:`a2a_fast.a2a.builtin.EchoExecutor`) the way the SDK's samples serve an agent: its
``DefaultRequestHandler`` with an in-memory task store, the JSON-RPC and agent-card routes in a Starlette app,
uvicorn on 127.0.0.1 (ready once its agent card answers), idle connections kept for the whole run.

``python -m bench.a2a_servers kafka KAFKA REGISTRY PREFIX [LINGER_MS]`` runs the same executor as an
:class:`a2a_fast.a2a.A2AAgent` in the mesh on topic prefix ``PREFIX`` and prints ``ready`` once it consumes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from a2a.client import Client

os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")


def serve_jsonrpc(port: int) -> None:
    import uvicorn
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.server.tasks import InMemoryTaskStore
    from a2a.types import AgentInterface
    from starlette.applications import Starlette

    from a2a_fast.a2a.builtin import EchoExecutor, echo_card

    url = f"http://127.0.0.1:{port}/"
    card = echo_card(interfaces=[AgentInterface(protocol_binding="JSONRPC", protocol_version="1.0", url=url)])
    handler = DefaultRequestHandler(agent_executor=EchoExecutor(), task_store=InMemoryTaskStore(), agent_card=card)
    app = Starlette(routes=[*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/")])
    # uvicorn closes a connection idle for 5 s, as long as httpx's pool keeps one: a loaded machine's sequential
    # phase leaves 31 of the client's connections idle that long, and reusing one the server is closing failed runs.
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=120)


def serve_kafka(kafka: str, registry: str, prefix: str, linger_ms: float) -> int:
    import uvloop

    from a2a_fast.a2a import A2AAgent
    from a2a_fast.a2a.builtin import EchoExecutor, echo_card
    from a2a_fast.agents.base import AgentConfig, serve
    from a2a_fast.protocol.topics import TopicNames

    config = AgentConfig(
        "echo-bench", kafka, registry, topics=TopicNames(prefix), max_in_flight=1024, linger_ms=linger_ms
    )
    agent = A2AAgent(config, EchoExecutor(), echo_card(), max_tasks=256)
    return uvloop.run(serve(agent, ready=lambda _agent: print("ready", flush=True)))


async def calls(client: Client, count: int, concurrency: int) -> tuple[float, list[float]]:
    """``count`` echo calls from ``concurrency`` callers; the seconds they took and each call's latency."""
    from a2a.helpers import get_artifact_text, new_text_message
    from a2a.types import Role, SendMessageRequest, TaskState

    latencies: list[float] = []
    numbers = iter(range(count))

    async def caller() -> None:
        for number in numbers:
            text = f"echo {number}"
            request = SendMessageRequest(message=new_text_message(text, role=Role.ROLE_USER))
            started = time.perf_counter()
            answers = [answer async for answer in client.send_message(request)]
            latencies.append(time.perf_counter() - started)
            (answer,) = answers
            assert answer.task.status.state == TaskState.TASK_STATE_COMPLETED, answer
            assert get_artifact_text(answer.task.artifacts[0]) == text, answer

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def main(argv: list[str]) -> int:
    if argv[1:2] == ["jsonrpc"] and len(argv) == 3:
        serve_jsonrpc(int(argv[2]))
        return 0
    if argv[1:2] == ["kafka"] and len(argv) in (5, 6):
        return serve_kafka(argv[2], argv[3], argv[4], float(argv[5]) if len(argv) == 6 else 1)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
