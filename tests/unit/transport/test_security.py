"""Client security settings: one place (environment, YAML config, properties file), checked as a whole, secrets
kept out of everything said."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from a2a_fast.errors import ConfigError
from a2a_fast.observability.logs import configure_logging
from a2a_fast.redaction import redact, remember
from a2a_fast.transport.kafka import KafkaTransport
from a2a_fast.transport.security import ClientSecurity, read_properties, split_userinfo

SCRAM = {
    "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "provider",
    "KAFKA_SASL_PASSWORD": "pw-Zq81-never-shown",
}


@pytest.fixture
def ca(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


def test_nothing_set_is_plaintext_and_anonymous() -> None:
    security = ClientSecurity.load(environ={})
    assert security.protocol == "PLAINTEXT"
    assert security.kafka_properties() == {}
    assert security.registry_properties() == {}


def test_the_environment_sets_every_client_property(ca: str) -> None:
    env = {
        **SCRAM,
        "KAFKA_SSL_CA_LOCATION": ca,
        "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "registry-user:registry-pw-991",
        "SCHEMA_REGISTRY_CA_LOCATION": ca,
    }
    security = ClientSecurity.load(environ=env)
    assert security.kafka_properties() == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "provider",
        "sasl.password": "pw-Zq81-never-shown",
        "ssl.ca.location": ca,
    }
    assert security.registry_properties() == {
        "basic.auth.user.info": "registry-user:registry-pw-991",
        "ssl.ca.location": ca,
    }


def test_yaml_keys_and_a_properties_file_fill_in_and_the_environment_wins(tmp_path: Path, ca: str) -> None:
    properties = tmp_path / "client.properties"
    properties.write_text(
        "# from the cluster's console\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanisms = PLAIN\n"
        "sasl.username: file-user\n"
        "sasl.password=file-password-1\n"
        "ssl.endpoint.identification.algorithm=https\n"
        "schema.registry.basic.auth.user.info=sr:sr-password-2\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(f"kafka:\n  sasl_mechanism: SCRAM-SHA-256\n  ssl_ca_location: {ca}\n")
    security = ClientSecurity.load(
        environ={"KAFKA_SASL_USERNAME": "env-user"}, config_file=config, kafka_config=properties
    )
    assert security.kafka_properties() == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "env-user",
        "sasl.password": "file-password-1",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": ca,
    }
    assert security.source("sasl.mechanism") == f"kafka.sasl_mechanism in {config}"
    assert security.source("sasl.password") == f"sasl.password in {properties}"
    assert security.source("sasl.username") == "KAFKA_SASL_USERNAME"
    assert security.registry_properties() == {"basic.auth.user.info": "sr:sr-password-2"}


def test_the_properties_file_is_named_by_the_environment(tmp_path: Path) -> None:
    properties = tmp_path / "client.properties"
    properties.write_text("security.protocol=SSL\n")
    assert ClientSecurity.load(environ={"A2A_FAST_KAFKA_CONFIG": str(properties)}).protocol == "SSL"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, r"^KAFKA_SECURITY_PROTOCOL: 'TLS' is not one of PLAINTEXT, SSL"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            r"^KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_MECHANISM \(PLAIN, SCRAM-SHA-256",
        ),
        (
            {**SCRAM, "KAFKA_SASL_PASSWORD": ""},
            r"^KAFKA_SASL_MECHANISM=SCRAM-SHA-512 needs a user name and password: KAFKA_SASL_PASSWORD not set",
        ),
        (
            {"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"},
            r"^KAFKA_SASL_MECHANISM is set but KAFKA_SECURITY_PROTOCOL \(not set\): SASL credentials are only sent",
        ),
        (
            {**SCRAM, "KAFKA_SASL_MECHANISM": "GSSAPI"},
            r"^KAFKA_SASL_MECHANISM: 'GSSAPI' is not one of PLAIN",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": "/nowhere/ca.pem"},
            r"^KAFKA_SSL_CA_LOCATION=/nowhere/ca.pem: no such file$",
        ),
        (
            {"KAFKA_SSL_CA_LOCATION": "/nowhere/ca.pem"},
            r"^KAFKA_SSL_CA_LOCATION is set but KAFKA_SECURITY_PROTOCOL \(not set\): TLS is only used with SSL",
        ),
        (
            {"SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "no-colon"},
            r"^SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO: expected USER:PASSWORD$",
        ),
        (
            {"SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "u:p", "SCHEMA_REGISTRY_BEARER_AUTH_TOKEN": "t0ken"},
            r"are both set: the registry takes one of them",
        ),
    ],
)
def test_settings_that_cannot_work_are_refused_naming_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        ClientSecurity.load(environ=env)
    assert "pw-Zq81-never-shown" not in str(raised.value)


def test_a_client_certificate_needs_its_key(tmp_path: Path, ca: str) -> None:
    env = {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_LOCATION": ca, "KAFKA_SSL_CERTIFICATE_LOCATION": ca}
    with pytest.raises(ConfigError, match=r"^KAFKA_SSL_CERTIFICATE_LOCATION is set without KAFKA_SSL_KEY_LOCATION"):
        ClientSecurity.load(environ=env)


def test_oauthbearer_passes_through_without_a_password(tmp_path: Path) -> None:
    properties = tmp_path / "client.properties"
    properties.write_text("sasl.oauthbearer.method=oidc\nsasl.oauthbearer.client.secret=oidc-secret-77\n")
    security = ClientSecurity.load(
        environ={"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "oauthbearer"},
        kafka_config=properties,
    )
    assert security.kafka_properties()["sasl.mechanism"] == "OAUTHBEARER"
    assert redact("secret is oidc-secret-77") == "secret is ***"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("bootstrap.servers=broker:9092", r"bootstrap\.servers: the broker's address comes from KAFKA_BROKER"),
        ("sasl.jaas.config=org.apache...", r"sasl\.jaas\.config: that is a Java client setting"),
        ("group.id=mine", r"group\.id: each client of an agent sets its own consumer group"),
        ("just words", r"line 1: expected NAME=VALUE"),
    ],
)
def test_properties_that_belong_elsewhere_are_refused(tmp_path: Path, line: str, message: str) -> None:
    properties = tmp_path / "client.properties"
    properties.write_text(line + "\n")
    with pytest.raises(ConfigError, match=message):
        ClientSecurity.load(environ={}, kafka_config=properties)


def test_yaml_security_keys_are_checked_and_secrets_not_echoed(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  security_protocol: TLS\n")
    with pytest.raises(ConfigError, match=r"kafka\.security_protocol: must be one of PLAINTEXT"):
        ClientSecurity.load(environ={}, config_file=config)
    config.write_text("kafka:\n  sasl_password: 123456789\n")
    with pytest.raises(ConfigError, match=r"kafka\.sasl_password: expected str, got int \(value hidden\)"):
        ClientSecurity.load(environ={}, config_file=config)


def test_credentials_in_the_registry_url_move_to_basic_auth() -> None:
    url, userinfo = split_userinfo("https://ops:url-pass-5521@registry.example:8081/apis/ccompat/v7")
    assert url == "https://registry.example:8081/apis/ccompat/v7"
    assert userinfo == "ops:url-pass-5521"
    transport = KafkaTransport("broker:9092", "https://ops:url-pass-5521@registry.example:8081")
    assert transport.schema_registry_url == "https://registry.example:8081"
    assert transport.registry_settings()["basic.auth.user.info"] == "ops:url-pass-5521"
    assert "url-pass-5521" not in repr(transport)
    said = redact("GET https://ops:url-pass-5521@registry.example:8081 failed")
    assert said == "GET https://***@registry.example:8081 failed"


def test_tls_settings_for_an_http_registry_are_refused(ca: str) -> None:
    with pytest.raises(ConfigError, match=r"SCHEMA_REGISTRY_CA_LOCATION is set but SCHEMA_REGISTRY_URL http://r:1 is"):
        KafkaTransport.from_env("broker:9092", "http://r:1", environ={"SCHEMA_REGISTRY_CA_LOCATION": ca})


def test_transport_from_env_carries_the_settings_to_every_client(ca: str) -> None:
    env = {**SCRAM, "KAFKA_SSL_CA_LOCATION": ca, "SCHEMA_REGISTRY_CA_LOCATION": ca}
    transport = KafkaTransport.from_env("broker:9092", "https://r:8081", environ=env)
    settings = transport.settings({"group.id": "g"})
    assert settings["bootstrap.servers"] == "broker:9092"
    assert settings["sasl.username"] == "provider"
    assert settings["group.id"] == "g"
    assert transport.registry_settings() == {"url": "https://r:8081", "ssl.ca.location": ca}
    assert "pw-Zq81-never-shown" not in repr(transport)


def test_a_property_librdkafka_refuses_names_where_it_was_set(tmp_path: Path) -> None:
    properties = tmp_path / "client.properties"
    properties.write_text("no.such.property=1\n")
    transport = KafkaTransport.from_env("127.0.0.1:1", environ={"A2A_FAST_KAFKA_CONFIG": str(properties)})
    with pytest.raises(ConfigError, match=rf"^no\.such\.property in {tmp_path}/client\.properties: "):
        transport.admin()


def test_log_lines_never_carry_a_secret() -> None:
    remember("hunter2-secret-value")
    stream = io.StringIO()
    configure_logging(stream=stream, level="INFO")
    try:
        logging.getLogger("a2a_fast.test").warning("connecting with password=%s", "hunter2-secret-value")
    finally:
        configure_logging(level="WARNING")
    assert "hunter2-secret-value" not in stream.getvalue()
    assert "password=***" in stream.getvalue()


def test_read_properties_skips_comments_and_keeps_values_with_separators(tmp_path: Path) -> None:
    path = tmp_path / "p.properties"
    path.write_text("! comment\n\n  a.b = x=y \nc:d:e\n")
    assert read_properties(path) == {"a.b": "x=y", "c": "d:e"}
