"""The local stack: a Kafka broker and a Confluent-compatible schema registry on loopback.

``a2a-fast stack up|down|status`` drives it from the shell; tests and the demo call :func:`ensure_up`.
``KAFKA_BROKER`` and ``SCHEMA_REGISTRY_URL`` point at an external stack instead (Redpanda, a Kafka
cluster, Confluent Schema Registry): a component named there is used as it is and never started here.

``LocalStack(secure=True)`` (``a2a-fast stack up --secure``) is the secured stack of :mod:`a2a_fast.stack.secure`:
its own ports (29092 SASL_SSL, 29094 mutual TLS, 29093 controller, 28081 HTTPS registry) and state
(``state-secure``), so it runs beside the plain one; :meth:`LocalStack.environment` gives the variables a client
needs to use it.

``LocalStack(brokers=3)`` (``a2a-fast stack up --brokers 3``) is a replicated cluster as production runs one:
three KRaft nodes on loopback (39092-39094, controllers 39192-39194, registry 38081, state ``state-cluster``)
whose topics are replicated three times with ``min.insync.replicas=2``; producers here use ``acks=all``, so an
acknowledged record survives the loss of any one node. Agents create their topics with
``topics.replication_factor`` of their config: set it to 3 for the cluster. The demo keeps its single broker.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from a2a_fast.errors import StackError
from a2a_fast.stack.artifacts import cache_dir
from a2a_fast.stack.services import ClusterBroker, KafkaBroker, SchemaRegistry, Service, ServiceStatus
from a2a_fast.transport.kafka import KafkaTransport

__all__ = ["Endpoints", "LocalStack", "ServiceStatus", "ensure_up", "export_lines"]

KAFKA_BROKER_ENV = "KAFKA_BROKER"
SCHEMA_REGISTRY_ENV = "SCHEMA_REGISTRY_URL"
KAFKA_PORT_ENV = "A2A_FAST_KAFKA_PORT"
CONTROLLER_PORT_ENV = "A2A_FAST_CONTROLLER_PORT"
REGISTRY_PORT_ENV = "A2A_FAST_REGISTRY_PORT"
SECURE_KAFKA_PORT_ENV = "A2A_FAST_SECURE_KAFKA_PORT"
SECURE_MTLS_PORT_ENV = "A2A_FAST_SECURE_MTLS_PORT"
SECURE_CONTROLLER_PORT_ENV = "A2A_FAST_SECURE_CONTROLLER_PORT"
SECURE_REGISTRY_PORT_ENV = "A2A_FAST_SECURE_REGISTRY_PORT"


def _port(env: str, given: int | None, default: int) -> int:
    """A port given by the caller, else by the environment variable ``env``, else the default."""
    if given is not None:
        return given
    raw = os.environ.get(env)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise StackError(f"{env} must be a port number from 1 to 65535, not {raw!r}")
    return port


@dataclass(frozen=True)
class Endpoints:
    """Where agents connect: a Kafka bootstrap address and a schema registry base URL."""

    kafka: str
    schema_registry: str

    @classmethod
    def from_env(cls) -> Endpoints:
        """``KAFKA_BROKER`` and ``SCHEMA_REGISTRY_URL``, else the local stack's addresses (never started here)."""
        stack = LocalStack()
        return cls(
            kafka=os.environ.get(KAFKA_BROKER_ENV) or stack.kafka.address,
            schema_registry=os.environ.get(SCHEMA_REGISTRY_ENV) or stack.registry.address,
        )

    def transport(self) -> KafkaTransport:
        """The transport to these endpoints, with this process's security settings and signing keys."""
        return KafkaTransport.from_env(self.kafka, self.schema_registry)

    def check_reachable(self, registry: bool = True) -> Endpoints:
        """These endpoints, once the broker and (with ``registry``) the registry answered; else
        :class:`~a2a_fast.errors.ServiceUnavailableError` naming the setting and the address, within seconds."""
        self.transport().check_reachable(registry=registry)
        return self


