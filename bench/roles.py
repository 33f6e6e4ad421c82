"""The provider and executor of the end-to-end cases (``bench/test_e2e.py``), in the bench's process or each in a
process of its own: ``python -m bench.roles provider|executor KAFKA REGISTRY TOPIC_PREFIX`` runs one until SIGTERM
and prints ``READY`` once it holds its partitions."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import uvloop

from a2a_fast.agents.base import Agent, AgentConfig
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.tasks import TaskContext
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints

ROLES = ("provider", "executor")


def config(endpoints: Endpoints, topics: TopicNames, agent_id: str, **overrides: Any) -> AgentConfig:
    # consumer groups of the case's own, as its topics are: a shared group name would be rebalanced by
    # whoever else runs agents of that role on the same broker
    overrides.setdefault("group_id", f"{topics.prefix}{agent_id}")
    return AgentConfig(agent_id, endpoints.kafka, endpoints.schema_registry, topics=topics, **overrides)


async def half_way(task: TaskContext) -> str:
    """Reports progress once and returns: a lifecycle is then the five records issue #12 counts (request, ACCEPTED,
    RUNNING at 0, RUNNING half way, COMPLETED), as ``MESSAGES_PER_TASK`` in ``test_e2e.py`` says."""
    await task.progress(0.5)
    return task.task_id


def role_agent(role: str, endpoints: Endpoints, topics: TopicNames, **overrides: Any) -> Agent:
    """The case's provider (every task accepted at once) or executor (a handler that reports half way and returns)."""
    if role == "provider":
        return Provider(config(endpoints, topics, "provider", max_in_flight=4000, **overrides), {"summarize": 1.0})
    if role == "executor":
        return Executor(
            config(endpoints, topics, "executor", max_in_flight=4000, **overrides),
            {"summarize": half_way},
            max_tasks=2000,
        )
    raise ValueError(f"role: {role!r} is not one of {', '.join(ROLES)}")


async def _run(agent: Agent) -> None:
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    async with agent:
        await agent.wait_assigned()
        print("READY", flush=True)
        await stopping.wait()


def main(argv: list[str]) -> int:
    role, kafka, registry, prefix = argv
    uvloop.run(_run(role_agent(role, Endpoints(kafka, registry), TopicNames(prefix))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
