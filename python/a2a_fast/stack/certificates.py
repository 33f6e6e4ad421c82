"""The secured local stack's TLS material: a certificate authority made here, and certificates it signs.

Everything is PEM, which the broker (``ssl.keystore.type=PEM``), the registry (Quarkus) and the clients
(librdkafka, the registry client) all read: the CA's certificate (``ca.pem``, what clients trust), the
server certificate for ``127.0.0.1`` and ``localhost`` (``server.pem``: key and chain in one file, as the broker
wants it; ``server.crt`` and ``server.key`` apart, as the registry wants them), and a client certificate per
user for mutual TLS (``<user>.crt``, ``<user>.key``; the broker takes the certificate's common name as the
principal). Private keys are written readable by their owner only. Made once; a later start reuses them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from a2a_fast.errors import StackError

__all__ = ["BROKER_PRINCIPAL", "Authority", "TlsFiles", "make_tls_files"]

BROKER_PRINCIPAL = "a2a-fast-broker"
"""The common name of the server certificate: the principal the broker has when it talks to its controller."""
_VALID_DAYS = 825


@dataclass(frozen=True)
class TlsFiles:
    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def server_bundle(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_certificate(self) -> Path:
        return self.folder / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    def client_certificate(self, user: str) -> Path:
        return self.folder / f"{user}.crt"

    def client_key(self, user: str) -> Path:
        return self.folder / f"{user}.key"


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


class Authority:
    """A certificate authority: its key and self-signed certificate, and the certificates it issues."""

    def __init__(self, common_name: str) -> None:
        try:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.x509.oid import NameOID
        except ImportError as error:
            raise StackError(
                f"the secured stack makes its certificates with the cryptography package: pip install "
                f"'a2a-fast[stack]' ({error})"
            ) from None
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def certificate_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str, server_names: Iterable[str] = (), client: bool = False) -> tuple[bytes, bytes]:
        """``(certificate PEM, private key PEM in PKCS#8)`` for ``common_name``; ``server_names`` (host names and
        IP addresses) make it a server certificate, ``client`` a client one."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        names: list[x509.GeneralName] = []
        for name in server_names:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                names.append(x509.DNSName(name))
        usages = []
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client or not names:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def make_tls_files(folder: Path, users: Iterable[str], authority_name: str = "a2a-fast local CA") -> TlsFiles:
    """The stack's TLS files in ``folder``, made now unless they are there already (a new user gets its client
    certificate from the same authority only while the authority's key is kept; otherwise everything is made
    anew)."""
    files = TlsFiles(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = list(users)
    complete = files.ca.exists() and files.server_bundle.exists() and files.server_key.exists()
    if complete and all(files.client_certificate(user).exists() for user in wanted):
        return files
    authority = Authority(authority_name)
    server_certificate, server_key = authority.issue(BROKER_PRINCIPAL, ["127.0.0.1", "localhost"], client=True)
    chain = server_certificate + authority.certificate_pem()
    files.ca.write_bytes(authority.certificate_pem())
    files.server_certificate.write_bytes(chain)
    _write_private(files.server_key, server_key)
    _write_private(files.server_bundle, server_key + chain)
    for user in wanted:
        certificate, key = authority.issue(user, client=True)
        files.client_certificate(user).write_bytes(certificate + authority.certificate_pem())
        _write_private(files.client_key(user), key)
    return files
