"""The ``a2a-fast`` parser as a person meets it: help in plain words for every command and option, and shell
completion generated from it."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from a2a_fast.cli import build_parser, main
from a2a_fast.cli.completion import bash_script, zsh_script
from a2a_fast.cli.control import agent_table, table

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


def bash_complete(script: Path, *words: str) -> list[str]:
    """What the generated function offers for the command line ``words`` (the last one being completed)."""
    program = (
        f"source {script}\n"
        f"COMP_WORDS=({' '.join(repr(word) for word in words)})\n"
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
        "_a2a_fast\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    assert done.stderr == ""
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def bash_completion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    script = tmp_path_factory.mktemp("completion") / "a2a-fast.bash"
    script.write_text(bash_script(build_parser()))
    return script


def test_bash_completion_is_valid_and_completes_commands_options_and_values(
    bash_completion: Path, tmp_path: Path
) -> None:
    assert subprocess.run(["bash", "-n", str(bash_completion)], capture_output=True, text=True).returncode == 0
    commands = bash_complete(bash_completion, "a2a-fast", "")
    assert {"stack", "demo", "agent", "request", "tasks", "agents", "tail", "replay", "mcp", "completion"} <= set(
        commands
    )
    assert bash_complete(bash_completion, "a2a-fast", "ta") == ["tasks", "tail"]
    assert bash_complete(bash_completion, "a2a-fast", "stack", "") == ["up", "down", "status"]
    assert bash_complete(bash_completion, "a2a-fast", "agent", "c") == ["coordinator"]
    assert bash_complete(bash_completion, "a2a-fast", "completion", "") == ["bash", "zsh"]
    assert bash_complete(bash_completion, "a2a-fast", "tail", "--topic-prefix", "x.", "co") == ["collaborations"]
    assert bash_complete(bash_completion, "a2a-fast", "tail", "task-requests", "") == []
    assert bash_complete(bash_completion, "a2a-fast", "tasks", "--state", "R") == ["RUNNING", "REJECTED"]
    assert bash_complete(bash_completion, "a2a-fast", "tasks", "--state", "=", "C") == ["COMPLETED", "CANCELED"]
    assert bash_complete(bash_completion, "a2a-fast", "request", "--priority", "") == ["0", "1", "2"]
    assert "--from-beginning" in bash_complete(bash_completion, "a2a-fast", "tail", "--")
    assert bash_complete(bash_completion, "a2a-fast", "agent", "provider", "--sk") == ["--skills"]
    (tmp_path / "flows.yaml").write_text("[]")
    assert bash_complete(bash_completion, "a2a-fast", "mcp", "--workflows", f"{tmp_path}/fl") == [
        f"{tmp_path}/flows.yaml"
    ]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completion_is_valid_zsh(tmp_path: Path) -> None:
    script = tmp_path / "_a2a-fast"
    script.write_text(zsh_script(build_parser()))
    checked = subprocess.run(["zsh", "-n", str(script)], capture_output=True, text=True)
    assert (checked.returncode, checked.stderr) == (0, "")


def test_completion_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    assert capsys.readouterr().out == bash_script(build_parser())
    assert main(["completion", "zsh"]) == 0
    assert capsys.readouterr().out.startswith("#compdef a2a-fast\n")
    with pytest.raises(SystemExit):
        main(["completion", "fish"])


def column_starts(header: str, names: Sequence[str]) -> list[int]:
    return [header.index(name) for name in names]


def test_agents_columns_stay_aligned_whatever_the_lengths() -> None:
    card = {"registered": True, "alive": True, "status": "IDLE", "type": "executor", "log": None}
    rows = [
        {**card, "agent_id": "e1", "capabilities": ["summarize"], "last_seen": "2026-11-21T11:30:00.000Z"},
        {
            **card,
            "agent_id": "executor-with-a-very-long-name-in-region-eu-west-1",
            "capabilities": ["summarize", "translate", "classify", "analyze", "transcribe-audio-to-text"],
            "last_seen": "2026-11-21T11:30:01.000Z",
        },
        {
            "agent_id": "cli-4f593d90",
            "registered": False,
            "log": {"roles": ["requester"], "messages": 12345, "open_tasks": ["t1", "t2"], "last_seen": "-"},
        },
    ]
    lines = agent_table(rows)
    names = ["AGENT", "STATE", "ROLES/TYPE", "CAPABILITIES", "MESSAGES", "OPEN", "LAST SEEN"]
    starts = column_starts(lines[0], names)
    assert starts == sorted(starts)
    for line in lines[1:]:
        cells = line.split()
        assert len(cells) == len(names), line
        # Left-aligned cells start under their heading; right-aligned numbers end under theirs.
        for name, cell, start in zip(names, cells, starts, strict=True):
            if name in ("MESSAGES", "OPEN"):
                assert line.index(f" {cell} ", start - 1) + 1 + len(cell) == start + len(name), (name, line)
            else:
                assert line[start : start + len(cell)] == cell, (name, line)
    assert lines[3].split()[1:4] == ["unregistered", "requester", "-"]


def test_tables_fit_their_widest_cell() -> None:
    assert table(("A", "LONG HEADING", "N"), [("x" * 20, "y", "7"), ("z", "w", "1234")], right=(2,)) == [
        "A                    LONG HEADING    N",
        "xxxxxxxxxxxxxxxxxxxx y               7",
        "z                    w            1234",
    ]
