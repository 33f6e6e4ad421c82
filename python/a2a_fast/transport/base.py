"""What the rest of the package needs from a broker connection: the :class:`Transport` and its clients.

The clients are the confluent-kafka client interfaces (``Consumer``, ``Producer``, ``AdminClient``) as far as
this package uses them, so the real clients are the reference implementation and
:mod:`a2a_fast.transport.memory` is a twin of them. A transport also hands out the schema registry client,
so that everything a process needs to reach its services (addresses, credentials, record signing keys) is in one
place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from a2a_fast.protocol.signing import RecordSigning

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

    def position(self, partitions: list[Any]) -> list[Any]: ...

    def pause(self, partitions: list[Any]) -> None: ...

    def seek(self, partition: Any) -> None: ...

    def resume(self, partitions: list[Any]) -> None: ...

    def get_watermark_offsets(self, partition: Any, timeout: float | None = None, cached: bool = False) -> Any: ...

    def offsets_for_times(self, partitions: list[Any], timeout: float = -1) -> list[Any]: ...

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...

    def consumer_group_metadata(self) -> Any: ...

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

    def purge(self, in_queue: bool = True, in_flight: bool = True, blocking: bool = True) -> None: ...

    def init_transactions(self, timeout: float = -1) -> None: ...

    def begin_transaction(self) -> None: ...

    def send_offsets_to_transaction(self, positions: list[Any], group_metadata: Any, timeout: float = -1) -> None: ...

    def commit_transaction(self, timeout: float = -1) -> None: ...

    def abort_transaction(self, timeout: float = -1) -> None: ...

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

    def consumer(self, config: Mapping[str, Any]) -> ConsumerClient:
        """A consumer with these client properties; the caller closes it."""

    def producer(self, config: Mapping[str, Any]) -> ProducerClient:
        """A producer with these client properties."""

    def admin(self) -> AdminClient:
        """An admin client (topics)."""

    def registry(self) -> RegistryClient:
        """A registry client; the caller closes it."""

    def describe(self) -> Sequence[tuple[str, str]]:
        """``(setting, value)`` pairs naming what this transport connects to, for error messages."""

    @property
    def signing(self) -> RecordSigning | None:
        """How this process signs the records it produces and checks those it reads; None: neither."""

    def check_reachable(self, timeout: float = ..., registry: bool = True) -> None:
        """Returns once the broker and (with ``registry``) the schema registry answer and accept this process's
        credentials; otherwise raises :class:`~a2a_fast.errors.StackError` with one line naming the setting and
        the address at fault (:class:`~a2a_fast.errors.ServiceUnavailableError` for a service that does not
        answer within ``timeout`` seconds). Blocking."""
