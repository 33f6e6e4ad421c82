"""The secured local stack: what a production cluster looks like, on loopback.

* **Kafka** with a ``SASL_SSL`` listener (SCRAM-SHA-256 and SCRAM-SHA-512), a mutual-TLS listener (``SSL``, a
  client certificate required; its common name is the principal) and the ``StandardAuthorizer``: nothing is
  allowed without an ACL but to the super users. The controller listener takes the broker's own certificate
  only. SCRAM users: ``admin`` (a super user, the operator) and one per role of
  :data:`a2a_fast.protocol.roles.ROLES` (``requester``, ``provider``...); the administrator's credential is
  written into the storage at its one-time format (salted, so the password never appears on a command line),
  the others are created (or reset) at every start.
* **Apicurio Registry** over HTTPS only (plain HTTP is refused), with HTTP basic authentication of the user
  ``a2a-fast`` (Quarkus' embedded users, which the Apicurio build includes; Apicurio's own authorization needs an
  OpenID Connect server, so every authenticated user may read and write).

Passwords are made once, kept in ``credentials.json`` beside the services' data (readable by its owner only),
and printed only when asked for (``a2a-fast stack env --secure``). The TLS material is made by
:mod:`a2a_fast.stack.certificates`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from a2a_fast.errors import StackError
from a2a_fast.protocol.roles import ROLES
from a2a_fast.stack.certificates import BROKER_PRINCIPAL, TlsFiles, make_tls_files
from a2a_fast.stack.services import HOST, KafkaBroker, SchemaRegistry, ServiceStatus, _write_owner_only

__all__ = [
    "ADMIN",
    "REGISTRY_USER",
    "ROLE_USERS",
    "SecureKafkaBroker",
    "SecureSchemaRegistry",
    "StackCredentials",
]

ADMIN = "admin"
ROLE_USERS = ROLES
REGISTRY_USER = "a2a-fast"
_SCRAM_ITERATIONS = 8192
_MECHANISMS = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}


@dataclass(frozen=True)
class StackCredentials:
    """The secured stack's users and their passwords."""

    kafka: dict[str, str]
    registry: dict[str, str]

    @classmethod
    def load_or_create(cls, path: Path) -> StackCredentials:
        """The credentials kept in ``path``, made (and kept) now for the users that have none."""
        kept: dict[str, dict[str, str]] = {}
        if path.exists():
            try:
                kept = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise StackError(f"the secured stack's credentials in {path} cannot be read: {error}") from None
        kafka = {user: kept.get("kafka", {}).get(user) or secrets.token_urlsafe(18) for user in (ADMIN, *ROLE_USERS)}
        registry = {REGISTRY_USER: kept.get("registry", {}).get(REGISTRY_USER) or secrets.token_urlsafe(18)}
        made = cls(kafka, registry)
        if kept != {"kafka": kafka, "registry": registry}:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_owner_only(path, json.dumps({"kafka": kafka, "registry": registry}, indent=2))
        return made


def _salted_scram(mechanism: str, password: str) -> str:
    """The ``--add-scram`` argument of a credential given salted, never as the password itself."""
    digest = _MECHANISMS[mechanism]
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac(digest, password.encode(), salt, _SCRAM_ITERATIONS)
    encoded = base64.b64encode
    return (
        f"{mechanism}=[name={ADMIN},iterations={_SCRAM_ITERATIONS},"
        f'salt="{encoded(salt).decode()}",saltedpassword="{encoded(salted).decode()}"]'
    )


