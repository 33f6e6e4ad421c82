"""Client security: how every Kafka and registry client of this process authenticates, defined in one place.

Settings come from three sources, a later one winning over an earlier one:

1. a librdkafka properties file, ``--kafka-config FILE`` or ``A2A_FAST_KAFKA_CONFIG``: ``name=value`` lines
   (``#`` and ``!`` start comments), any librdkafka property (``sasl.oauthbearer.*``,
   ``ssl.endpoint.identification.algorithm``...), and the registry client's own settings prefixed
   ``schema.registry.`` (``schema.registry.basic.auth.user.info=...``);
2. the sections ``kafka`` and ``schema_registry`` of the YAML config (``A2A_FAST_CONFIG``, or ``--config``);
3. the environment:

   ============================================  ==========================================
   variable                                      client setting
   ============================================  ==========================================
   ``KAFKA_SECURITY_PROTOCOL``                   ``security.protocol`` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)
   ``KAFKA_SASL_MECHANISM``                      ``sasl.mechanism`` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)
   ``KAFKA_SASL_USERNAME``, ``_PASSWORD``        ``sasl.username``, ``sasl.password``
   ``KAFKA_SSL_CA_LOCATION``                     ``ssl.ca.location``
   ``KAFKA_SSL_CERTIFICATE_LOCATION``, ``_KEY_``  ``ssl.certificate.location``, ``ssl.key.location`` (mutual TLS)
   ``KAFKA_SSL_KEY_PASSWORD``                    ``ssl.key.password``
   ``SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO``      ``basic.auth.user.info`` (``user:password``)
   ``SCHEMA_REGISTRY_BEARER_AUTH_TOKEN``         ``bearer.auth.token`` (a static token)
   ``SCHEMA_REGISTRY_CA_LOCATION``               ``ssl.ca.location`` of the registry client
   ============================================  ==========================================

The YAML keys are the variables' names in lower case without their prefix (``kafka.sasl_username``,
``schema_registry.ca_location``). The result is checked as a whole when it is loaded: a mechanism without its
credentials, credentials or certificates the protocol would not use, a file that cannot be read, are each a
:class:`~a2a_fast.errors.ConfigError` naming the setting where it came from. Every secret loaded is handed to
:func:`a2a_fast.redaction.remember`, so it never appears in a log line, a dead letter or an error.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from a2a_fast.config import (
    CONFIG_ENV,
    SASL_MECHANISMS,
    SECURITY_PROTOCOLS,
    KafkaClientConfig,
    ProtocolConfig,
    load_config,
)
from a2a_fast.errors import ConfigError
from a2a_fast.redaction import remember

__all__ = [
    "KAFKA_CONFIG_ENV",
    "KAFKA_ENV",
    "REGISTRY_ENV",
    "SECRET_PROPERTIES",
    "ClientSecurity",
    "Setting",
    "read_properties",
    "split_userinfo",
]

KAFKA_CONFIG_ENV = "A2A_FAST_KAFKA_CONFIG"
"""The librdkafka properties file every client of the process reads (what ``--kafka-config`` sets)."""

KAFKA_ENV: dict[str, str] = {
    "security.protocol": "KAFKA_SECURITY_PROTOCOL",
    "sasl.mechanism": "KAFKA_SASL_MECHANISM",
    "sasl.username": "KAFKA_SASL_USERNAME",
    "sasl.password": "KAFKA_SASL_PASSWORD",
    "ssl.ca.location": "KAFKA_SSL_CA_LOCATION",
    "ssl.certificate.location": "KAFKA_SSL_CERTIFICATE_LOCATION",
    "ssl.key.location": "KAFKA_SSL_KEY_LOCATION",
    "ssl.key.password": "KAFKA_SSL_KEY_PASSWORD",
}
"""librdkafka property → the environment variable that sets it."""

REGISTRY_ENV: dict[str, str] = {
    "basic.auth.user.info": "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
    "bearer.auth.token": "SCHEMA_REGISTRY_BEARER_AUTH_TOKEN",
    "bearer.auth.logical.cluster": "SCHEMA_REGISTRY_BEARER_AUTH_LOGICAL_CLUSTER",
    "bearer.auth.identity.pool.id": "SCHEMA_REGISTRY_BEARER_AUTH_IDENTITY_POOL_ID",
    "ssl.ca.location": "SCHEMA_REGISTRY_CA_LOCATION",
    "ssl.certificate.location": "SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION",
    "ssl.key.location": "SCHEMA_REGISTRY_SSL_KEY_LOCATION",
}
"""Registry client setting → the environment variable that sets it."""

_KAFKA_YAML = {field.name: field.name.replace("_", ".") for field in fields(KafkaClientConfig)}
_REGISTRY_YAML = {
    "basic_auth_user_info": "basic.auth.user.info",
    "bearer_auth_token": "bearer.auth.token",
    "bearer_auth_logical_cluster": "bearer.auth.logical.cluster",
    "bearer_auth_identity_pool_id": "bearer.auth.identity.pool.id",
    "ca_location": "ssl.ca.location",
    "ssl_certificate_location": "ssl.certificate.location",
    "ssl_key_location": "ssl.key.location",
}

SECRET_PROPERTIES = frozenset(
    {
        "sasl.password",
        "ssl.key.password",
        "ssl.key.pem",
        "ssl.keystore.password",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.config",
        "basic.auth.user.info",
        "bearer.auth.token",
        "bearer.auth.client.secret",
    }
)
"""Settings whose values are secrets: never shown, always redacted."""

_REGISTRY_PREFIX = "schema.registry."
_PLACED_ELSEWHERE = {
    "bootstrap.servers": "the broker's address comes from KAFKA_BROKER",
    "schema.registry.url": "the registry's address comes from SCHEMA_REGISTRY_URL",
    "group.id": "each client of an agent sets its own consumer group",
    "sasl.jaas.config": "that is a Java client setting; librdkafka takes sasl.username and sasl.password",
}
_ALIASES = {"sasl.mechanisms": "sasl.mechanism"}
_FILE_SETTINGS = ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location")


@dataclass(frozen=True, slots=True)
class Setting:
    """One client setting's value and where it was set, for messages (``KAFKA_SASL_USERNAME``,
    ``kafka.sasl_username in /etc/a2a/config.yaml``, ``sasl.username in client.properties``)."""

    value: str
    source: str

    def __repr__(self) -> str:
        return f"Setting(source={self.source!r})"


def read_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``name=value`` (or ``name: value``) lines of a properties file; ``#`` and ``!`` lines are comments."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"--kafka-config {file}: cannot be read ({error.strerror})") from error
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((at for at in (line.find("="), line.find(":")) if at > 0), default=-1)
        if cut < 0:
            raise ConfigError(f"--kafka-config {file}, line {number}: expected NAME=VALUE")
        found[line[:cut].strip()] = line[cut + 1 :].strip()
    return found


def split_userinfo(url: str) -> tuple[str, str | None]:
    """``(url without credentials, "user:password" or None)``: credentials written into a registry URL are
    moved to the client's basic auth, so the URL can be shown, logged and put into records."""
    if "@" not in url:
        return url, None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    userinfo = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    remember(userinfo, unquote(parts.password or ""), f"{parts.username}:{parts.password}")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), userinfo


