"""Per-role access control on the broker's own authorizer: what each role's principal may write and read.

Each role writes only the topics it produces on and reads only the topics and consumer groups it consumes
(an executor may not write task requests; a provider may not join the executors' groups). Kafka cannot tell
the statuses apart on one topic (providers and executors both write ``task-responses``): that is what record
signatures are for (:mod:`a2a_fast.protocol.signing`).

=============  ======================================  ====================================  =====================
role           writes                                  reads                                 consumer groups
=============  ======================================  ====================================  =====================
requester      task-requests, negotiations,            task-responses, task-requests,        ``requester-*``
               task-responses (rejecting its own       negotiations (rebuilding its open
               unserved request)                       requests)
provider       task-responses                          task-requests, negotiations           ``providers.*``
executor       task-responses, collaborations          task-responses, collaborations        ``executors.*``,
               (workflow step results)                                                       ``steps-*``
coordinator    collaborations                          collaborations                        ``coordinator-*``
a2a-agent      a2a.events                              a2a.requests, a2a.events (its         ``a2a-agents.*``
                                                       pool's tasks)
a2a-client     a2a.requests                            a2a.events                            ``a2a-clients.*``
=============  ======================================  ====================================  =====================

Every role also writes the dead letters and the agent directory, reads the directory, and may see (describe)
every topic of the mesh. Names are those of one mesh (its topic prefix); the groups are prefixed ACLs, since
each agent or pool has a group of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from a2a_fast.errors import ConfigError, StackError
from a2a_fast.protocol.roles import ROLES
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport.base import Transport

__all__ = ["GROUP_PREFIXES", "ROLE_ACCESS", "Access", "Grant", "apply_grants", "grants", "parse_principals"]


@dataclass(frozen=True, slots=True)
class Access:
    """The topic roles (attributes of :class:`TopicNames`) a role writes and reads, and its group prefixes."""

    writes: tuple[str, ...]
    reads: tuple[str, ...]
    groups: tuple[str, ...]


GROUP_PREFIXES: Final = {
    "requester": ("requester-",),
    "provider": ("providers.",),
    "executor": ("executors.", "steps-"),
    "coordinator": ("coordinator-",),
    "a2a-agent": ("a2a-agents.",),
    "a2a-client": ("a2a-clients.",),
}
"""The start of each role's consumer group names (after the topic prefix), as the agents name them."""

ROLE_ACCESS: Final[Mapping[str, Access]] = {
    "requester": Access(
        writes=("requests", "negotiations", "responses"),
        reads=("responses", "requests", "negotiations"),
        groups=GROUP_PREFIXES["requester"],
    ),
    "provider": Access(("responses",), ("requests", "negotiations"), GROUP_PREFIXES["provider"]),
    "executor": Access(("responses", "collaborations"), ("responses", "collaborations"), GROUP_PREFIXES["executor"]),
    "coordinator": Access(("collaborations",), ("collaborations",), GROUP_PREFIXES["coordinator"]),
    "a2a-agent": Access(("a2a_events",), ("a2a_requests", "a2a_events"), GROUP_PREFIXES["a2a-agent"]),
    "a2a-client": Access(("a2a_requests",), ("a2a_events",), GROUP_PREFIXES["a2a-client"]),
}
_EVERY_ROLE_WRITES: Final = ("dlq", "agents")
_EVERY_ROLE_READS: Final = ("agents",)
_MESH_TOPICS: Final = (
    *("requests", "responses", "negotiations", "collaborations", "dlq", "agents"),
    *("a2a_requests", "a2a_events"),
)


@dataclass(frozen=True, slots=True, order=True)
class Grant:
    """One ACL: ``principal`` may do ``operation`` on the topic or group ``name`` (a prefix when ``prefixed``)."""

    principal: str
    resource: str  # "topic" or "group"
    name: str
    operation: str  # "WRITE", "READ" or "DESCRIBE"
    prefixed: bool = False

    def line(self) -> str:
        pattern = "prefix " if self.prefixed else ""
        return f"{self.principal} ALLOW {self.operation} on {self.resource} {pattern}{self.name}"


def parse_principals(items: Iterable[str]) -> dict[str, str]:
    """``["provider=User:svc-provider"]`` over the default ``User:<role>`` of every role."""
    principals = {role: f"User:{role}" for role in ROLES}
    for item in items:
        role, found, principal = item.partition("=")
        if not found or role not in ROLES or ":" not in principal:
            raise ConfigError(f"--principal {item!r}: expected ROLE=TYPE:NAME, ROLE one of {', '.join(ROLES)}")
        principals[role] = principal
    return principals


def grants(topics: TopicNames, principals: Mapping[str, str]) -> list[Grant]:
    """Every ACL of the mesh ``topics`` for the roles' ``principals``, without duplicates, in order."""
    found: set[Grant] = set()
    for role, access in ROLE_ACCESS.items():
        principal = principals[role]

        def topic(attribute: str, operation: str, principal: str = principal) -> None:
            found.add(Grant(principal, "topic", getattr(topics, attribute), operation))

        for attribute in (*access.writes, *_EVERY_ROLE_WRITES):
            topic(attribute, "WRITE")
        for attribute in (*access.reads, *_EVERY_ROLE_READS):
            topic(attribute, "READ")
        for attribute in _MESH_TOPICS:
            topic(attribute, "DESCRIBE")
        for prefix in access.groups:
            found.add(Grant(principal, "group", topics.prefix + prefix, "READ", prefixed=True))
    return sorted(found)


def apply_grants(transport: Transport, wanted: Sequence[Grant], timeout: float = 30.0) -> None:
    """Creates the ACLs on the broker (one that exists already is left as it is)."""
    from confluent_kafka import KafkaException

    # Where the client defines them: its package does not re-export them for type checkers.
    from confluent_kafka.admin._acl import AclBinding, AclOperation, AclPermissionType
    from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

    bindings: list[Any] = [
        AclBinding(
            ResourceType.TOPIC if grant.resource == "topic" else ResourceType.GROUP,
            grant.name,
            ResourcePatternType.PREFIXED if grant.prefixed else ResourcePatternType.LITERAL,
            grant.principal,
            "*",
            AclOperation[grant.operation],
            AclPermissionType.ALLOW,
        )
        for grant in wanted
    ]
    admin: Any = transport.admin()
    for binding, future in admin.create_acls(bindings, request_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as error:
            detail = error.args[0].str()
            raise StackError(
                f"Kafka at {transport.bootstrap} refused to create the ACL {binding}: {detail} (the principal this "
                "runs as needs ALTER on the cluster, e.g. a super user)"
            ) from None
