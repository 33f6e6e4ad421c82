"""The transport to a real Kafka-API broker (Kafka, Redpanda) and a Confluent-compatible schema registry.

Every Kafka client and registry client of the package is made here, so the broker address, the client
properties every connection shares (security among them) and where librdkafka's own log goes are set in one
place, and so is the check that both services answer (:meth:`KafkaTransport.check_reachable`).

librdkafka logs to the ``a2a_fast.kafka`` logger: its warnings and errors only, a broker connection that
failed (the client reconnects by itself) as a warning, and a line repeated by the same client within a minute
at debug level, so a broker that is down is a line a minute per client rather than several a second.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from a2a_fast.errors import ConfigError, ServiceUnavailableError
from a2a_fast.redaction import redact
from a2a_fast.transport.base import AdminClient, ConsumerClient, ProducerClient, RegistryClient

__all__ = [
    "BROKER_SETTING",
    "KAFKA_LOG",
    "PROBE_SECONDS",
    "REGISTRY_SETTING",
    "KafkaTransport",
    "registry_unavailable",
]

KAFKA_LOG = logging.getLogger("a2a_fast.kafka")
"""librdkafka's own log lines (see the module docstring for their levels)."""

BROKER_SETTING = "KAFKA_BROKER"
REGISTRY_SETTING = "SCHEMA_REGISTRY_URL"
"""The settings that name the broker and the registry, for messages that say where an address came from."""

PROBE_SECONDS = 3.0
"""How long :meth:`KafkaTransport.check_reachable` waits for both services at most, by default."""

# librdkafka's syslog levels: 3 error, 4 warning, 5 notice, 6 info, 7 debug. Notices (broker connections
# coming and going, queue purges at close) are routine for an operator; warnings and errors are not.
_LIBRDKAFKA_LEVEL = 4
# Facilities of the lines about a broker connection that failed or of errors no callback took: the client
# retries by itself, so they warn; what fails for good reaches the caller as an error of its own.
_RECOVERABLE_FACILITIES = frozenset({"FAIL", "ERROR"})
_REPEAT_SECONDS = 60.0
_NUMBERS = re.compile(r"\d+")


