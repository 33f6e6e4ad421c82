"""What the deployment files (docker-compose.yml, deploy/k8s) are checked against: the real CLI and agents."""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from a2a_fast.agents.base import Agent
from a2a_fast.agents.coordinator import Coordinator
from a2a_fast.cli import build_parser
from a2a_fast.cli.agents import _parse_params, build_agent
from a2a_fast.observability.http import DEFAULT_PORTS

GROUP_ROLES = ("provider", "executor")
"""Roles whose replicas share one consumer group, so their count is bounded by the topics' partitions."""


def subcommand_options(argv: list[str]) -> set[str]:
    """The option strings ``a2a-fast <argv[0]>`` accepts."""
    parser = build_parser()
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    sub = commands.choices.get(argv[0]) if argv else None
    assert sub is not None, f"{argv}: no such a2a-fast command"
    return {option for action in sub._actions for option in action.option_strings}


def parse_command(argv: list[str], where: str) -> argparse.Namespace:
    """``argv`` parsed by the real ``a2a-fast`` parser, refusing unknown or abbreviated options."""
    known = subcommand_options(argv)
    for token in argv:
        if token.startswith("--"):
            option = token.split("=", 1)[0]
            assert option in known, f"{where}: a2a-fast {argv[0]} has no option {option}"
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return build_parser().parse_args(argv)
    except SystemExit:
        raise AssertionError(f"{where}: {argv} is refused by the CLI: {errors.getvalue().strip()}") from None


@contextlib.contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """The process environment as a container with ``variables`` would see it."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        yield


def http_port(args: argparse.Namespace) -> int:
    port: int = DEFAULT_PORTS[args.role] if args.http_port is None else args.http_port
    return port


def check_agent_does_something(args: argparse.Namespace, where: str) -> None:
    """A requester must request tasks and a coordinator start workflows, or the service only idles."""
    if args.role == "requester":
        assert args.task, f"{where}: a requester without --task only idles"
        for spec in args.task:
            capability, _, rest = spec.partition(":")
            cost, _, description = rest.partition(":")
            try:
                float(cost)
            except ValueError:
                cost = ""
            assert capability and cost and description, f"{where}: --task {spec!r} is not CAPABILITY:COST:DESCRIPTION"
    if args.role == "coordinator":
        assert args.start, f"{where}: a coordinator without --start only idles"
        coordinator = build_agent(args)
        assert isinstance(coordinator, Coordinator)
        known = {definition.id for definition in coordinator.list_workflows()}
        unknown = set(args.start) - known
        assert not unknown, f"{where}: --start {sorted(unknown)}: the coordinator only knows {sorted(known)}"
        _parse_params(args.param)


def members_per_group(agents: list[tuple[Agent, int]]) -> dict[str, int]:
    """Replicas per shared consumer group, from (agent, replicas) pairs."""
    members: dict[str, int] = {}
    for agent, replicas in agents:
        if agent.role in GROUP_ROLES:
            members[agent.group_id] = members.get(agent.group_id, 0) + replicas
    return members


def as_argv(command: Any) -> list[str]:
    assert isinstance(command, list) and all(isinstance(item, str) for item in command), (
        f"command {command!r}: must be a list of strings (YAML numbers must be quoted)"
    )
    return command
