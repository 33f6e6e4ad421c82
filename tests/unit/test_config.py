from __future__ import annotations

from pathlib import Path

import pytest

from a2a_fast.config import ProtocolConfig, load_config, load_named
from a2a_fast.errors import ConfigError


def test_defaults_are_built_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("A2A_FAST_CONFIG", raising=False)
    config = load_config()
    assert config == ProtocolConfig()
    assert config.heartbeat.timeout_seconds == 30.0
    assert config.mesh.routing_strategy == "round_robin"


def test_a_file_changes_only_the_keys_it_names(tmp_path: Path) -> None:
    file = tmp_path / "protocol.yaml"
    file.write_text("heartbeat:\n  interval_seconds: 1\n  timeout_seconds: 3\nmesh:\n  max_agents: 4\n")
    config = load_config(file)
    assert config.heartbeat.interval_seconds == 1.0
    assert isinstance(config.heartbeat.interval_seconds, float)
    assert config.mesh.max_agents == 4
    assert config.messages == ProtocolConfig().messages


def test_the_environment_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "protocol.yaml"
    file.write_text("messages:\n  default_priority: HIGH\n")
    monkeypatch.setenv("A2A_FAST_CONFIG", str(file))
    assert load_config().messages.default_priority == "HIGH"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("heartbeat:\n  interval_seconds: 0\n", r"heartbeat\.interval_seconds: must be greater than 0"),
        ("heartbeat:\n  interval_seconds: 40\n", r"heartbeat\.timeout_seconds: must be greater than"),
        ("mesh:\n  max_agents: many\n", r"mesh\.max_agents: expected int, got str"),
        ("mesh:\n  max_agents: true\n", r"mesh\.max_agents: expected int, got bool"),
        ("mesh:\n  max_agents: 2.5\n", r"mesh\.max_agents: expected int, got float"),
        ("mesh:\n  routing_strategy: random\n", r"mesh\.routing_strategy: must be one of"),
        ("mesh:\n  max_agent: 3\n", r"mesh\.max_agent: unknown key"),
        ("meshes: {}\n", r"meshes: unknown section"),
        ("workflows:\n  retained_finished_sessions: 0\n", r"workflows\.retained_finished_sessions: must be greater"),
        ("messages: 5\n", r"messages: must be a mapping"),
        ("messages:\n  default_priority: URGENT\n", r"messages\.default_priority: must be one of HIGH"),
        ("- just\n- a list\n", r"the top level must be a mapping"),
        ("heartbeat: [unclosed\n", r"not valid YAML"),
    ],
)
def test_a_bad_file_names_the_key_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "protocol.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(file)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "absent.yaml")


def test_a_named_object_loads_or_names_the_flag_and_the_problem() -> None:
    assert load_named("a2a_fast.config:ProtocolConfig", "--x") is ProtocolConfig
    with pytest.raises(ConfigError, match=r"--handlers 'nocolon': expected 'package.module:NAME'"):
        load_named("nocolon", "--handlers")
    with pytest.raises(ConfigError, match=r"--workflows 'a2a_fast.config:Missing': .*Missing"):
        load_named("a2a_fast.config:Missing", "--workflows")
    with pytest.raises(ConfigError, match=r"--workflows 'no_such_module_here:X': No module named"):
        load_named("no_such_module_here:X", "--workflows")