class SecureKafkaBroker(KafkaBroker):
    """Kafka with SASL_SSL and mutual-TLS listeners and the StandardAuthorizer; see the module docstring."""

    def __init__(
        self,
        state_dir: Path,
        port: int,
        controller_port: int,
        mtls_port: int,
        credentials: StackCredentials,
        tls: TlsFiles,
    ) -> None:
        super().__init__(state_dir, port, controller_port)
        self.mtls_port = mtls_port
        self.credentials = credentials
        self.tls = tls

    @property
    def mtls_address(self) -> str:
        return f"{HOST}:{self.mtls_port}"

    def _settings(self) -> dict[str, str]:
        admin = self.credentials.kafka[ADMIN]
        module = "org.apache.kafka.common.security.scram.ScramLoginModule"
        login = f'{module} required username="{ADMIN}" password="{admin}";'
        return {
            **super()._settings(),
            "listeners": ",".join(
                (
                    f"SASL_SSL://{HOST}:{self.port}",
                    f"MTLS://{HOST}:{self.mtls_port}",
                    f"CONTROLLER://{HOST}:{self.controller_port}",
                )
            ),
            "advertised.listeners": f"SASL_SSL://{HOST}:{self.port},MTLS://{HOST}:{self.mtls_port}",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,MTLS:SSL,CONTROLLER:SSL",
            "inter.broker.listener.name": "SASL_SSL",
            "sasl.enabled.mechanisms": ",".join(_MECHANISMS),
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": login,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": login,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.tls.server_bundle),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.tls.ca),
            "listener.name.mtls.ssl.client.auth": "required",
            "listener.name.controller.ssl.client.auth": "required",
            "ssl.principal.mapping.rules": "RULE:^CN=([^,]+)$/$1/,DEFAULT",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN};User:{BROKER_PRINCIPAL}",
            "allow.everyone.if.no.acl.found": "false",
            "early.start.listeners": "CONTROLLER",
        }

    def _format_options(self) -> list[str]:
        password = self.credentials.kafka[ADMIN]
        return [option for mechanism in _MECHANISMS for option in ("--add-scram", _salted_scram(mechanism, password))]

    def client_settings(self, user: str = ADMIN) -> dict[str, str]:
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user,
            "sasl.password": self.credentials.kafka[user],
            "ssl.ca.location": str(self.tls.ca),
        }

    def start(self) -> ServiceStatus:
        status = super().start()
        self.create_users()
        return status

    def create_users(self) -> None:
        """Creates (or resets) the role users' SCRAM credentials, both mechanisms, as the administrator."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        # Where the client defines them: its package does not re-export them for type checkers.
        from confluent_kafka.admin._scram import (
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialAlteration,
            UserScramCredentialUpsertion,
        )

        admin = AdminClient({"bootstrap.servers": self.address, "log_level": 0, **self.client_settings()})
        # The broker takes one alteration per user in a request: one request per mechanism.
        for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):
            upserts: list[UserScramCredentialAlteration] = [
                UserScramCredentialUpsertion(user, ScramCredentialInfo(mechanism, _SCRAM_ITERATIONS), password.encode())
                for user, password in self.credentials.kafka.items()
                if user != ADMIN
            ]
            for user, future in admin.alter_user_scram_credentials(upserts).items():
                try:
                    future.result(30)
                except KafkaException as error:
                    raise StackError(f"creating the SCRAM user {user!r} failed: {error}; log {self.log}") from None


class SecureSchemaRegistry(SchemaRegistry):
    """Apicurio over HTTPS only, with HTTP basic authentication; see the module docstring."""

    def __init__(self, state_dir: Path, port: int, credentials: StackCredentials, tls: TlsFiles) -> None:
        super().__init__(state_dir, port)
        self.credentials = credentials
        self.tls = tls

    @property
    def address(self) -> str:
        return f"https://{HOST}:{self.port}{self.api_path}"

    @property
    def user_info(self) -> str:
        return f"{REGISTRY_USER}:{self.credentials.registry[REGISTRY_USER]}"

    def _settings(self) -> dict[str, str]:
        return {
            **super()._settings(),
            "quarkus.http.port": "0",
            "quarkus.http.ssl-port": str(self.port),
            "quarkus.http.insecure-requests": "disabled",
            "quarkus.http.ssl.certificate.files": str(self.tls.server_certificate),
            "quarkus.http.ssl.certificate.key-files": str(self.tls.server_key),
            "quarkus.http.auth.basic": "true",
            "quarkus.http.auth.permission.registry.paths": "/apis/*",
            "quarkus.http.auth.permission.registry.policy": "authenticated",
        }

    def prepare(self) -> None:
        # The users' passwords go in the registry's own config file (read from its working directory), not on
        # its command line, where every local user could read them.
        settings = {
            "quarkus.security.users.embedded.plain-text": "true",
            **{f"quarkus.security.users.embedded.users.{user}": pw for user, pw in self.credentials.registry.items()},
            **{f"quarkus.security.users.embedded.roles.{user}": "sr-admin" for user in self.credentials.registry},
        }
        folder = self.home / "config"
        folder.mkdir(parents=True, exist_ok=True)
        _write_owner_only(folder / "application.properties", "".join(f"{k}={v}\n" for k, v in settings.items()))

    def ready(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.tls.ca))
        request = urllib.request.Request(
            f"{self.address}/subjects",
            headers={"Authorization": "Basic " + base64.b64encode(self.user_info.encode()).decode()},
        )
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


def secure_files(state_dir: Path) -> tuple[StackCredentials, TlsFiles]:
    """The secured stack's credentials and TLS files under ``state_dir``, made on first use."""
    credentials = StackCredentials.load_or_create(state_dir / "credentials.json")
    tls = make_tls_files(state_dir / "tls", credentials.kafka)
    os.chmod(state_dir, 0o700)
    return credentials, tls
