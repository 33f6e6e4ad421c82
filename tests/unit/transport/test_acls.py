"""Each role's ACLs: the topics it writes and the groups it joins, for its principal."""

from __future__ import annotations

import pytest

from a2a_fast.a2a import A2AAgent
from a2a_fast.a2a.client import KafkaCaller
from a2a_fast.agents.base import AgentConfig
from a2a_fast.agents.coordinator import Coordinator
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.agents.steps import StepRunner
from a2a_fast.errors import ConfigError
from a2a_fast.protocol.roles import signing_role
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport.acls import GROUP_PREFIXES, grants, parse_principals
from a2a_fast.transport.memory import MemoryTransport
from tests.scenarios.a2a import EchoExecutor, card


def test_each_role_writes_only_its_topics() -> None:
    topics = TopicNames("p.")
    found = grants(topics, parse_principals([]))
    writes = {(grant.principal, grant.name) for grant in found if grant.operation == "WRITE"}
    assert ("User:executor", "p.task-requests") not in writes
    assert ("User:provider", "p.task-requests") not in writes
    assert ("User:provider", "p.collaborations") not in writes
    assert ("User:coordinator", "p.task-responses") not in writes
    assert ("User:executor", "p.task-responses") in writes
    assert ("User:requester", "p.task-requests") in writes
    for role in ("requester", "provider", "executor", "coordinator"):
        assert (f"User:{role}", "p.a2a.dlq") in writes
    groups = {(grant.principal, grant.name) for grant in found if grant.resource == "group"}
    assert groups == {
        ("User:requester", "p.requester-"),
        ("User:provider", "p.providers."),
        ("User:executor", "p.executors."),
        ("User:executor", "p.steps-"),
        ("User:coordinator", "p.coordinator-"),
        ("User:a2a-agent", "p.a2a-agents."),
        ("User:a2a-client", "p.a2a-clients."),
    }
    a2a_writes = {name for principal, name in writes if principal.startswith("User:a2a-")}
    assert a2a_writes == {"p.a2a.requests", "p.a2a.events", "p.a2a.dlq", "p.a2a.agents"}
    assert ("User:a2a-client", "p.a2a.events") not in writes and ("User:a2a-agent", "p.a2a.requests") not in writes
    described = {grant.name for grant in found if grant.operation == "DESCRIBE" and grant.principal == "User:executor"}
    assert described == {*TopicNames("p.").all(), "p.a2a.agents"}, "every role sees every topic agents create"
    assert all(grant.prefixed for grant in found if grant.resource == "group")
    assert len(found) == len(set(found))


def test_the_group_prefixes_are_those_the_agents_join() -> None:
    config = AgentConfig("agent-1", "k", "r", topics=TopicNames("p."), transport=MemoryTransport())
    joined = {
        Requester(config).group_id: "requester",
        Provider(config, {"summarize": 1.0}).group_id: "provider",
        Executor(config, {"summarize": lambda task: None}).group_id: "executor",  # type: ignore[arg-type,return-value]
        StepRunner(config, {}).group_id: "executor",
        Coordinator(config).group_id: "coordinator",
        A2AAgent(config, EchoExecutor(), card("Echo", "echo")).group_id: "a2a-agent",
        KafkaCaller(config).group_id: "a2a-client",
    }
    for group, role in joined.items():
        assert any(group.startswith("p." + prefix) for prefix in GROUP_PREFIXES[role]), (group, role)
    assert signing_role(StepRunner.role) == "executor"


def test_another_principal_for_a_role() -> None:
    found = grants(TopicNames(), parse_principals(["requester=User:mcp", "coordinator=User:mcp"]))
    assert {grant.principal for grant in found} == {
        *("User:mcp", "User:provider", "User:executor"),
        *("User:a2a-agent", "User:a2a-client"),
    }
    with pytest.raises(ConfigError, match=r"--principal 'admin=User:x': expected ROLE=TYPE:NAME"):
        parse_principals(["admin=User:x"])
