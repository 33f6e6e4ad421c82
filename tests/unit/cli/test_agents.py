"""The agent command's options: skills, partitions and the dedupe."""

from __future__ import annotations

from pathlib import Path

import pytest

from a2a_fast.cli import build_parser, main
from a2a_fast.cli.agents import build_agent, parse_skills
from a2a_fast.errors import ConfigError


def test_parse_skills() -> None:
    assert parse_skills(["summarize=100", "Translate"]) == {"summarize": 100.0, "translate": 50.0}
    with pytest.raises(ConfigError, match="not a number"):
        parse_skills(["x=cheap"])


def test_partitions_flag_sets_the_partitions_of_the_topics_the_agent_creates() -> None:
    parser = build_parser()
    assert build_agent(parser.parse_args(["agent", "executor", "--partitions", "6"])).config.partitions == 6
    assert build_agent(parser.parse_args(["agent", "executor"])).config.partitions == 3
    with pytest.raises(ConfigError, match="--partitions: must be at least 1, got 0"):
        build_agent(parser.parse_args(["agent", "provider", "--partitions", "0"]))


def test_dedupe_size_flag_sizes_the_dedupe_and_zero_turns_it_off() -> None:
    parser = build_parser()
    assert build_agent(parser.parse_args(["agent", "executor", "--http-port", "-1"])).config.dedupe_size == 100_000
    agent = build_agent(parser.parse_args(["agent", "executor", "--dedupe-size", "0", "--http-port", "-1"]))
    agent.dedupe.add("handled")
    assert agent.config.dedupe_size == 0 and "handled" not in agent.dedupe
    with pytest.raises(ConfigError, match="--dedupe-size: must be 0 \\(off\\) or more, got -1"):
        build_agent(parser.parse_args(["agent", "provider", "--dedupe-size", "-1"]))


@pytest.mark.parametrize("via", ["--config", "environment"])
def test_agent_command_refuses_a_bad_config_naming_the_key(
    via: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "protocol.yaml"
    bad.write_text("heartbeat:\n  interval_seconds: 10\n  timeout_seconds: 5\n")
    argv = ["agent", "provider", "--http-port", "-1"]
    if via == "--config":
        argv += ["--config", str(bad)]
    else:
        monkeypatch.setenv("A2A_FAST_CONFIG", str(bad))
    assert main(argv) == 1
    assert capsys.readouterr().err.strip() == (
        "a2a-fast: heartbeat.timeout_seconds: must be greater than heartbeat.interval_seconds"
    )
