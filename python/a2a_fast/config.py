"""Protocol configuration: the limits every agent enforces, from a YAML file with built-in defaults.

A file only needs the keys it changes::

    messages:
      default_ttl_seconds: 300
      default_priority: NORMAL
      max_message_bytes: 1048576
    heartbeat:
      interval_seconds: 5
      timeout_seconds: 30
    mesh:
      max_agents: 1000
      routing_strategy: round_robin
    workflows:
      max_concurrent_sessions: 50
      default_timeout_seconds: 600
      retained_finished_sessions: 1000

Agents can write in Kafka transactions (off by default; ``a2a-fast agent --transactional`` turns it on for one
agent, see :mod:`a2a_fast.agents.base`)::

    transactions:
      enabled: true
      timeout_ms: 30000                  # the broker aborts a transaction left open this long (a dead agent's)
      wait_seconds: 10                   # how long a commit waits for a handler still running, at most

The same file can say how the process connects and signs (empty means unset; each key is also an environment
variable, which wins over the file: ``kafka.sasl_username`` is ``KAFKA_SASL_USERNAME``,
``schema_registry.ca_location`` is ``SCHEMA_REGISTRY_CA_LOCATION``; see :mod:`a2a_fast.transport.security`)::

    kafka:
      security_protocol: SASL_SSL        # PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
      sasl_mechanism: SCRAM-SHA-512      # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER
      sasl_username: provider
      sasl_password: ""                  # better from the environment, or a secret mounted as a variable
      ssl_ca_location: /etc/a2a/ca.pem
      ssl_certificate_location: ""       # client certificate and key, for mutual TLS
      ssl_key_location: ""
      ssl_key_password: ""
    schema_registry:
      basic_auth_user_info: ""           # user:password
      bearer_auth_token: ""
      ca_location: /etc/a2a/ca.pem
    signing:
      key: /etc/a2a/provider-1.key       # this agent's Ed25519 private key (PEM, PKCS#8)
      trusted_keys: /etc/a2a/mesh-keys.yaml
      required: true                     # refuse unsigned records

An unknown key, a wrong type or an out-of-range value raises :class:`~a2a_fast.errors.ConfigError` naming the
key (``heartbeat.timeout_seconds: must be greater than heartbeat.interval_seconds``), so a bad file fails
start-up instead of being half applied.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from a2a_fast.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "ExecutorConfig",
    "HeartbeatConfig",
    "KafkaClientConfig",
    "MeshConfig",
    "MessageConfig",
    "ProtocolConfig",
    "RegistryClientConfig",
    "SigningConfig",
    "TopicConfig",
    "TransactionConfig",
    "WorkflowConfig",
    "load_config",
    "load_named",
]

CONFIG_ENV = "A2A_FAST_CONFIG"
PRIORITIES = ("HIGH", "NORMAL", "LOW")
ROUTING_STRATEGIES = ("round_robin", "least_loaded")


@dataclass(frozen=True)
class MessageConfig:
    default_ttl_seconds: float = 300.0
    default_priority: str = "NORMAL"
    max_message_bytes: int = 1024 * 1024

    def check(self, section: str) -> None:
        _positive(section, "default_ttl_seconds", self.default_ttl_seconds)
        _positive(section, "max_message_bytes", self.max_message_bytes)
        if self.default_priority not in PRIORITIES:
            raise ConfigError(f"{section}.default_priority: must be one of {', '.join(PRIORITIES)}")


@dataclass(frozen=True)
class HeartbeatConfig:
    interval_seconds: float = 5.0
    timeout_seconds: float = 30.0

    def check(self, section: str) -> None:
        _positive(section, "interval_seconds", self.interval_seconds)
        _positive(section, "timeout_seconds", self.timeout_seconds)
        if self.timeout_seconds <= self.interval_seconds:
            raise ConfigError(f"{section}.timeout_seconds: must be greater than {section}.interval_seconds")


@dataclass(frozen=True)
class MeshConfig:
    max_agents: int = 1000
    routing_strategy: str = "round_robin"

    def check(self, section: str) -> None:
        _positive(section, "max_agents", self.max_agents)
        if self.routing_strategy not in ROUTING_STRATEGIES:
            raise ConfigError(f"{section}.routing_strategy: must be one of {', '.join(ROUTING_STRATEGIES)}")


@dataclass(frozen=True)
class WorkflowConfig:
    max_concurrent_sessions: int = 50
    default_timeout_seconds: float = 600.0
    # Ended sessions a coordinator keeps answering for; older ones are forgotten (the log still has them).
    retained_finished_sessions: int = 1000

    def check(self, section: str) -> None:
        _positive(section, "max_concurrent_sessions", self.max_concurrent_sessions)
        _positive(section, "default_timeout_seconds", self.default_timeout_seconds)
        _positive(section, "retained_finished_sessions", self.retained_finished_sessions)


@dataclass(frozen=True)
class ExecutorConfig:
    """An executor's circuit breaker: after ``failure_threshold`` tasks failed in a row it leaves its pool's
    consumer group for ``cooldown_seconds`` (healthy members take its partitions), then tries again."""

    failure_threshold: int = 5
    cooldown_seconds: float = 30.0

    def check(self, section: str) -> None:
        _positive(section, "failure_threshold", self.failure_threshold)
        _positive(section, "cooldown_seconds", self.cooldown_seconds)


@dataclass(frozen=True)
class TransactionConfig:
    """Agents writing in Kafka transactions (section ``transactions``): a handled record's outputs and its
    consumed offset are committed together, so a crash can neither lose nor double them. ``timeout_ms`` is the
    producer's ``transaction.timeout.ms``; ``wait_seconds`` bounds how long a commit waits for the handlers
    whose outputs it holds to finish (see :mod:`a2a_fast.agents.base`)."""

    enabled: bool = False
    timeout_ms: int = 30_000
    wait_seconds: float = 10.0

    def check(self, section: str) -> None:
        _positive(section, "timeout_ms", self.timeout_ms)
        _positive(section, "wait_seconds", self.wait_seconds)
        if self.wait_seconds * 1000 >= self.timeout_ms:
            raise ConfigError(f"{section}.wait_seconds: must be shorter than {section}.timeout_ms")


@dataclass(frozen=True)
class TopicConfig:
    """How the topics an agent creates are made; a topic that exists keeps its own settings. A consumer
    group has as many busy members as its topics have partitions, so ``partitions`` bounds scale-out."""

    partitions: int = 3
    replication_factor: int = 1

    def check(self, section: str) -> None:
        _positive(section, "partitions", self.partitions)
        _positive(section, "replication_factor", self.replication_factor)


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


@dataclass(frozen=True)
class KafkaClientConfig:
    """How every Kafka client of the process authenticates (section ``kafka``); ``""`` is unset. Secrets are
    left out of the ``repr``."""

    security_protocol: str = ""
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_ca_location: str = ""
    ssl_certificate_location: str = ""
    ssl_key_location: str = ""
    ssl_key_password: str = field(default="", repr=False)

    def check(self, section: str) -> None:
        _one_of(section, "security_protocol", self.security_protocol.upper(), SECURITY_PROTOCOLS)
        _one_of(section, "sasl_mechanism", self.sasl_mechanism.upper(), SASL_MECHANISMS)


@dataclass(frozen=True)
class RegistryClientConfig:
    """How the schema registry client authenticates (section ``schema_registry``); ``""`` is unset."""

    basic_auth_user_info: str = field(default="", repr=False)
    bearer_auth_token: str = field(default="", repr=False)
    bearer_auth_logical_cluster: str = ""
    bearer_auth_identity_pool_id: str = ""
    ca_location: str = ""
    ssl_certificate_location: str = ""
    ssl_key_location: str = ""

    def check(self, section: str) -> None:
        if self.basic_auth_user_info and ":" not in self.basic_auth_user_info:
            raise ConfigError(f"{section}.basic_auth_user_info: expected USER:PASSWORD")


@dataclass(frozen=True)
class SigningConfig:
    """Record signing (section ``signing``): this agent's private key, the public keys the mesh trusts, and
    whether unsigned records are refused. ``""`` is unset; see :mod:`a2a_fast.protocol.signing`."""

    key: str = ""
    trusted_keys: str = ""
    required: bool = False

    def check(self, section: str) -> None:
        """Whether the keys make sense together is checked once the environment is applied on top."""


@dataclass(frozen=True)
class ProtocolConfig:
    """All protocol limits; ``ProtocolConfig()`` is the built-in default."""

    messages: MessageConfig = field(default_factory=MessageConfig)
    heartbeat: HeartbeatConfig = field(default_factory=HeartbeatConfig)
    mesh: MeshConfig = field(default_factory=MeshConfig)
    workflows: WorkflowConfig = field(default_factory=WorkflowConfig)
    topics: TopicConfig = field(default_factory=TopicConfig)
    executors: ExecutorConfig = field(default_factory=ExecutorConfig)
    kafka: KafkaClientConfig = field(default_factory=KafkaClientConfig)
    schema_registry: RegistryClientConfig = field(default_factory=RegistryClientConfig)
    signing: SigningConfig = field(default_factory=SigningConfig)
    transactions: TransactionConfig = field(default_factory=TransactionConfig)

    @classmethod
    def from_mapping(cls, data: Any, source: str = "config") -> ProtocolConfig:
        """Builds a checked config from parsed YAML/JSON; missing keys keep their defaults."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the top level must be a mapping of sections")
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown section (known: {', '.join(sections)})")
        built = {}
        for name in sections:
            section_type = type(getattr(cls(), name))
            built[name] = _section(section_type, name, data.get(name))
        return cls(**built)


