"""The transport to a real Kafka-API broker (Kafka, Redpanda) and a Confluent-compatible schema registry.

Every Kafka client and registry client of the package is made here, so the broker address, the client
properties every connection shares (security among them, :mod:`a2a_fast.transport.security`) and where
librdkafka's own log goes are set in one place.

:meth:`KafkaTransport.from_env` is the transport of this process as its environment and configuration describe
it (addresses, credentials, record signing keys); :meth:`KafkaTransport.check_reachable` proves at start-up that
both services answer and accept those credentials, and otherwise says in one line which setting and which address
failed, within seconds (:class:`~a2a_fast.errors.ServiceUnavailableError` for a service that does not answer).

librdkafka logs to the ``a2a_fast.kafka`` logger: its warnings and errors only, a broker connection that failed
(the client reconnects by itself) as a warning, and a line repeated by the same client within a minute at debug
level, so a broker that is down is a line a minute per client rather than several a second.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from a2a_fast.errors import ConfigError, ServiceUnavailableError, StackError
from a2a_fast.redaction import redact
from a2a_fast.transport.base import AdminClient, ConsumerClient, ProducerClient, RegistryClient
from a2a_fast.transport.security import ClientSecurity, split_userinfo

if TYPE_CHECKING:
    from confluent_kafka import KafkaError

    from a2a_fast.protocol.signing import RecordSigning

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

PROBE_SECONDS = 4.0
"""How long :meth:`KafkaTransport.check_reachable` waits for a service that does not answer, by default."""

# librdkafka's syslog levels: 3 error, 4 warning, 5 notice, 6 info, 7 debug. Notices (broker connections
# coming and going, queue purges at close) are routine for an operator; warnings and errors are not.
_LIBRDKAFKA_LEVEL = 4
# Facilities of the lines about a broker connection that failed or of errors no callback took: the client
# retries by itself, so they warn; what fails for good reaches the caller as an error of its own.
_RECOVERABLE_FACILITIES = frozenset({"FAIL", "ERROR"})
_REPEAT_SECONDS = 60.0
_NUMBERS = re.compile(r"\d+")
# librdkafka appends this to a broker handle's failure that repeats its last one; the line is still a repeat.
_SUPPRESSED = re.compile(r", \d+ identical error\(s\) suppressed")


class _ClientLog:
    """Where one client's librdkafka log lines go (the client calls :meth:`log` as it would a Logger's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logged: dict[str, float] = {}

    def log(self, level: int, message: str, *args: Any) -> None:
        text = message % args if args else message
        if level > logging.WARNING and args and args[0] in _RECOVERABLE_FACILITIES:
            level = logging.WARNING
        # The same line again but for counters and timings (reconnect attempts, the count of suppressed
        # repeats) is a repeat.
        shape = _NUMBERS.sub("#", _SUPPRESSED.sub("", text))
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

    ``security`` is how the clients authenticate (none by default); ``properties`` are further librdkafka
    properties every client gets, ``registry_properties`` further registry client settings. ``signing`` signs
    the records this process produces and checks those it reads (:mod:`a2a_fast.protocol.signing`); None
    neither signs nor checks. Credentials written into the registry URL move to the registry client's basic
    auth, so the URL can be shown and put into records.
    """

    kafka: str
    schema_registry_url: str = ""
    # Kept out of the repr: they may hold secrets.
    properties: Mapping[str, Any] = field(default_factory=dict, repr=False)
    registry_properties: Mapping[str, Any] = field(default_factory=dict, repr=False)
    security: ClientSecurity = field(default_factory=ClientSecurity)
    signing: RecordSigning | None = None

    def __post_init__(self) -> None:
        url, userinfo = split_userinfo(self.schema_registry_url)
        if userinfo is not None:
            object.__setattr__(self, "schema_registry_url", url)
            object.__setattr__(
                self, "registry_properties", {"basic.auth.user.info": userinfo, **self.registry_properties}
            )

    @classmethod
    def from_env(
        cls,
        kafka: str,
        schema_registry_url: str = "",
        *,
        config_file: str | os.PathLike[str] | None = None,
        kafka_config: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> KafkaTransport:
        """The transport to ``kafka`` and ``schema_registry_url`` with this process's security settings and
        signing keys, from the environment, the YAML config (``config_file``, else ``$A2A_FAST_CONFIG``) and the
        properties file (``kafka_config``, else ``$A2A_FAST_KAFKA_CONFIG``). Raises ConfigError naming a bad
        setting."""
        from a2a_fast.config import CONFIG_ENV, load_config
        from a2a_fast.protocol.signing import RecordSigning

        env = os.environ if environ is None else environ
        yaml_file = config_file or env.get(CONFIG_ENV)
        protocol = load_config(yaml_file) if yaml_file else None
        try:
            security = ClientSecurity.load(
                environ=env, config_file=yaml_file, kafka_config=kafka_config, protocol=protocol
            )
        except ConfigError as error:
            where = f"Kafka at {kafka}" + (f", the registry at {schema_registry_url}" if schema_registry_url else "")
            raise ConfigError(f"{error} (for {where})") from None
        url, _ = split_userinfo(schema_registry_url)
        security.check_registry_url(url)
        signing = RecordSigning.load(environ=env, protocol=protocol, source=str(yaml_file or ""))
        return cls(kafka, schema_registry_url, security=security, signing=signing)

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
            **self.security.kafka_properties(),
            **self.properties,
            **config,
        }

    def registry_settings(self) -> dict[str, Any]:
        """The registry client's configuration."""
        return {"url": self.schema_registry_url, **self.security.registry_properties(), **self.registry_properties}

    def consumer(self, config: Mapping[str, Any]) -> ConsumerClient:
        """A ``confluent_kafka.Consumer``; the caller closes it."""
        from confluent_kafka import Consumer

        # The client's own stubs are overloads the structural interface cannot spell; it is the reference.
        return cast(ConsumerClient, self._client(Consumer, self.settings(config)))

    def producer(self, config: Mapping[str, Any]) -> ProducerClient:
        """A ``confluent_kafka.Producer``."""
        from confluent_kafka import Producer

        return cast(ProducerClient, self._client(Producer, self.settings(config)))

    def admin(self) -> AdminClient:
        """A ``confluent_kafka.admin.AdminClient``."""
        from confluent_kafka.admin import AdminClient as KafkaAdmin

        return cast(AdminClient, self._client(KafkaAdmin, self.settings({})))

    def registry(self) -> RegistryClient:
        """A ``SchemaRegistryClient``; the caller closes it. A URL that is no URL raises ConfigError."""
        from confluent_kafka.schema_registry import SchemaRegistryClient

        try:
            return cast(RegistryClient, SchemaRegistryClient(self.registry_settings()))
        except (ValueError, TypeError) as error:
            url = redact(self.schema_registry_url)
            raise ConfigError(f"{REGISTRY_SETTING} {url!r}: {redact(str(error))}") from None

    def _client(self, factory: Callable[[dict[str, Any]], Any], settings: dict[str, Any]) -> Any:
        """A librdkafka client; a property it refuses is a ConfigError naming where the property was set."""
        from confluent_kafka import KafkaException

        try:
            return factory(settings)
        except KafkaException as error:
            raise ConfigError(self._config_problem(str(error.args[0].str()))) from None

    def _config_problem(self, detail: str) -> str:
        for name in (*self.security.kafka, *self.properties):
            if f'"{name}"' in detail or f"{name} " in detail or detail.startswith(name):
                return redact(f"{self.security.source(name)}: {detail}")
        return redact(f"Kafka client settings: {detail}")

    def describe(self) -> Sequence[tuple[str, str]]:
        """The settings and the addresses they give (passwords masked)."""
        return ((BROKER_SETTING, redact(self.kafka)), (REGISTRY_SETTING, redact(self.schema_registry_url)))

    # --- start-up check -------------------------------------------------------------------------------------------

    def check_reachable(self, timeout: float = PROBE_SECONDS, registry: bool = True) -> None:
        """Returns once the broker answers a metadata request with these credentials, and (with ``registry``, when
        one is set) the registry a list of subjects; otherwise raises StackError with one line naming the setting
        and the address at fault (:class:`~a2a_fast.errors.ServiceUnavailableError` when a service does not
        answer). Blocking.

        A broker that refuses connections, a refused password, an untrusted certificate or a protocol the
        listener does not speak fail at once (as soon as the client knows); a service that does not answer
        fails after ``timeout`` seconds."""
        self._check_kafka(timeout)
        if registry and self.schema_registry_url:
            self._check_registry(timeout)

    def _check_kafka(self, timeout: float) -> None:
        from confluent_kafka import KafkaError, KafkaException

        seen: list[KafkaError] = []
        lines = _Lines()
        # The client's own account of each connection goes to a logger of this check alone: what goes wrong is
        # said once, in the one line raised, not in the client's retries on stderr.
        admin = self._client(
            _admin_client,
            self.settings({"error_cb": seen.append, "logger": lines.logger, "log_level": 6}),
        )
        deadline = time.monotonic() + timeout
        last: KafkaError | None = None
        while True:
            remaining = deadline - time.monotonic()
            try:
                admin.list_topics(timeout=max(0.1, min(1.0, remaining)))
                return
            except KafkaException as error:
                last = error.args[0]
            admin.poll(0.1)  # serves the error and log callbacks
            said = [error.str() for error in seen] + lines.messages
            problem = self._kafka_problem(said)
            if problem is not None:
                raise StackError(redact(problem))
            hopeless = any(error.code() == KafkaError._ALL_BROKERS_DOWN or error.fatal() for error in seen)
            if hopeless or time.monotonic() >= deadline:
                reason = _broker_reason(seen) or (last.str() if last is not None else f"no answer within {timeout:g}s")
                raise ServiceUnavailableError("Kafka", self.kafka, BROKER_SETTING, reason)

    def _kafka_problem(self, said: Sequence[str]) -> str | None:
        """The line to stop with when what the client said (errors and log lines) already shows the connection
        cannot work; None while a broker that does not answer yet might still."""
        security = self.security
        closed_early = 0
        for text in said:
            lowered = text.lower()
            detail = _client_detail(text)
            if "unsupported sasl mechanism" in lowered:
                return f"Kafka at {self.kafka} does not offer {security.shown('sasl.mechanism')}: {detail}"
            if "sasl authentication" in lowered or "authentication failed" in lowered:
                return (
                    f"Kafka at {self.kafka} refused the credentials {security.shown('sasl.username')} and "
                    f"{security.source('sasl.password')} ({security.shown('sasl.mechanism')}): {detail}"
                )
            if "certificate verify failed" in lowered or "certificate could not be verified" in lowered:
                return (
                    f"cannot verify the TLS certificate of Kafka at {self.kafka} with "
                    f"{security.shown('ssl.ca.location')}: {detail}"
                )
            if "alert bad certificate" in lowered or "certificate required" in lowered:
                return (
                    f"Kafka at {self.kafka} refused this client's certificate "
                    f"({security.shown('ssl.certificate.location')}): {detail}"
                )
            if "ssl handshake failed" in lowered:
                return (
                    f"TLS handshake with Kafka at {self.kafka} failed ({security.shown('security.protocol')}, "
                    f"{security.shown('ssl.ca.location')}): {detail}"
                )
            if "ssl connection closed by peer" in lowered and security.protocol == "SSL":
                return (
                    f"Kafka at {self.kafka} closed the TLS connection unanswered: the listener may want SASL "
                    f"credentials ({security.shown('security.protocol')}): {detail}"
                )
            if "incorrect security.protocol" in lowered or (
                "closed by peer" in lowered and "apiversion_query" in lowered
            ):
                closed_early += 1
        if closed_early >= 2:
            expects = "TLS" if security.protocol in ("PLAINTEXT", "SASL_PLAINTEXT") else "another protocol"
            return (
                f"Kafka at {self.kafka} closes every connection before answering: the listener may want {expects} "
                f"({security.shown('security.protocol')})"
            )
        return None

    def _check_registry(self, timeout: float) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        url, security = self.schema_registry_url, self.security
        settings = {**self.registry_settings(), "max.retries": 0, "timeout": timeout}
        try:
            client = SchemaRegistryClient(settings)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"schema registry client settings: {redact(str(error))}") from None
        try:
            client.get_subjects()
        except SchemaRegistryError as error:
            status = error.http_status_code
            said = f"HTTP {status}" + (
                f": {error.error_message}" if not str(error.error_message).startswith("Unknown Schema") else ""
            )
            if status in (401, 403):
                settings = {**security.registry, **self.registry_properties}
                name = "bearer.auth.token" if "bearer.auth.token" in settings else "basic.auth.user.info"
                # Credentials written into the URL are the registry client's own settings, not a variable's.
                shown = security.shown(name, True) if name in security.registry else f"of {REGISTRY_SETTING}"
                if name not in settings:
                    problem = f"requires credentials: {security.source(name, True)} is not set"
                elif status == 401:
                    problem = f"refused the credentials {shown}"
                else:
                    problem = f"denied access to {shown}"
                raise StackError(redact(f"the schema registry at {url} {problem} ({said})")) from None
            # Any other answer means a registry is there; not found means the URL is not a registry API's root.
            hint = " (is the URL the registry API's root?)" if status == 404 else ""
            raise ServiceUnavailableError("the schema registry", url, REGISTRY_SETTING, f"{said}{hint}") from None
        except StackError:
            raise
        except Exception as error:
            detail = " ".join(str(error).split()) or type(error).__name__
            if "CERTIFICATE_VERIFY_FAILED" in detail or "certificate verify failed" in detail:
                raise StackError(
                    redact(
                        f"cannot verify the TLS certificate of the schema registry at {url} with "
                        f"{security.shown('ssl.ca.location', True)}: {detail}"
                    )
                ) from None
            unavailable = registry_unavailable(error, url)
            if unavailable is None:
                raise
            raise unavailable from None
        finally:
            client.close()


class _Lines(logging.Handler):
    """The log lines of one client, kept to read what its connections went through."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.logger = logging.Logger("a2a_fast.kafka.check")  # not in the hierarchy: nothing propagates
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.messages) < 200:
            self.messages.append(record.getMessage())


def _client_detail(text: str) -> str:
    """A client log line without its facility and thread prefix (``FAIL [rdkafka#producer-1] [thrd:...]: ``)."""
    marker = "]: "
    return text.rsplit(marker, 1)[-1] if text.startswith(("FAIL", "ERROR", "SSL")) and marker in text else text


def _admin_client(settings: dict[str, Any]) -> Any:
    from confluent_kafka.admin import AdminClient as KafkaAdmin

    return KafkaAdmin(settings)


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
