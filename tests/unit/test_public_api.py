"""What ``import a2a_fast`` offers a program that embeds agents: every name resolves, is documented, and costs
nothing until used."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys

import pytest

import a2a_fast
from tests.conftest import REPO


def test_every_exported_name_resolves_to_the_object_of_its_module() -> None:
    assert len(set(a2a_fast.__all__)) == len(a2a_fast.__all__)
    for name in a2a_fast.__all__:
        value = getattr(a2a_fast, name)
        module = a2a_fast._LAZY.get(name)
        if module is not None:
            assert value is getattr(importlib.import_module(module), name), name
    assert set(a2a_fast.__all__) <= set(dir(a2a_fast))
    assert set(a2a_fast._LAZY) <= set(a2a_fast.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'a2a_fast' has no attribute 'Nope'"):
        a2a_fast.Nope  # noqa: B018
    assert not hasattr(a2a_fast, "nope")


def test_the_errors_are_all_exported() -> None:
    from a2a_fast import errors

    assert set(errors.__all__) <= set(a2a_fast.__all__)


def test_importing_the_package_loads_nothing_heavy() -> None:
    """The agents, confluent-kafka and uvloop are loaded by the first name that needs them, not by the import."""
    probe = "import sys, a2a_fast; loaded = sorted(sys.modules); import json; print(json.dumps(loaded))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout)
    assert [name for name in loaded if name.startswith("a2a_fast")] == [
        "a2a_fast",
        "a2a_fast._native",
        "a2a_fast.errors",
    ]
    heavy = ("confluent_kafka", "uvloop", "typing", "re", "asyncio", "yaml")
    assert [name for name in loaded if name.split(".")[0] in heavy] == []


def test_every_exported_class_and_function_and_their_public_methods_say_what_they_do() -> None:
    missing = []
    for name in a2a_fast.__all__:
        value = getattr(a2a_fast, name)
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        if not inspect.getdoc(value) or (inspect.isclass(value) and value.__doc__ is None):
            missing.append(name)
        if not inspect.isclass(value):
            continue
        for member in dir(value):
            if member.startswith("_"):
                continue
            static = inspect.getattr_static(value, member)
            routine = isinstance(static, property | staticmethod | classmethod) or inspect.isfunction(static)
            if routine and not inspect.getdoc(getattr(value, member)):
                missing.append(f"{name}.{member}")
    assert missing == []


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("<!-- python-example -->\n```python\n") + len("<!-- python-example -->\n```python\n")
    return text[start : text.index("```", start)]


def test_the_readme_example_uses_only_exported_names() -> None:
    tree = ast.parse(readme_example())
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "a2a_fast"
        for alias in node.names
    ]
    assert imported and set(imported) <= set(a2a_fast.__all__)
