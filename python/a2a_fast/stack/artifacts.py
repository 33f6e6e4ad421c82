"""Fetching the local stack's Java artifacts from Maven Central with Maven itself, into a cache.

Nothing is downloaded by hand: Maven resolves the broker's class path from ``kafka-runtime.xml`` and copies
the registry's application archive. A second run finds everything in the cache and starts at once.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from a2a_fast.errors import StackError

KAFKA_VERSION = "4.1.1"
SLF4J_VERSION = "2.0.16"
LOG4J_VERSION = "2.24.3"
APICURIO_VERSION = "3.0.9"
MIN_JAVA = 17

_POM = Path(__file__).with_name("kafka-runtime.xml")


def cache_dir() -> Path:
    """Where jars and state live: ``$A2A_FAST_HOME``, else ``$XDG_CACHE_HOME/a2a-fast``, else ``~/.cache/a2a-fast``."""
    if home := os.environ.get("A2A_FAST_HOME"):
        return Path(home)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "a2a-fast"


def require_java() -> str:
    """Path of a Java ≥ 17 runtime, or a one-line StackError saying what is missing."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise StackError(f"Java {MIN_JAVA}+ is needed for the local stack and was not found (install a JDK)")
    probe = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    found = re.search(r'version "(\d+)', probe.stderr + probe.stdout)
    if not found or int(found.group(1)) < MIN_JAVA:
        raise StackError(f"Java {MIN_JAVA}+ is needed for the local stack; {java} reports: {probe.stderr.strip()}")
    return java


def _maven(args: list[str], log: Path) -> None:
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError("Maven (mvn) is needed to fetch the local stack's jars and was not found")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        done = subprocess.run([mvn, "-B", "-q", *args], stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise StackError(f"Maven could not fetch the stack's artifacts (exit {done.returncode}); see {log}")


def kafka_classpath() -> Path:
    """Folder of the broker's jars (Kafka plus a log4j2 binding), fetched on first use."""
    libs = cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if libs.exists():
        shutil.rmtree(libs)
    _maven(
        [
            "-f",
            str(_POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
            f"-Dkafka.version={KAFKA_VERSION}",
            f"-Dslf4j.version={SLF4J_VERSION}",
            f"-Dlog4j.version={LOG4J_VERSION}",
        ],
        cache_dir() / "logs" / "fetch-kafka.log",
    )
    # kafka's poms bring slf4j 1.7 alongside our 2.x; the 2.x binding needs the 2.x API alone.
    for stale in libs.glob("slf4j-api-1.*.jar"):
        stale.unlink()
    marker.touch()
    return libs


def apicurio_runner() -> Path:
    """The registry's runnable jar (Quarkus application archive), fetched and unpacked on first use."""
    home = cache_dir() / f"apicurio-registry-{APICURIO_VERSION}"
    runner = home / f"apicurio-registry-app-{APICURIO_VERSION}-runner.jar"
    if runner.exists() and (home / "lib").is_dir():
        return runner
    download = cache_dir() / "downloads"
    _maven(
        [
            "dependency:copy",
            f"-Dartifact=io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all",
            f"-DoutputDirectory={download}",
        ],
        cache_dir() / "logs" / "fetch-registry.log",
    )
    archive = download / f"apicurio-registry-app-{APICURIO_VERSION}-all.tar.gz"
    staging = home.with_name(home.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(staging, filter="data")
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    archive.unlink()
    if not runner.exists():
        raise StackError(f"the registry archive did not contain {runner.name}; see {archive}")
    return runner
