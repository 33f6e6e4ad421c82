"""``a2a-fast agent requester|provider|executor|coordinator``: one agent as its own process.

:data:`AGENT_DESCRIPTION` is the command's help: how it is configured, how it stops and what it prints.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import uuid
from dataclasses import asdict, replace
from typing import Any

from a2a_fast.agents.base import Agent, AgentConfig, serve
from a2a_fast.agents.policies import BudgetPolicy, PricingPolicy
from a2a_fast.cli.control import add_kafka_config_option, add_logging_options
from a2a_fast.config import CONFIG_ENV, load_config
from a2a_fast.errors import ConfigError
from a2a_fast.observability.http import DEFAULT_PORTS
from a2a_fast.observability.logs import configure_logging
from a2a_fast.protocol.topics import TopicNames

__all__ = ["DEFAULT_SKILLS", "add_agent_parser", "build_agent", "parse_skills", "run_agent"]

DEFAULT_SKILLS = {"summarize": 100.0, "translate": 60.0, "classify": 40.0, "analyze": 80.0}


def parse_skills(items: list[str]) -> dict[str, float]:
    """``["summarize=100", "translate"]`` → ``{"summarize": 100.0, "translate": 50.0}`` (50 when no price)."""
    skills = {}
    for item in items:
        name, _, price = item.partition("=")
        if not name.strip():
            raise ConfigError(f"--skills {item!r}: expected NAME or NAME=MIN_PRICE")
        try:
            skills[name.strip().lower()] = float(price) if price else 50.0
        except ValueError:
            raise ConfigError(f"--skills {item!r}: minimum price {price!r} is not a number") from None
    return skills


AGENT_DESCRIPTION = """\
Run one agent of the mesh as this process: a requester, provider, executor or coordinator.

examples:
  a2a-fast agent provider --id provider-1 --skills summarize=100 translate=60
  a2a-fast agent executor --id executor-1 --max-tasks 8
  a2a-fast agent requester --id requester-1 --task summarize:120:"Summarise the Q3 report"
  a2a-fast agent coordinator --id coordinator-1 --start brief --param text="The Q3 report ..."

