"""Shell completion: valid bash and zsh that complete commands, options and values."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from a2a_fast.cli import build_parser, main
from a2a_fast.cli.completion import bash_script, zsh_script


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
    assert bash_complete(bash_completion, "a2a-fast", "stack", "") == ["up", "down", "status", "env"]
    assert bash_complete(bash_completion, "a2a-fast", "agent", "c") == ["coordinator"]
    assert bash_complete(bash_completion, "a2a-fast", "completion", "") == ["bash", "zsh"]
    assert bash_complete(bash_completion, "a2a-fast", "tail", "--topic-prefix", "x.", "co") == ["collaborations"]
    assert bash_complete(bash_completion, "a2a-fast", "tail", "task-requests", "") == []
    assert bash_complete(bash_completion, "a2a-fast", "tasks", "--state", "R") == ["RUNNING", "REJECTED"]
    assert bash_complete(bash_completion, "a2a-fast", "tasks", "--state", "=", "CO") == ["COMPLETED"]
    assert bash_complete(bash_completion, "a2a-fast", "tasks", "--state", "CANC") == ["CANCELING", "CANCELED"]
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