class _ClientLog:
    """Where one client's librdkafka log lines go (the client calls :meth:`log` as it would a Logger's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logged: dict[str, float] = {}

    def log(self, level: int, message: str, *args: Any) -> None:
        text = message % args if args else message
        if level > logging.WARNING and args and args[0] in _RECOVERABLE_FACILITIES:
            level = logging.WARNING
        # The same line again but for counters and timings (reconnect attempts) is a repeat.
        shape = _NUMBERS.sub("#", text)
        now = time.monotonic()
        with self._lock:
            last = self._logged.get(shape)
            if last is not None and now - last < _REPEAT_SECONDS:
                level = logging.DEBUG
            else:
                if len(self._logged) > 1000:
                    self._logged.clear()
                self._logged[shape] = now
        KAFKA_LOG.log(level, "%s", redact(text))


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
        """The broker address (``kafka``)."""
        return self.kafka

    def settings(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The full librdkafka configuration of a client whose own properties are ``config``."""
        return {
            "bootstrap.servers": self.kafka,
            "logger": _ClientLog(),
            "log_level": _LIBRDKAFKA_LEVEL,
            **self.properties,
            **config,
        }

    def consumer(self, config: Mapping[str, Any]) -> ConsumerClient:
        """A ``confluent_kafka.Consumer``; the caller closes it."""
        from confluent_kafka import Consumer

        # The client's own stubs are overloads the structural interface cannot spell; it is the reference.
        return cast(ConsumerClient, Consumer(self.settings(config)))

    def producer(self, config: Mapping[str, Any]) -> ProducerClient:
        """A ``confluent_kafka.Producer``."""
        from confluent_kafka import Producer

        return cast(ProducerClient, Producer(self.settings(config)))

    def admin(self) -> AdminClient:
        """A ``confluent_kafka.admin.AdminClient``."""
        from confluent_kafka.admin import AdminClient as KafkaAdmin

        return cast(AdminClient, KafkaAdmin(self.settings({})))

    def registry(self) -> RegistryClient:
        """A ``SchemaRegistryClient``; the caller closes it. A URL that is no URL raises ConfigError."""
        return cast(RegistryClient, self._registry_client({}))

    def _registry_client(self, overrides: Mapping[str, Any]) -> Any:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        try:
            return SchemaRegistryClient({"url": self.schema_registry_url, **self.registry_properties, **overrides})
        except ValueError as error:
            url = redact(self.schema_registry_url)
            raise ConfigError(f"{REGISTRY_SETTING} {url!r}: {redact(str(error))}") from None

    def describe(self) -> Sequence[tuple[str, str]]:
        """The settings and the addresses they give (passwords masked)."""
        return ((BROKER_SETTING, redact(self.kafka)), (REGISTRY_SETTING, redact(self.schema_registry_url)))

    def check_reachable(self, timeout: float = PROBE_SECONDS, registry: bool = True) -> None:
        """Raises :class:`~a2a_fast.errors.ServiceUnavailableError`, naming the setting and the address, unless the
        broker answers a metadata request and (with ``registry``, and a registry set) the registry an HTTP
        request, within ``timeout`` seconds in all. A broker that refuses connections fails at once. Blocking.
        """
        deadline = time.monotonic() + timeout
        self._check_broker(timeout)
        if registry and self.schema_registry_url:
            self._check_registry(max(deadline - time.monotonic(), 0.5))

    def _check_broker(self, timeout: float) -> None:
        from confluent_kafka import KafkaError, KafkaException, Producer

        problems: list[KafkaError] = []
        # Quiet: what went wrong comes back through the error callback and is said once, below.
        probe = Producer(self.settings({"log_level": 0, "error_cb": problems.append}))
        deadline = time.monotonic() + timeout
        while True:
            try:
                # Short waits, so that errors reported meanwhile (all brokers down) end the wait early.
                probe.list_topics(timeout=min(0.25, max(deadline - time.monotonic(), 0.01)))
                return
            except KafkaException:
                pass
            probe.poll(0)
            hopeless = any(problem.code() == KafkaError._ALL_BROKERS_DOWN or problem.fatal() for problem in problems)
            if hopeless or time.monotonic() >= deadline:
                reason = _broker_reason(problems) or f"no answer within {timeout:g}s"
                raise ServiceUnavailableError("Kafka", self.kafka, BROKER_SETTING, reason)

    def _check_registry(self, timeout: float) -> None:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        client = self._registry_client({"timeout": timeout, "max.retries": 0})
        try:
            client.get_compatibility()  # GET /config: small, and answered by every compatible registry
        except SchemaRegistryError as error:
            # Any other answer means a registry is there: a missing subject, say. Not found means the URL is
            # not a registry's API root (every compatible registry serves /config).
            status = error.http_status_code
            if status >= 500 or status in (401, 403, 404):
                hint = " (is the URL the registry API's root?)" if status == 404 else ""
                said = f": {str(error.error_message)[:200]}" if error.error_message else ""
                reason = f"HTTP {status} for GET /config{hint}{said}"
                raise ServiceUnavailableError(
                    "the schema registry", self.schema_registry_url, REGISTRY_SETTING, reason
                ) from None
        except Exception as error:
            unavailable = registry_unavailable(error, self.schema_registry_url)
            if unavailable is None:
                raise
            raise unavailable from None
        finally:
            client.close()


def registry_unavailable(error: BaseException, url: str) -> ServiceUnavailableError | None:
    """The error to raise for ``error`` of the registry client at ``url``, when it failed before any HTTP
    answer came (refused, timed out, DNS, TLS); None for any other error."""
    # The HTTP library the registry client uses (httpx, or its successor httpx2) raises its TransportError.
    unanswered = isinstance(error, OSError) or any(
        kind.__name__ == "TransportError" and kind.__module__.partition(".")[0] in ("httpx", "httpx2")
        for kind in type(error).__mro__
    )
    if not unanswered:
        return None
    reason = re.sub(r"^\[Errno -?\d+\]\s*", "", str(error)) or type(error).__name__
    return ServiceUnavailableError("the schema registry", url, REGISTRY_SETTING, reason)


def _broker_reason(problems: Sequence[Any]) -> str:
    """What librdkafka said went wrong first, without its broker-name prefix and timing suffix ("" if nothing)."""
    from confluent_kafka import KafkaError

    specific = [problem for problem in problems if problem.code() != KafkaError._ALL_BROKERS_DOWN]
    if not (specific or problems):
        return ""
    text = str((specific or problems)[0].str())
    text = re.sub(r"^\S+/(?:bootstrap|\d+): ", "", text)
    return re.sub(r"\s*\(after \d+ms in state [^)]*\)", "", text)
