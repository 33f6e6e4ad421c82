"""What the rest of the package needs from a broker connection: the :class:`Transport` and its clients.

The clients are the confluent-kafka client interfaces (``Consumer``, ``Producer``, ``AdminClient``) as far as
this package uses them, so the real clients are the reference implementation and
:mod:`a2a_fast.transport.memory` is a twin of them. A transport also hands out the schema registry client,
so that everything a process needs to reach its services (addresses, and later credentials) is in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

__all__ = ["AdminClient", "ConsumerClient", "ProducerClient", "RegistryClient", "Transport"]


class ConsumerClient(Protocol):
    """A Kafka consumer (``confluent_kafka.Consumer``'s methods this package calls)."""

    def subscribe(
        self,
        topics: list[str],
        on_assign: Callable[..., None] = ...,
        on_revoke: Callable[..., None] = ...,
        on_lost: Callable[..., None] = ...,
    ) -> None: ...

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]: ...

    def assign(self, partitions: list[Any]) -> None: ...

    def assignment(self) -> list[Any]: ...

    def commit(self, message: Any = None, offsets: list[Any] | None = None, asynchronous: bool = True) -> Any: ...

    def committed(self, partitions: list[Any], timeout: float = -1) -> list[Any]: ...

    def pause(self, partitions: list[Any]) -> None: ...

    def resume(self, partitions: list[Any]) -> None: ...

    def get_watermark_offsets(self, partition: Any, timeout: float | None = None, cached: bool = False) -> Any: ...

    def offsets_for_times(self, partitions: list[Any], timeout: float = -1) -> list[Any]: ...

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...

    def close(self) -> None: ...


class ProducerClient(Protocol):
    """A Kafka producer (``confluent_kafka.Producer``'s methods this package calls)."""

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int = -1,
        on_delivery: Callable[[Any, Any], None] | None = None,
        timestamp: int = 0,
        headers: Any = None,
    ) -> None: ...

    def poll(self, timeout: float = -1) -> int: ...

    def flush(self, timeout: float = -1) -> int: ...

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...

    def __len__(self) -> int: ...


class AdminClient(Protocol):
    """A Kafka admin client (``confluent_kafka.admin.AdminClient``'s methods this package calls)."""

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...

    def create_topics(self, new_topics: list[Any], **kwargs: Any) -> dict[str, Any]: ...

    def create_partitions(self, new_partitions: list[Any], **kwargs: Any) -> dict[str, Any]: ...

    def delete_topics(self, topics: list[str], **kwargs: Any) -> dict[str, Any]: ...


class RegistryClient(Protocol):
    """A schema registry client (``SchemaRegistryClient``'s methods this package calls)."""

    def register_schema(self, subject_name: str, schema: Any, normalize_schemas: bool = False) -> int: ...

    def get_schema(self, schema_id: int, subject_name: str | None = None, fmt: str | None = None) -> Any: ...

    def set_compatibility(self, subject_name: str | None = None, level: str | None = None) -> Any: ...

    def get_compatibility(self, subject_name: str | None = None) -> Any: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """How this process reaches the broker and the schema registry.

    ``config`` arguments are librdkafka properties of the client's own behaviour (group, offsets, batching);
    the transport adds where the broker is and how to reach it (bootstrap servers, security, logging).
    """

    @property
    def bootstrap(self) -> str:
        """The broker address, for messages that name it."""

    @property
    def schema_registry_url(self) -> str:
        """The registry address, for messages that name it and the ``ce_dataschema`` URIs."""

    def consumer(self, config: Mapping[str, Any]) -> ConsumerClient: ...

    def producer(self, config: Mapping[str, Any]) -> ProducerClient: ...

    def admin(self) -> AdminClient: ...

    def registry(self) -> RegistryClient:
        """A registry client; the caller closes it."""

    def describe(self) -> Sequence[tuple[str, str]]:
        """``(setting, value)`` pairs naming what this transport connects to, for error messages."""
