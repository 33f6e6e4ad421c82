"""The secured stack's files and certificates."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from a2a_fast.stack import LocalStack, export_lines


def test_the_secured_stack_makes_its_files_once_and_private(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path / "state-secure", secure=True)
    tls = tmp_path / "state-secure" / "tls"
    credentials = tmp_path / "state-secure" / "credentials.json"
    for private in (credentials, tls / "server.key", tls / "server.pem", tls / "provider.key"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    first = credentials.read_text()
    ca = (tls / "ca.pem").read_bytes()
    again = LocalStack(tmp_path / "state-secure", secure=True)
    assert credentials.read_text() == first and (tls / "ca.pem").read_bytes() == ca
    env = again.environment("provider")
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_USERNAME"] == "provider"
    assert env["KAFKA_BROKER"] == "127.0.0.1:29092"
    assert env["SCHEMA_REGISTRY_URL"].startswith("https://127.0.0.1:28081/")
    assert env["KAFKA_SSL_CERTIFICATE_LOCATION"] == ""
    mtls = stack.environment("executor", mtls=True)
    assert mtls["KAFKA_BROKER"] == "127.0.0.1:29094" and mtls["KAFKA_SASL_PASSWORD"] == ""
    assert "unset KAFKA_SASL_PASSWORD" in export_lines(mtls)
    with pytest.raises(Exception, match=r"no user 'mallory'"):
        stack.environment("mallory")


def test_the_certificates_are_what_the_services_and_clients_need(tmp_path: Path) -> None:
    from cryptography import x509

    LocalStack(tmp_path / "s", secure=True)
    tls = tmp_path / "s" / "tls"
    server = x509.load_pem_x509_certificate((tls / "server.crt").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(address) for address in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1"}
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    client = x509.load_pem_x509_certificate((tls / "executor.crt").read_bytes())
    assert client.subject.rfc4514_string() == "CN=executor"
    ca = x509.load_pem_x509_certificate((tls / "ca.pem").read_bytes())
    client.verify_directly_issued_by(ca)
    server.verify_directly_issued_by(ca)
