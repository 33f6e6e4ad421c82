"""The Maven download and its runs on the chosen Java."""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

import pytest

from a2a_fast.errors import StackError
from a2a_fast.stack import truststore
from a2a_fast.stack.maven import MAVEN_VERSION, fetch_maven, run_maven
from tests.unit.stack.jdk import JAVA_17, bundle_jdk, fake_jdk


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
