"""Fetching the local stack's Java artifacts from Maven Central with Maven itself, into a cache.

No jar is downloaded by hand: Maven (:mod:`a2a_fast.stack.maven`) resolves the broker's class path from
``kafka-runtime.xml`` and copies the registry's application archive. A second run finds everything in the cache
and starts at once.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from a2a_fast.errors import StackError
from a2a_fast.stack.maven import run_maven

KAFKA_VERSION = "4.1.1"
SLF4J_VERSION = "2.0.16"
LOG4J_VERSION = "2.24.3"
APICURIO_VERSION = "3.0.9"
# Pinned so that every Maven fetches alike: 2.8 is what Maven 3.8 picks by default. Later versions (Maven 3.9's
# default, 3.7.0) refuse the registry's archive because its parent POM is not published on Maven Central.
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:2.8"

_POM = Path(__file__).with_name("kafka-runtime.xml")


def cache_dir() -> Path:
    """Where jars and state live: ``$A2A_FAST_HOME``, else ``$XDG_CACHE_HOME/a2a-fast``, else ``~/.cache/a2a-fast``."""
    if home := os.environ.get("A2A_FAST_HOME"):
        return Path(home)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "a2a-fast"


def kafka_classpath() -> Path:
    """Folder of the broker's jars (Kafka plus a log4j2 binding), fetched on first use."""
    libs = cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if libs.exists():
        shutil.rmtree(libs)
    run_maven(
        [
            "-f",
            str(_POM),
            f"{_DEPENDENCY_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
            f"-Dkafka.version={KAFKA_VERSION}",
            f"-Dslf4j.version={SLF4J_VERSION}",
            f"-Dlog4j.version={LOG4J_VERSION}",
        ],
        cache_dir() / "logs" / "fetch-kafka.log",
        cache_dir(),
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
    run_maven(
        [
            f"{_DEPENDENCY_PLUGIN}:copy",
            f"-Dartifact=io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all",
            f"-DoutputDirectory={download}",
        ],
        cache_dir() / "logs" / "fetch-registry.log",
        cache_dir(),
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