def load_named(spec: str, option: str) -> Any:
    """The object named by ``"package.module:NAME"`` on the command line (``option`` names the flag in errors).

    Modules are found on the import path and in the current directory, as ``python -m`` would find them.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"{option} {spec!r}: expected 'package.module:NAME'")
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.append(here)
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"{option} {spec!r}: {error}") from error


def load_config(path: str | os.PathLike[str] | None = None) -> ProtocolConfig:
    """Loads the protocol config from ``path``, else ``$A2A_FAST_CONFIG``, else the built-in defaults."""
    import yaml

    chosen = path or os.environ.get(CONFIG_ENV)
    if not chosen:
        return ProtocolConfig()
    file = Path(chosen)
    try:
        text = file.read_text()
    except OSError as error:
        raise ConfigError(f"{file}: cannot be read ({error.strerror})") from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: not valid YAML ({error})") from error
    return ProtocolConfig.from_mapping(data, str(file))


def _section(section_type: type[Any], section: str, data: Any) -> Any:
    if data is None:
        return section_type()
    if not isinstance(data, dict):
        raise ConfigError(f"{section}: must be a mapping")
    defaults = section_type()
    values = {}
    for f in dataclasses.fields(section_type):
        if f.name not in data:
            continue
        values[f.name] = _coerce(f"{section}.{f.name}", data[f.name], getattr(defaults, f.name), secret=not f.repr)
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(section_type)})
    if unknown:
        known = ", ".join(f.name for f in dataclasses.fields(section_type))
        raise ConfigError(f"{section}.{unknown[0]}: unknown key (known: {known})")
    built = section_type(**values)
    built.check(section)
    return built


def _coerce(key: str, value: Any, default: Any, secret: bool = False) -> Any:
    shown = "(value hidden)" if secret else repr(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {type(value).__name__} {shown}")
        return value
    if isinstance(default, str) and value is None:
        return ""  # `key:` with nothing after it, as YAML reads it
    # A whole number is a fine float; bool is an int subclass, but a YAML `true` where a number belongs is a mistake.
    accepted: tuple[type, ...] = (int, float) if isinstance(default, float) else (type(default),)
    if isinstance(value, bool) or not isinstance(value, accepted):
        raise ConfigError(f"{key}: expected {type(default).__name__}, got {type(value).__name__} {shown}")
    return type(default)(value)


def _one_of(section: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value and value not in allowed:
        raise ConfigError(f"{section}.{name}: must be one of {', '.join(allowed)}, got {value!r}")


def _positive(section: str, name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{section}.{name}: must be greater than 0, got {value}")
