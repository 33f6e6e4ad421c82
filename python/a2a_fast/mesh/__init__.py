"""The agent mesh: a directory of live agents, routing across them, and A2A JSON at its edges.

* :mod:`~a2a_fast.mesh.directory`: :class:`AgentDirectory` (who is alive, with which capabilities) built
  from a compacted topic, and :class:`Presence` (one agent's REGISTER / HEARTBEAT / STATE_SYNC / DEREGISTER).
* :mod:`~a2a_fast.mesh.routing`: the native routing table; :mod:`~a2a_fast.mesh.router`: :class:`MeshRouter`,
  named rules and capability routing over the directory's live agents.
* :mod:`~a2a_fast.mesh.gateway`: :class:`MeshGateway` and :class:`MeshInbox`, A2A JSON messages in and out.
* :mod:`~a2a_fast.mesh.member`: :class:`MeshMember`, what every :class:`~a2a_fast.agents.base.Agent` runs.
"""

from __future__ import annotations

from a2a_fast.mesh.directory import AgentCard, AgentDirectory, AgentInfo, AgentState, Presence
from a2a_fast.mesh.router import MeshRouter, RoutingRule

__all__ = ["AgentCard", "AgentDirectory", "AgentInfo", "AgentState", "MeshRouter", "Presence", "RoutingRule"]
