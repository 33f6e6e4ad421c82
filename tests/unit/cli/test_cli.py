"""The ``a2a-fast`` parser as a person meets it: help in plain words for every command and option."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

from a2a_fast.cli import build_parser

RST_MARKUP = re.compile(r"``|:(?:class|meth|mod|func|data|attr|exc):|^\s*\.\. \w|::$", re.MULTILINE)


def parsers(parser: argparse.ArgumentParser, path: str = "a2a-fast") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, f"{path} {name}")


def test_every_command_and_option_has_help_in_plain_words() -> None:
    found = list(parsers(build_parser()))
    assert {path for path, _ in found} >= {
        f"a2a-fast {name}"
        for name in ("stack", "demo", "agent", "request", "tasks", "agents", "tail", "topics", "replay", "mcp")
    } | {"a2a-fast completion"}
    missing = []
    for path, parser in found:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                listed = {choice.dest: choice.help for choice in action._choices_actions}
                missing += [f"{path} {name}" for name in action.choices if not listed.get(name)]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        if path != "a2a-fast":
            assert parser.description, f"{path} has no description"
        text = parser.format_help()
        assert not RST_MARKUP.findall(text), f"{path} --help has markup:\n{text}"
    assert missing == []


def test_the_agent_command_explains_itself_without_its_module_docstring() -> None:
    [(_, agent)] = [(path, p) for path, p in parsers(build_parser()) if path == "a2a-fast agent"]
    text = agent.format_help()
    assert "a2a-fast agent provider --id provider-1" in text and "READY <role> <id> http=<port>" in text
    assert "Run one agent of the mesh as this process: a requester, provider, executor or coordinator." in text
