"""One agent's place in the mesh: its directory, presence and router, started and stopped with the agent.

:class:`~a2a_fast.agents.base.Agent` joins the mesh at start (once its monitoring server listens, before it
joins its consumer group) and leaves it first thing on stop, so routers stop choosing it before it drains. A refused
registration (:class:`~a2a_fast.errors.AgentIdInUseError`, :class:`~a2a_fast.errors.MaxAgentsError`)
fails the agent's start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from a2a_fast.config import ProtocolConfig
from a2a_fast.mesh.directory import AgentCard, AgentDirectory, AgentState, Incarnation, Presence
from a2a_fast.mesh.router import MeshRouter
from a2a_fast.observability.protocol_metrics import ProtocolMetrics

if TYPE_CHECKING:
    from a2a_fast.protocol.topics import TopicNames
    from a2a_fast.transport import Transport

__all__ = ["MeshMember"]


class MeshMember:
    """The directory (on ``topics.agents``), the agent's :class:`Presence` and a :class:`MeshRouter`.

    With ``announce`` False the agent reads the directory and routes but is not listed in it (a one-off
    requester of a person at a terminal, say). With a ``state_dir`` the agent's claim on its id is an
    :class:`~a2a_fast.mesh.directory.Incarnation` kept there, so a restart on this host takes it over at once."""

    def __init__(
        self,
        kafka: str | Transport,
        topics: TopicNames,
        card: AgentCard,
        state: Callable[[], AgentState],
        config: ProtocolConfig,
        metrics: ProtocolMetrics,
        announce: bool = True,
        state_dir: Path | None = None,
    ) -> None:
        self.directory = AgentDirectory(kafka, topics.agents, config, metrics=metrics.registry)
        incarnation = None
        if state_dir is not None:
            incarnation = Incarnation.for_agent(state_dir, self.directory.kafka, topics.agents, card.agent_id)
        self.presence = (
            Presence(self.directory, card, state, metrics=metrics.registry, incarnation=incarnation)
            if announce
            else None
        )
        self.router = MeshRouter(self.directory, metrics=metrics)

    async def start(self) -> None:
        await self.directory.start()
        try:
            if self.presence is not None:
                await self.presence.start()
        except (Exception, asyncio.CancelledError):  # a coroutine closed unfinished cannot await its clean-up
            await self.stop()
            raise

    async def stop(self, deregister: bool = True) -> None:
        if self.presence is not None:
            await self.presence.stop(deregister)
        self.router.close()
        await self.directory.stop()
