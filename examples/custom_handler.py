"""An executor with a handler of its own, doing one task end to end.

A provider offers the skill ``word_count``, an executor runs it with :func:`count_words`, and a requester asks
for one task: the provider accepts the offered price, the executor counts the words (reporting progress half-way)
and the requester prints the outcome. Exits 0 once the task is COMPLETED.

The broker and the registry are those of ``KAFKA_BROKER`` and ``SCHEMA_REGISTRY_URL`` (default: the local stack
of ``a2a-fast stack up``). The agents' topics are created under ``--topic-prefix`` (default: a fresh one)::

    python examples/custom_handler.py --topic-prefix my-test.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import uuid
from typing import Any

import uvloop

from a2a_fast import A2AError, AgentConfig, Endpoints, Executor, Provider, Requester, TaskContext, TopicNames

TEXT = "The quick brown fox jumps over the lazy dog, and the dog sleeps on: the fox is long gone."


async def count_words(task: TaskContext) -> dict[str, Any]:
    """Runs every task of the capability ``word_count``: the text is the ``text`` parameter, else the description.

    Whatever it returns (JSON-serialisable) is the task's result; raising an exception would fail the task with
    the error as its reason."""
    words = [word.strip(".,;:!?").lower() for word in task.parameters.get("text", task.description).split()]
    await task.progress(0.5, f"{len(words)} words read")
    return {"words": len(words), "most_common": collections.Counter(words).most_common(3)}


async def main(prefix: str) -> int:
    endpoints = Endpoints.from_env()
    topics = TopicNames(prefix)

    def config(agent_id: str) -> AgentConfig:
        return AgentConfig(agent_id, endpoints.kafka, endpoints.schema_registry, topics=topics)

    provider = Provider(config("provider-1"), {"word_count": 5.0})  # the skill and the least it is done for
    executor = Executor(config("executor-1"), {"word_count": count_words})
    requester = Requester(config("requester-1"))
    async with provider, executor, requester:
        outcome = await requester.request_task(
            "Count the words of a sentence", 8.0, capability="word_count", parameters={"text": TEXT}, max_wait=60
        )
    print(
        f"task {outcome.task_id} {outcome.status} at {outcome.agreed_cost} ({outcome.provider} -> {outcome.executor})"
    )
    print(json.dumps(outcome.result if outcome.status == "COMPLETED" else outcome.error))
    return 0 if outcome.status == "COMPLETED" else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic-prefix", default=f"example-{uuid.uuid4().hex[:8]}.", help="topic namespace")
    try:
        sys.exit(uvloop.run(main(parser.parse_args().topic_prefix)))
    except A2AError as error:  # a service that is down, say: one line, not a traceback
        sys.exit(f"custom_handler: {error}")
