"""The transport to a real Kafka-API broker (Kafka, Redpanda) and a Confluent-compatible schema registry.

Every Kafka client and registry client of the package is made here, so the broker address, the client
properties every connection shares (security among them) and where librdkafka's own log goes are set in one
place. librdkafka logs to the ``a2a_fast.kafka`` logger, warnings and up by default.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from a2a_fast.transport.base import AdminClient, ConsumerClient, ProducerClient, RegistryClient

__all__ = ["KAFKA_LOG", "KafkaTransport"]

KAFKA_LOG = logging.getLogger("a2a_fast.kafka")
"""librdkafka's own log lines, at their syslog level mapped to logging's."""

# librdkafka's syslog levels: 3 error, 4 warning, 5 notice, 6 info, 7 debug. Notices (broker connections
# coming and going, queue purges at close) are routine for an operator; warnings and errors are not.
_LIBRDKAFKA_LEVEL = 4


@dataclass(frozen=True)
class KafkaTransport:
    """A broker at ``kafka`` (bootstrap servers) and a registry at ``schema_registry_url``.

    ``properties`` are librdkafka properties every client gets (``security.protocol``, ``sasl.*``, ``ssl.*``...);
    ``registry_properties`` are the registry client's own settings (``basic.auth.user.info``...).
    """

    kafka: str
    schema_registry_url: str = ""
    properties: Mapping[str, Any] = field(default_factory=dict)
    registry_properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return self.kafka

    def settings(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The full librdkafka configuration of a client whose own properties are ``config``."""
        return {
            "bootstrap.servers": self.kafka,
            "logger": KAFKA_LOG,
            "log_level": _LIBRDKAFKA_LEVEL,
            **self.properties,
            **config,
        }

    def consumer(self, config: Mapping[str, Any]) -> ConsumerClient:
        from confluent_kafka import Consumer

        # The client's own stubs are overloads the structural interface cannot spell; it is the reference.
        return cast(ConsumerClient, Consumer(self.settings(config)))

    def producer(self, config: Mapping[str, Any]) -> ProducerClient:
        from confluent_kafka import Producer

        return cast(ProducerClient, Producer(self.settings(config)))

    def admin(self) -> AdminClient:
        from confluent_kafka.admin import AdminClient as KafkaAdmin

        return cast(AdminClient, KafkaAdmin(self.settings({})))

    def registry(self) -> RegistryClient:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        return cast(RegistryClient, SchemaRegistryClient({"url": self.schema_registry_url, **self.registry_properties}))

    def describe(self) -> Sequence[tuple[str, str]]:
        return (("KAFKA_BROKER", self.kafka), ("SCHEMA_REGISTRY_URL", self.schema_registry_url))
