"""a2a_fast: native-accelerated agent-to-agent messaging over Kafka-API brokers.

The names below are what a program embedding agents needs; ``README.md`` ("Using a2a_fast from Python") shows
them at work, and ``examples/`` has runnable scripts. A small mesh in one process::

    import uvloop
    from a2a_fast import AgentConfig, Endpoints, Executor, Provider, Requester, TaskContext, TopicNames

    async def shout(task: TaskContext) -> dict[str, str]:
        return {"text": task.description.upper()}

    async def main() -> None:
        where = Endpoints.from_env()  # KAFKA_BROKER and SCHEMA_REGISTRY_URL, else the local stack

        def config(agent_id: str) -> AgentConfig:
            return AgentConfig(agent_id, where.kafka, where.schema_registry, topics=TopicNames("mine."))

        async with (
            Provider(config("provider-1"), {"shout": 10.0}),
            Executor(config("executor-1"), {"shout": shout}),
            Requester(config("requester-1")) as requester,
        ):
            outcome = await requester.request_task("hello", 10.0, capability="shout", max_wait=60)
            print(outcome.status, outcome.result)

    uvloop.run(main())

* Agents: :class:`Agent` (the runtime every role shares), :class:`AgentConfig`, and the roles
  :class:`Requester` (asks for tasks, negotiates with a :class:`BudgetPolicy`, gets a :class:`TaskOutcome`),
  :class:`Provider` (prices requests for its skills with a :class:`PricingPolicy`, each move a
  :class:`Decision`), :class:`Executor` (runs accepted tasks with :data:`TaskHandler` functions of a
  :class:`TaskContext`) and :class:`Coordinator` (runs :class:`WorkflowDefinition` sessions of
  :class:`WorkflowStep` s, reporting a :class:`CollaborationStatus`); :func:`serve` runs one until SIGTERM.
* The mesh: :class:`AgentDirectory` (who is registered and alive, each with an :class:`AgentCard`) and
  :class:`MeshRouter` (choosing a live agent by capability).
* Where and how: :class:`Endpoints` (the broker and registry addresses), :class:`TopicNames` (a mesh's topics
  under a prefix), :class:`ProtocolConfig` and :func:`load_config` (limits), :func:`load_workflows`, and the
  transports :class:`KafkaTransport` and :class:`MemoryTransport` (an in-memory broker and registry for unit
  tests) behind the :class:`Transport` protocol.
* Every error derives from :class:`A2AError` (:mod:`a2a_fast.errors`).

Everything but the errors is imported on first use, so ``import a2a_fast`` stays cheap.
"""

from __future__ import annotations

import importlib

from a2a_fast._native import __version__
from a2a_fast.errors import (
    A2AError,
    AgentIdInUseError,
    AuthorizationError,
    ConfigError,
    DecodeError,
    LimitError,
    MaxAgentsError,
    MessageExpiredError,
    MessageTooLargeError,
    RegistrationError,
    RoutingError,
    SchemaError,
    ServiceUnavailableError,
    SessionLimitError,
    StackError,
    TaskFinalError,
    UnknownSessionError,
    UnknownTaskError,
    UnknownWorkflowError,
    ValidationError,
    WorkflowError,
)

# Not typing.TYPE_CHECKING: importing typing would triple the time `import a2a_fast` takes; type checkers read any
# constant of this name the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from a2a_fast.agents.base import Agent, AgentConfig, serve
    from a2a_fast.agents.coordinator import Coordinator
    from a2a_fast.agents.executor import Executor
    from a2a_fast.agents.policies import BudgetPolicy, Decision, PricingPolicy
    from a2a_fast.agents.provider import Provider
    from a2a_fast.agents.requester import Requester, TaskOutcome
    from a2a_fast.agents.tasks import TaskContext, TaskHandler
    from a2a_fast.config import ProtocolConfig, load_config
    from a2a_fast.mesh.directory import AgentCard, AgentDirectory
    from a2a_fast.mesh.router import MeshRouter
    from a2a_fast.protocol.topics import TopicNames
    from a2a_fast.stack import Endpoints
    from a2a_fast.transport.base import Transport
    from a2a_fast.transport.kafka import KafkaTransport
    from a2a_fast.transport.memory import MemoryTransport
    from a2a_fast.workflows.definitions import WorkflowDefinition, WorkflowStep, load_workflows
    from a2a_fast.workflows.sessions import CollaborationStatus

_LAZY = {
    "Agent": "a2a_fast.agents.base",
    "AgentConfig": "a2a_fast.agents.base",
    "serve": "a2a_fast.agents.base",
    "Coordinator": "a2a_fast.agents.coordinator",
    "Executor": "a2a_fast.agents.executor",
    "BudgetPolicy": "a2a_fast.agents.policies",
    "Decision": "a2a_fast.agents.policies",
    "PricingPolicy": "a2a_fast.agents.policies",
    "Provider": "a2a_fast.agents.provider",
    "Requester": "a2a_fast.agents.requester",
    "TaskOutcome": "a2a_fast.agents.requester",
    "TaskContext": "a2a_fast.agents.tasks",
    "TaskHandler": "a2a_fast.agents.tasks",
    "ProtocolConfig": "a2a_fast.config",
    "load_config": "a2a_fast.config",
    "AgentCard": "a2a_fast.mesh.directory",
    "AgentDirectory": "a2a_fast.mesh.directory",
    "MeshRouter": "a2a_fast.mesh.router",
    "TopicNames": "a2a_fast.protocol.topics",
    "Endpoints": "a2a_fast.stack",
    "Transport": "a2a_fast.transport.base",
    "KafkaTransport": "a2a_fast.transport.kafka",
    "MemoryTransport": "a2a_fast.transport.memory",
    "WorkflowDefinition": "a2a_fast.workflows.definitions",
    "WorkflowStep": "a2a_fast.workflows.definitions",
    "load_workflows": "a2a_fast.workflows.definitions",
    "CollaborationStatus": "a2a_fast.workflows.sessions",
}

__all__ = [
    "A2AError",
    "Agent",
    "AgentCard",
    "AgentConfig",
    "AgentDirectory",
    "AgentIdInUseError",
    "AuthorizationError",
    "BudgetPolicy",
    "CollaborationStatus",
    "ConfigError",
    "Coordinator",
    "Decision",
    "DecodeError",
    "Endpoints",
    "Executor",
    "KafkaTransport",
    "LimitError",
    "MaxAgentsError",
    "MemoryTransport",
    "MeshRouter",
    "MessageExpiredError",
    "MessageTooLargeError",
    "PricingPolicy",
    "ProtocolConfig",
    "Provider",
    "RegistrationError",
    "Requester",
    "RoutingError",
    "SchemaError",
    "ServiceUnavailableError",
    "SessionLimitError",
    "StackError",
    "TaskContext",
    "TaskFinalError",
    "TaskHandler",
    "TaskOutcome",
    "TopicNames",
    "Transport",
    "UnknownSessionError",
    "UnknownTaskError",
    "UnknownWorkflowError",
    "ValidationError",
    "WorkflowDefinition",
    "WorkflowError",
    "WorkflowStep",
    "__version__",
    "load_config",
    "load_workflows",
    "serve",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'a2a_fast' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next look-up is an ordinary one
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