The broker and registry come from KAFKA_BROKER and SCHEMA_REGISTRY_URL (default: the local stack, which
this command never starts); how to authenticate to them from KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*,
KAFKA_SSL_*, SCHEMA_REGISTRY_* (see the README), the config file's kafka and schema_registry sections, or
--kafka-config FILE; the signing key and the trusted keys from A2A_FAST_SIGNING_KEY and A2A_FAST_TRUSTED_KEYS
(or the config's signing section), the key naming the agent's id unless --id does. While either service does not
answer, the agent waits for it, logging a warning naming the setting and the address at each attempt (after 1,
2, 4... up to 10 seconds). Protocol limits come from --config FILE or A2A_FAST_CONFIG (YAML). A bad file or
setting, or a broker or registry that refuses the credentials, stops the agent before it runs, naming the setting
and the address, with exit status 1.

The agent runs until SIGTERM or Ctrl-C, then shuts down in order; a requester given --task exits once all
its tasks are final. Once ready it prints 'READY <role> <id> http=<port>' (http=- without monitoring); a
coordinator then prints 'SESSION <session id> <workflow id>' for each --start and 'DONE <session id>
<state>' when the session ends.
"""


def add_agent_parser(commands: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        "agent",
        help="run one agent (requester, provider, executor or coordinator) as this process",
        description=AGENT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "role", choices=["requester", "provider", "executor", "coordinator"], help="which agent this process is"
    )
    parser.add_argument("--id", dest="agent_id", help="agent id (default: <role>-<random>)")
    parser.add_argument(
        "--http-port", type=int, default=None, help="monitoring port (default 8001/8002/8003 by role; 0 any, -1 off)"
    )
    parser.add_argument(
        "--http-host",
        default=os.environ.get("A2A_FAST_HTTP_HOST", "127.0.0.1"),
        help="monitoring address to bind (default 127.0.0.1, or $A2A_FAST_HTTP_HOST; containers use 0.0.0.0)",
    )
    parser.add_argument("--topic-prefix", default="", help="namespace prepended to every topic name")
    parser.add_argument(
        "--group",
        default=None,
        help="consumer group (default: providers.<skills> and executors.<capabilities>, a pool per set of skills;"
        " requester-<id>)",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="partitions of the topics this agent creates (default: topics.partitions of the config, 3); an"
        " existing topic keeps its own. Members of a group beyond the partition count get no work, so run at most"
        " this many providers (and executors) per group",
    )
    parser.add_argument(
        "--transactional",
        action="store_true",
        default=None,
        help="write in Kafka transactions: each handled record's outputs commit together with its offset, so a"
        " crash can neither lose nor double them (default: transactions.enabled of the config, off)",
    )
    parser.add_argument(
        "--dedupe-size",
        type=int,
        default=None,
        metavar="N",
        help="ids of handled records remembered, so that one delivered again is dropped (default 100000); 0 turns"
        " this dedupe off",
    )
    add_logging_options(parser)
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help=f"config YAML: protocol limits, and the kafka, schema_registry and signing sections (default:"
        f" ${CONFIG_ENV}, else built-in)",
    )
    add_kafka_config_option(parser)
    provider = parser.add_argument_group("provider")
    provider.add_argument(
        "--skills",
        nargs="+",
        default=None,
        metavar="NAME=MIN_PRICE",
        help="skills offered and the least each is done for (default: summarize, translate, classify, analyze)",
    )
    provider.add_argument("--markup", type=float, default=1.5, help="opening ask = minimum price * markup")
    provider.add_argument("--concession", type=float, default=0.5, help="share of the gap conceded per round")
    provider.add_argument("--max-rounds", type=int, default=None, help="rounds before giving up (both roles)")
    executor = parser.add_argument_group("executor")
    executor.add_argument("--handlers", default=None, metavar="MODULE:NAME", help="mapping capability → handler")
    executor.add_argument("--max-tasks", type=int, default=8, help="tasks run at the same time")
    executor.add_argument(
        "--read-ahead",
        type=int,
        default=None,
        help="accepted tasks read beyond the running ones, waiting for a slot by priority (default: --max-tasks);"
        " no more are fetched until a slot frees",
    )
    executor.add_argument(
        "--failure-threshold",
        type=int,
        default=None,
        help="tasks failed in a row after which the executor leaves its pool for the cool-down (default:"
        " executors.failure_threshold of the config, 5)",
    )
    executor.add_argument(
        "--cooldown",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long it stays out of its pool then (default: executors.cooldown_seconds of the config, 30)",
    )
    requester = parser.add_argument_group("requester")
    requester.add_argument(
        "--task", action="append", default=[], metavar="CAPABILITY:COST:DESCRIPTION", help="request a task (repeat)"
    )
    requester.add_argument("--budget", type=float, default=None, help="most the requester pays per task")
    coordinator = parser.add_argument_group("coordinator")
    coordinator.add_argument(
        "--workflows",
        default=None,
        metavar="FILE|MODULE:NAME",
        help="workflow definitions: a YAML or JSON file, or a Python sequence of them (default: the demo's)",
    )
    coordinator.add_argument("--start", action="append", default=[], metavar="WORKFLOW", help="start a session")
    coordinator.add_argument("--agents", nargs="+", default=[], metavar="ID", help="agents the sessions may use")
    coordinator.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="session input")
    return parser


def build_agent(args: argparse.Namespace) -> Agent:
    from a2a_fast.stack import Endpoints
    from a2a_fast.transport.kafka import KafkaTransport

    protocol = load_config(args.config)
    endpoints = Endpoints.from_env()
    transport = KafkaTransport.from_env(endpoints.kafka, endpoints.schema_registry, config_file=args.config)
    identity = transport.signing.identity if transport.signing is not None else None
    # Signing as an agent means being that agent: its key names the id, unless --id says otherwise.
    agent_id = args.agent_id or (identity.agent if identity else f"{args.role}-{uuid.uuid4().hex[:6]}")
    port = DEFAULT_PORTS[args.role] if args.http_port is None else args.http_port
    if args.partitions is not None and args.partitions < 1:
        raise ConfigError(f"--partitions: must be at least 1, got {args.partitions}")
    if args.dedupe_size is not None and args.dedupe_size < 0:
        raise ConfigError(f"--dedupe-size: must be 0 (off) or more, got {args.dedupe_size}")
    config = AgentConfig(
        agent_id=agent_id,
        kafka=endpoints.kafka,
        schema_registry=endpoints.schema_registry,
        topics=TopicNames(args.topic_prefix),
        group_id=args.group,
        http_port=None if port < 0 else port,
        http_port_fallback=args.http_port is None,
        http_host=args.http_host,
        partitions=args.partitions or protocol.topics.partitions,
        protocol=protocol,
        wait_for_services=True,
        transport=transport,
        transactional=args.transactional,
    )
    if args.dedupe_size is not None:
        config = replace(config, dedupe_size=args.dedupe_size)
    if args.role == "provider":
        from a2a_fast.agents.provider import Provider

        pricing = PricingPolicy(args.markup, args.concession, args.max_rounds or 5)
        return Provider(config, parse_skills(args.skills) if args.skills else DEFAULT_SKILLS, pricing)
    if args.role == "executor":
        from a2a_fast.agents.builtin import DEMO_HANDLERS, load_handlers
        from a2a_fast.agents.executor import Executor

        handlers = load_handlers(args.handlers) if args.handlers else DEMO_HANDLERS
        return Executor(
            config,
            handlers,
            max_tasks=args.max_tasks,
            read_ahead=args.read_ahead,
            failure_threshold=args.failure_threshold,
            cooldown=args.cooldown,
        )
    if args.role == "coordinator":
        from a2a_fast.agents.builtin import DEMO_WORKFLOWS
        from a2a_fast.agents.coordinator import Coordinator
        from a2a_fast.workflows.definitions import load_workflows

        workflows = load_workflows(args.workflows) if args.workflows else list(DEMO_WORKFLOWS)
        return Coordinator(config, workflows=workflows)
    from a2a_fast.agents.requester import Requester

    return Requester(config, BudgetPolicy(args.budget, args.max_rounds or 4))


def _announce(agent: Agent) -> None:
    print(f"READY {agent.role} {agent.agent_id} http={agent.http_port or '-'}", flush=True)


async def _request_all(agent: Agent, tasks: list[str]) -> int:
    from a2a_fast.agents.requester import Requester

    assert isinstance(agent, Requester)
    async with agent:
        _announce(agent)
        jobs = []
        for spec in tasks:
            capability, cost, description = [*spec.split(":", 2), "", ""][:3]
            jobs.append(
                agent.request_task(description or capability, float(cost) if cost else None, capability=capability)
            )
        for outcome in await asyncio.gather(*jobs):
            print(json.dumps(asdict(outcome), default=str), flush=True)
    return 0


def _parse_params(items: list[str]) -> dict[str, str]:
    params = {}
    for item in items:
        name, found, value = item.partition("=")
        if not found or not name:
            raise ConfigError(f"--param {item!r}: expected NAME=VALUE")
        params[name] = value
    return params


def _coordinate(agent: Agent, args: argparse.Namespace) -> Any:
    """The ``ready`` callback of a coordinator: announces it, then starts the ``--start`` sessions."""
    from a2a_fast.agents.coordinator import Coordinator

    assert isinstance(agent, Coordinator)
    params = _parse_params(args.param)
    jobs: list[asyncio.Task[None]] = []

    async def start_all() -> None:
        for workflow_id in args.start:
            session_id = await agent.start_collaboration(workflow_id, args.agents, params)
            print(f"SESSION {session_id} {workflow_id}", flush=True)
            jobs.append(asyncio.get_running_loop().create_task(report(session_id)))

    async def report(session_id: str) -> None:
        status = await agent.wait_for(session_id)
        print(f"DONE {session_id} {status.state}", flush=True)

    def ready(started: Agent) -> None:
        _announce(started)
        jobs.append(asyncio.get_running_loop().create_task(start_all()))

    return ready


def run_agent(args: argparse.Namespace) -> int:
    import uvloop

    agent = build_agent(args)
    configure_logging(json=args.log_json, level=args.log_level.upper(), defaults={"agent_id": agent.agent_id})
    if args.role == "requester" and args.task:
        return uvloop.run(_request_all(agent, args.task))
    if args.role == "coordinator":
        _parse_params(args.param)  # a bad --param fails before anything starts
        return uvloop.run(serve(agent, _coordinate(agent, args)))
    return uvloop.run(serve(agent, _announce))
