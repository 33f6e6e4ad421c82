"""A2A agent cards in the mesh: the Kafka interface they advertise, and where the directory keeps them.

An A2A agent running in the mesh publishes its ``AgentCard`` in the directory like every agent publishes its
card: the directory entry's capabilities are the card's skill ids, and its ``resources["a2a"]`` hold the A2A
card itself in ProtoJSON (``card``, and ``extendedCard`` when the agent has one), with the Kafka interface
first in ``supportedInterfaces``::

    {"url": "kafka://127.0.0.1:19092/a2a-agents.echo?schema-registry=http%3A%2F%2F...",
     "protocolBinding": "urn:a2a-fast:binding:kafka:v1", "protocolVersion": "1.0"}

The URL names the bootstrap servers, the consumer group of the agent's pool (its path) and, as query
parameters, the mesh's topic prefix (``topic-prefix``) and the schema registry (``schema-registry``).
:func:`find_card` reads a card back from the directory; the client transport reads the URL with
:func:`parse_address`.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from a2a.types import AgentCard, AgentInterface
from google.protobuf import json_format

from a2a_fast.a2a.binding import A2A_VERSION, KAFKA_BINDING
from a2a_fast.errors import ConfigError, RoutingError
from a2a_fast.mesh.directory import AgentDirectory, AgentInfo
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport import Transport, as_transport

__all__ = [
    "ROLE",
    "KafkaAddress",
    "a2a_card",
    "advertised_card",
    "card_resources",
    "find_card",
    "kafka_interface",
    "parse_address",
]

ROLE: Final = "a2a-agent"
"""The directory role (``agentType``) of A2A agents running in the mesh."""
_SCHEME: Final = "kafka"


@dataclass(frozen=True, slots=True)
class KafkaAddress:
    """Where a Kafka interface's agent is: bootstrap servers, its pool's group, the topic prefix, the registry."""

    bootstrap: str
    pool: str
    topic_prefix: str
    schema_registry: str

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    def url(self) -> str:
        query = urllib.parse.urlencode(
            [("topic-prefix", self.topic_prefix)] * bool(self.topic_prefix)
            + [("schema-registry", self.schema_registry)] * bool(self.schema_registry)
        )
        return urllib.parse.urlunsplit((_SCHEME, self.bootstrap, "/" + self.pool, query, ""))


def parse_address(url: str, connection: bool = True) -> KafkaAddress:
    """The address in a Kafka interface URL; raises :class:`ConfigError` naming what is missing.

    ``KAFKA_BROKER`` and ``SCHEMA_REGISTRY_URL``, when set, replace the URL's bootstrap servers and registry:
    the deployment knows best how this process reaches them. With ``connection`` False only the pool and the
    topic prefix are needed (the caller is connected already)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != _SCHEME:
        raise ConfigError(f"A2A interface URL {url!r}: expected a kafka:// URL")
    pool = parts.path.strip("/")
    if not pool:
        raise ConfigError(f"A2A interface URL {url!r}: the path must name the agent's consumer group")
    query = dict(urllib.parse.parse_qsl(parts.query))
    bootstrap = os.environ.get("KAFKA_BROKER") or parts.netloc
    registry = os.environ.get("SCHEMA_REGISTRY_URL") or query.get("schema-registry", "")
    if not connection:
        return KafkaAddress(bootstrap, pool, query.get("topic-prefix", ""), registry)
    if not bootstrap:
        raise ConfigError(f"A2A interface URL {url!r}: no bootstrap servers (and KAFKA_BROKER is not set)")
    if not registry:
        raise ConfigError(f"A2A interface URL {url!r}: no schema-registry (and SCHEMA_REGISTRY_URL is not set)")
    return KafkaAddress(bootstrap, pool, query.get("topic-prefix", ""), registry)


def kafka_interface(transport: Transport, pool: str, topics: TopicNames) -> AgentInterface:
    """The Kafka interface of an agent whose pool is consumer group ``pool`` on ``transport``'s broker."""
    bootstrap = transport.bootstrap.split("://", 1)[-1]
    address = KafkaAddress(bootstrap, pool, topics.prefix, transport.schema_registry_url)
    return AgentInterface(url=address.url(), protocol_binding=KAFKA_BINDING, protocol_version=A2A_VERSION)


def advertised_card(card: AgentCard, interface: AgentInterface, extended: bool) -> AgentCard:
    """``card`` as the mesh shows it: the Kafka interface first (then the card's other interfaces), no push
    notifications (the binding answers their calls with ``PushNotificationNotSupportedError``), and an extended
    card declared when the agent has one."""
    shown = AgentCard()
    shown.CopyFrom(card)
    del shown.supported_interfaces[:]
    shown.supported_interfaces.append(interface)
    shown.supported_interfaces.extend(
        other for other in card.supported_interfaces if other.protocol_binding != KAFKA_BINDING
    )
    shown.capabilities.push_notifications = False
    shown.capabilities.extended_agent_card = extended
    return shown


def card_resources(card: AgentCard, extended: AgentCard | None) -> dict[str, Any]:
    """What the directory entry's ``resources["a2a"]`` holds: the card, and the extended card if any."""
    entry: dict[str, Any] = {"card": json_format.MessageToDict(card)}
    if extended is not None:
        entry["extendedCard"] = json_format.MessageToDict(extended)
    return entry


def a2a_card(info: AgentInfo, extended: bool = False) -> AgentCard | None:
    """The A2A card (or with ``extended``, the extended card) a directory entry carries, None when it has none."""
    entry = info.card.resources.get("a2a")
    if not isinstance(entry, dict):
        return None
    data = entry.get("extendedCard" if extended else "card")
    if not isinstance(data, dict):
        return None
    return json_format.ParseDict(data, AgentCard(), ignore_unknown_fields=True)


def matching(infos: Iterable[AgentInfo], agent: str) -> list[tuple[AgentInfo, AgentCard]]:
    """The live A2A agents whose card is named ``agent`` or that have a skill of that id (case-insensitive),
    most recently heard from first."""
    wanted = agent.strip().lower()
    found = []
    for info in infos:
        if not info.alive or info.card.agent_type != ROLE:
            continue
        card = a2a_card(info)
        if card is None:
            continue
        if card.name.strip().lower() == wanted or any(skill.id.strip().lower() == wanted for skill in card.skills):
            found.append((info, card))
    return sorted(found, key=lambda pair: -pair[0].last_seen)


async def find_card(
    agent: str,
    kafka: str | Transport | None = None,
    topic_prefix: str = "",
    directory: AgentDirectory | None = None,
) -> AgentCard:
    """The card of a live A2A agent of the mesh named ``agent``, or offering a skill of that id, read from the
    directory (``directory``, else the one on ``kafka``, default ``KAFKA_BROKER`` or the local stack).

    Raises :class:`~a2a_fast.errors.RoutingError` naming the agent when no live one matches."""
    if directory is not None:
        found = matching(directory.get_all_agents(), agent)
        where = directory.topic
    else:
        from a2a_fast.stack import Endpoints

        target = kafka if kafka is not None else Endpoints.from_env().kafka
        names = TopicNames(topic_prefix)
        async with AgentDirectory(as_transport(target), names.agents) as reader:
            found = matching(reader.get_all_agents(), agent)
        where = names.agents
    if not found:
        raise RoutingError(f"no live A2A agent named {agent!r} or with a skill {agent!r} in the directory ({where})")
    return found[0][1]