class LocalStack:
    """The broker and registry that a2a-fast runs itself, with their state under one folder.

    Ports not given here come from ``A2A_FAST_KAFKA_PORT``, ``A2A_FAST_CONTROLLER_PORT`` and
    ``A2A_FAST_REGISTRY_PORT``, else 19092, 19093 and 18081. The secured stack's come from
    ``A2A_FAST_SECURE_KAFKA_PORT``, ``A2A_FAST_SECURE_MTLS_PORT``, ``A2A_FAST_SECURE_CONTROLLER_PORT`` and
    ``A2A_FAST_SECURE_REGISTRY_PORT``, else 29092, 29094, 29093 and 28081; it ignores ``KAFKA_BROKER`` and
    ``SCHEMA_REGISTRY_URL`` (which a shell using it has pointed at it).
    """

    kafka: KafkaBroker
    registry: SchemaRegistry

    def __init__(
        self,
        state_dir: Path | None = None,
        kafka_port: int | None = None,
        controller_port: int | None = None,
        registry_port: int | None = None,
        *,
        secure: bool = False,
        mtls_port: int | None = None,
        brokers: int = 1,
    ) -> None:
        self.secure = secure
        self.brokers: list[KafkaBroker] = []
        if brokers not in (1, 3):
            raise StackError(f"--brokers: the local stack runs 1 or 3 brokers, not {brokers}")
        if brokers > 1:
            if secure:
                raise StackError("--brokers 3 is a plain cluster: leave out --secure")
            self.state_dir = state_dir or cache_dir() / "state-cluster"
            base, controllers = kafka_port or 39092, controller_port or 39192
            ports = [base + n for n in range(brokers)]
            controller_ports = [controllers + n for n in range(brokers)]
            self.brokers = [
                ClusterBroker(self.state_dir, node, ports, controller_ports) for node in range(1, brokers + 1)
            ]
            self.kafka = self.brokers[0]
            self.registry = SchemaRegistry(self.state_dir, registry_port or 38081)
            return
        if secure:
            from a2a_fast.stack.secure import SecureKafkaBroker, SecureSchemaRegistry, secure_files

            self.state_dir = state_dir or cache_dir() / "state-secure"
            credentials, tls = secure_files(self.state_dir)
            self.kafka = SecureKafkaBroker(
                self.state_dir,
                _port(SECURE_KAFKA_PORT_ENV, kafka_port, 29092),
                _port(SECURE_CONTROLLER_PORT_ENV, controller_port, 29093),
                _port(SECURE_MTLS_PORT_ENV, mtls_port, 29094),
                credentials,
                tls,
            )
            self.registry = SecureSchemaRegistry(
                self.state_dir, _port(SECURE_REGISTRY_PORT_ENV, registry_port, 28081), credentials, tls
            )
            return
        self.state_dir = state_dir or cache_dir() / "state"
        self.kafka = KafkaBroker(
            self.state_dir,
            _port(KAFKA_PORT_ENV, kafka_port, 19092),
            _port(CONTROLLER_PORT_ENV, controller_port, 19093),
        )
        self.registry = SchemaRegistry(self.state_dir, _port(REGISTRY_PORT_ENV, registry_port, 18081))

    @property
    def bootstrap(self) -> str:
        """The brokers' addresses, comma-separated."""
        return ",".join(broker.address for broker in self.brokers) if self.brokers else self.kafka.address

    def _managed(self) -> list[tuple[Service, str | None]]:
        if self.brokers:
            return [*((broker, None) for broker in self.brokers), (self.registry, None)]
        if self.secure:
            return [(self.kafka, None), (self.registry, None)]
        return [
            (self.kafka, os.environ.get(KAFKA_BROKER_ENV)),
            (self.registry, os.environ.get(SCHEMA_REGISTRY_ENV)),
        ]

    def up(self) -> list[ServiceStatus]:
        """Starts what is not external and not yet running; returns each component's status."""
        if self.brokers:
            # a KRaft quorum forms only once a majority of its nodes run: start them all, then wait
            launched = [broker.launch() for broker in self.brokers]
            try:
                for broker, process in zip(self.brokers, launched, strict=True):
                    broker.wait_ready(process)
            except StackError:
                self.down()
                raise
            return [*(broker.status() for broker in self.brokers), self.registry.start()]
        return [
            ServiceStatus(service.name, external, "external") if external else service.start()
            for service, external in self._managed()
        ]

    def down(self, only: list[str] | None = None, patience: float = 45.0) -> list[str]:
        """Stops what ``up`` started (never an external or foreign process); names what it stopped.

        ``only`` limits it to the named services, e.g. those a test session started itself; a service still
        running ``patience`` seconds after it was asked to stop is killed.
        """
        return [
            service.name
            for service, _ in reversed(self._managed())
            if (only is None or service.name in only) and service.stop(patience)
        ]

    def status(self) -> list[ServiceStatus]:
        return [
            ServiceStatus(service.name, external, "external") if external else service.status()
            for service, external in self._managed()
        ]

    def endpoints(self) -> Endpoints:
        if self.brokers:
            return Endpoints(self.bootstrap, self.registry.address)
        if self.secure:
            return Endpoints(self.kafka.address, self.registry.address)
        return Endpoints.from_env()

    def environment(self, user: str = "admin", mtls: bool = False) -> dict[str, str]:
        """The variables a client needs to use this stack as ``user``: over SASL_SSL with the user's SCRAM
        password, or with ``mtls`` over mutual TLS with the user's certificate. An empty value means unset."""
        from a2a_fast.stack.secure import REGISTRY_USER, SecureKafkaBroker, SecureSchemaRegistry

        if not self.secure:
            return {KAFKA_BROKER_ENV: self.bootstrap, SCHEMA_REGISTRY_ENV: self.registry.address}
        kafka, registry = self.kafka, self.registry
        assert isinstance(kafka, SecureKafkaBroker) and isinstance(registry, SecureSchemaRegistry)
        if user not in kafka.credentials.kafka:
            raise StackError(f"the secured stack has no user {user!r} (users: {', '.join(kafka.credentials.kafka)})")
        tls = kafka.tls
        sasl = {
            "KAFKA_SASL_MECHANISM": "" if mtls else "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "" if mtls else user,
            "KAFKA_SASL_PASSWORD": "" if mtls else kafka.credentials.kafka[user],
        }
        return {
            KAFKA_BROKER_ENV: kafka.mtls_address if mtls else kafka.address,
            "KAFKA_SECURITY_PROTOCOL": "SSL" if mtls else "SASL_SSL",
            **sasl,
            "KAFKA_SSL_CA_LOCATION": str(tls.ca),
            "KAFKA_SSL_CERTIFICATE_LOCATION": str(tls.client_certificate(user)) if mtls else "",
            "KAFKA_SSL_KEY_LOCATION": str(tls.client_key(user)) if mtls else "",
            SCHEMA_REGISTRY_ENV: registry.address,
            "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": f"{REGISTRY_USER}:{registry.credentials.registry[REGISTRY_USER]}",
            "SCHEMA_REGISTRY_CA_LOCATION": str(tls.ca),
        }


def export_lines(environment: dict[str, str]) -> list[str]:
    """Shell lines that set (or unset, when empty) each variable."""
    return [f"export {name}={shlex.quote(value)}" if value else f"unset {name}" for name, value in environment.items()]


def ensure_up(stack: LocalStack | None = None) -> tuple[Endpoints, list[str]]:
    """Brings the stack up if needed; returns the endpoints and the names of the services started now."""
    stack = stack or LocalStack()
    before = {s.name for s in stack.status() if s.state == "running"}
    after = stack.up()
    started = [s.name for s in after if s.state == "running" and s.name not in before]
    return stack.endpoints(), started
