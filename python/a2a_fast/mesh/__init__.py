"""The agent mesh: a directory of live agents, routing across them, protocol metrics and limits.

* :mod:`a2a_fast.mesh.directory`: :class:`AgentDirectory` (who is alive, with which capabilities) built from
  a compacted topic, and :class:`Presence` (one agent's REGISTER / HEARTBEAT / STATE_SYNC / DEREGISTER).
* :mod:`a2a_fast.mesh.workflows`: collaboration workflows run step by step across live agents by a
  :class:`~a2a_fast.mesh.workflows.Coordinator`, kept as event-sourced sessions on the log.
"""

from __future__ import annotations

from a2a_fast.mesh.directory import AgentCard, AgentDirectory, AgentInfo, AgentState, Presence

__all__ = ["AgentCard", "AgentDirectory", "AgentInfo", "AgentState", "Presence"]