class ClientSecurity:
    """The merged, checked client settings; see the module docstring. ``ClientSecurity()`` is no security at
    all (PLAINTEXT, anonymous registry)."""

    def __init__(
        self, kafka: Mapping[str, Setting] | None = None, registry: Mapping[str, Setting] | None = None
    ) -> None:
        self.kafka: dict[str, Setting] = dict(kafka or {})
        self.registry: dict[str, Setting] = dict(registry or {})

    @classmethod
    def load(
        cls,
        *,
        environ: Mapping[str, str] | None = None,
        config_file: str | os.PathLike[str] | None = None,
        kafka_config: str | os.PathLike[str] | None = None,
        protocol: ProtocolConfig | None = None,
    ) -> ClientSecurity:
        """The settings of this process: the properties file (``kafka_config``, else ``$A2A_FAST_KAFKA_CONFIG``),
        the YAML config (``protocol`` as loaded from ``config_file``, else ``$A2A_FAST_CONFIG``) and the
        environment, checked. Raises ConfigError naming the setting at fault."""
        env = os.environ if environ is None else environ
        kafka: dict[str, Setting] = {}
        registry: dict[str, Setting] = {}
        properties_file = kafka_config or env.get(KAFKA_CONFIG_ENV)
        if properties_file:
            for name, value in read_properties(properties_file).items():
                name = _ALIASES.get(name, name)
                where = f"{name} in {properties_file}"
                if name in _PLACED_ELSEWHERE:
                    raise ConfigError(f"--kafka-config {properties_file}: {name}: {_PLACED_ELSEWHERE[name]}")
                if name.startswith(_REGISTRY_PREFIX):
                    registry[name.removeprefix(_REGISTRY_PREFIX)] = Setting(value, where)
                else:
                    kafka[name] = Setting(value, where)
        yaml_file = config_file or env.get(CONFIG_ENV)
        if protocol is None and yaml_file:
            protocol = load_config(yaml_file)
        if protocol is not None:
            where = f" in {yaml_file}" if yaml_file else ""
            for key, name in _KAFKA_YAML.items():
                if value := getattr(protocol.kafka, key):
                    kafka[name] = Setting(value, f"kafka.{key}{where}")
            for key, name in _REGISTRY_YAML.items():
                if value := getattr(protocol.schema_registry, key):
                    registry[name] = Setting(value, f"schema_registry.{key}{where}")
        for name, variable in KAFKA_ENV.items():
            if given := env.get(variable):
                kafka[name] = Setting(given, variable)
        for name, variable in REGISTRY_ENV.items():
            if given := env.get(variable):
                registry[name] = Setting(given, variable)
        security = cls(kafka, registry)
        security.check()
        return security

    # --- what the clients get ----------------------------------------------------------------------------------

    @property
    def protocol(self) -> str:
        """``security.protocol``, PLAINTEXT when unset."""
        found = self.kafka.get("security.protocol")
        return found.value.upper() if found else "PLAINTEXT"

    @property
    def mechanism(self) -> str | None:
        found = self.kafka.get("sasl.mechanism")
        return found.value.upper() if found else None

    def kafka_properties(self) -> dict[str, str]:
        """The librdkafka properties every Kafka client gets."""
        properties = {name: setting.value for name, setting in self.kafka.items()}
        for name in ("security.protocol", "sasl.mechanism"):
            if name in properties:
                properties[name] = properties[name].upper()
        return properties

    def registry_properties(self) -> dict[str, str]:
        """The registry client's own settings (``basic.auth.user.info``, ``ssl.ca.location``...)."""
        properties = {name: setting.value for name, setting in self.registry.items()}
        if "bearer.auth.token" in properties:
            properties.setdefault("bearer.auth.credentials.source", "STATIC_TOKEN")
            # The client requires a logical cluster with a token; registries other than Confluent Cloud ignore it.
            properties.setdefault("bearer.auth.logical.cluster", "")
        return properties

    def source(self, name: str, registry: bool = False) -> str:
        """Where setting ``name`` came from; for one that is unset, the variable that would set it."""
        found = (self.registry if registry else self.kafka).get(name)
        if found is not None:
            return found.source
        return (REGISTRY_ENV if registry else KAFKA_ENV).get(name, name)

    def shown(self, name: str, registry: bool = False) -> str:
        """``SOURCE=value`` for messages, the value hidden when it is a secret."""
        found = (self.registry if registry else self.kafka).get(name)
        if found is None:
            return f"{self.source(name, registry)} (not set)"
        value = "(hidden)" if name in SECRET_PROPERTIES else found.value
        return f"{found.source}={value}"

    def secrets(self) -> list[str]:
        out = []
        for settings in (self.kafka, self.registry):
            out += [setting.value for name, setting in settings.items() if name in SECRET_PROPERTIES]
        return out

    def __repr__(self) -> str:
        names = ", ".join(sorted({*self.kafka, *(_REGISTRY_PREFIX + name for name in self.registry)}))
        return f"ClientSecurity({self.protocol}; set: {names or 'nothing'})"

    # --- checks ---------------------------------------------------------------------------------------------------

    def check(self) -> None:
        """Raises ConfigError when the settings cannot work together; remembers the secrets for redaction."""
        for name, setting in [*self.kafka.items(), *self.registry.items()]:
            if name in SECRET_PROPERTIES:
                remember(setting.value)
                if name == "basic.auth.user.info":
                    password = setting.value.partition(":")[2]
                    remember(password, base64.b64encode(setting.value.encode()).decode())
        protocol, mechanism = self.protocol, self.mechanism
        if protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                f"{self.source('security.protocol')}: {protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}"
            )
        sasl = protocol.startswith("SASL_")
        tls = protocol in ("SSL", "SASL_SSL")
        given_sasl = [name for name in self.kafka if name.startswith("sasl.")]
        if given_sasl and not sasl:
            raise ConfigError(
                f"{self.source(given_sasl[0])} is set but {self.shown('security.protocol')}: SASL credentials are "
                "only sent with SASL_SSL or SASL_PLAINTEXT"
            )
        given_tls = [name for name in self.kafka if name.startswith("ssl.")]
        if given_tls and not tls:
            raise ConfigError(
                f"{self.source(given_tls[0])} is set but {self.shown('security.protocol')}: TLS is only used with "
                "SSL or SASL_SSL"
            )
        if sasl:
            if mechanism is None:
                raise ConfigError(
                    f"{self.shown('security.protocol')} needs {self.source('sasl.mechanism')} "
                    f"({', '.join(SASL_MECHANISMS)})"
                )
            if mechanism not in SASL_MECHANISMS:
                raise ConfigError(
                    f"{self.source('sasl.mechanism')}: {mechanism!r} is not one of {', '.join(SASL_MECHANISMS)}"
                )
            if mechanism != "OAUTHBEARER":
                missing = [self.source(name) for name in ("sasl.username", "sasl.password") if name not in self.kafka]
                if missing:
                    raise ConfigError(
                        f"{self.shown('sasl.mechanism')} needs a user name and password: {' and '.join(missing)} "
                        "not set"
                    )
        self._check_client_certificate(self.kafka, registry=False)
        self._check_client_certificate(self.registry, registry=True)
        for settings, registry in ((self.kafka, False), (self.registry, True)):
            for name in _FILE_SETTINGS:
                found = settings.get(name)
                if found is not None and not os.access(found.value, os.R_OK):
                    reason = "no such file" if not os.path.exists(found.value) else "not readable"
                    raise ConfigError(f"{self.shown(name, registry)}: {reason}")
        if "basic.auth.user.info" in self.registry and ":" not in self.registry["basic.auth.user.info"].value:
            raise ConfigError(f"{self.source('basic.auth.user.info', True)}: expected USER:PASSWORD")
        if "basic.auth.user.info" in self.registry and "bearer.auth.token" in self.registry:
            raise ConfigError(
                f"{self.source('basic.auth.user.info', True)} and {self.source('bearer.auth.token', True)} are both "
                "set: the registry takes one of them"
            )

    def _check_client_certificate(self, settings: Mapping[str, Setting], registry: bool) -> None:
        certificate = "ssl.certificate.location" in settings
        key = "ssl.key.location" in settings
        if certificate != key:
            given, missing = (
                ("ssl.certificate.location", "ssl.key.location")
                if certificate
                else ("ssl.key.location", "ssl.certificate.location")
            )
            raise ConfigError(
                f"{self.source(given, registry)} is set without {self.source(missing, registry)}: a client "
                "certificate needs its private key"
            )

    def check_registry_url(self, url: str) -> None:
        """TLS settings for the registry only make sense over https."""
        if url.startswith("http://"):
            for name in ("ssl.ca.location", "ssl.certificate.location"):
                if name in self.registry:
                    raise ConfigError(
                        f"{self.source(name, True)} is set but SCHEMA_REGISTRY_URL {url} is not https: TLS is not used"
                    )
