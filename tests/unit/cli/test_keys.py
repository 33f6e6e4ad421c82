"""`a2a-fast keys generate`: a private key and a trusted entry."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from a2a_fast.protocol.signing import load_trusted_keys
from tests.conftest import REPO


def test_keys_generate_writes_a_private_key_and_a_trusted_entry(tmp_path: Path) -> None:
    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
        return subprocess.run(
            [sys.executable, "-m", "a2a_fast.cli", "keys", "generate", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    made = keys("--agent", "mcp-1", "--role", "requester", "--role", "coordinator", "--out", "k", "--trust", "t.yaml")
    assert made.returncode == 0, made.stderr
    keys("--agent", "provider-1", "--role", "provider", "--out", "k", "--trust", "t.yaml")
    trusted = load_trusted_keys(str(tmp_path / "t.yaml"), "t")
    assert [(key.agent, sorted(key.roles)) for key in trusted] == [
        ("mcp-1", ["coordinator", "requester"]),
        ("provider-1", ["provider"]),
    ]
    assert stat.S_IMODE((tmp_path / "k" / "mcp-1.key").stat().st_mode) == 0o600
    again = keys("--agent", "mcp-1", "--role", "requester", "--out", "k")
    assert again.returncode == 1 and "is never overwritten" in again.stderr
    printed = keys("--agent", "solo", "--role", "executor", "--out", "k")
    assert yaml.safe_load(printed.stdout.split("\n", 1)[1])["keys"][0]["agent"] == "solo"
