"""The agent mesh: a directory of live agents, routing across them, protocol metrics, limits and A2A edges.

* :mod:`~a2a_fast.mesh.directory`: :class:`AgentDirectory` (who is alive, with which capabilities) built
  from a compacted topic, and :class:`Presence` (one agent's REGISTER / HEARTBEAT / STATE_SYNC / DEREGISTER).
* :mod:`~a2a_fast.mesh.router`: :class:`MeshRouter`, named rules and capability routing over live agents.
* :mod:`~a2a_fast.mesh.protocol_metrics`: :class:`ProtocolMetrics`, per-protocol operation statistics.
* :mod:`~a2a_fast.mesh.limits`: :class:`MessageLimits`, message size and time-to-live.
* :mod:`~a2a_fast.mesh.gateway`: :class:`MeshGateway` and :class:`MeshInbox`, A2A JSON messages in and out.
* :mod:`~a2a_fast.mesh.member`: :class:`MeshMember`, what every :class:`~a2a_fast.runtime.Agent` runs.
* :mod:`~a2a_fast.mesh.workflows`: collaboration workflows run step by step across live agents by a
  :class:`~a2a_fast.mesh.workflows.Coordinator`, kept as event-sourced sessions on the log.
"""

from __future__ import annotations

from a2a_fast.mesh.directory import AgentCard, AgentDirectory, AgentInfo, AgentState, Presence
from a2a_fast.mesh.limits import MessageLimits
from a2a_fast.mesh.protocol_metrics import ProtocolMetrics
from a2a_fast.mesh.router import MeshRouter, RoutingRule

__all__ = [
    "AgentCard",
    "AgentDirectory",
    "AgentInfo",
    "AgentState",
    "MeshRouter",
    "MessageLimits",
    "Presence",
    "ProtocolMetrics",
    "RoutingRule",
]
