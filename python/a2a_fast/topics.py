"""Topic names shared by every agent, and creating topics that are missing."""

from __future__ import annotations

from collections.abc import Iterable

from a2a_fast.errors import StackError

__all__ = [
    "A2A_MESSAGES",
    "AGENTS",
    "COLLABORATIONS",
    "DEAD_LETTER",
    "NEGOTIATIONS",
    "TASK_REQUESTS",
    "TASK_RESPONSES",
    "TASK_TOPICS",
    "ensure_topics",
]

TASK_REQUESTS = "task-requests"
TASK_RESPONSES = "task-responses"
NEGOTIATIONS = "negotiations"
COLLABORATIONS = "collaborations"
DEAD_LETTER = "a2a.dlq"
AGENTS = "a2a.agents"
"""The agent directory: compacted, one partition, keyed by agent id (see :mod:`a2a_fast.mesh.directory`)."""
A2A_MESSAGES = "a2a.messages"
"""A2A JSON messages carried as CloudEvents (see :mod:`a2a_fast.mesh.gateway`)."""
TASK_TOPICS = (TASK_REQUESTS, TASK_RESPONSES, NEGOTIATIONS)


def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int = 3,
    config: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> list[str]:
    """Creates the topics that do not exist yet; returns the names it created."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as error:
        raise StackError(f"cannot reach Kafka at {bootstrap}: {error}") from error
    wanted = [name for name in dict.fromkeys(names) if name not in existing]
    if not wanted:
        return []
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, config=config or {}) for name in wanted],
        operation_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout)
            created.append(name)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise StackError(f"creating topic {name!r} failed: {error}") from error
    return created
