"""Route messages to agents: a lock-free routing table in native code.

Agents register with the capabilities they offer, a ``priority`` tier, a ``weight`` and an
in-flight ``load``::

    from a2a_fast.mesh.routing import RoutingTable

    table = RoutingTable()
    table.upsert_agent("translator-1", ["translate"], priority=1, weight=2)
    table.upsert_agent("translator-2", ["translate"], priority=1)
    table.upsert_agent("translator-backup", ["translate"], priority=0)
    table.route("translate")                              # "translator-1" twice as often as "-2"
    table.route("translate", strategy="least_loaded")     # lowest load / weight
    table.route("translate", exclude=["translator-1"])    # e.g. a retry that prefers another agent

Choosing among the agents of a capability:

* **Priority tiers.** Only the highest-priority tier with an eligible agent is used; a lower tier
  is used only when every agent above it is excluded. Priorities may be negative.
* ``strategy="round_robin"`` (default): each capability has a rotating counter; over any run of
  ``W`` consecutive calls (``W`` the tier's total weight) each agent is chosen exactly ``weight``
  times, interleaved rather than in bursts. Calls with ``exclude`` share the counter and rotate over
  the remaining agents.
* ``strategy="least_loaded"``: the agent with the lowest ``load / weight`` (compared exactly); ties
  go to the smallest agent id, so the answer is deterministic.
* ``exclude`` is strict: excluded agents are never returned, and ``None`` comes back when nothing
  else offers the capability; a caller that may fall back simply calls again without it.

Loads are in-flight counters: ``add_load(agent_id, +1)`` when a task is sent, ``-1`` when it
completes (atomic, no update is lost), or ``set_load`` to overwrite. ``upsert_agent`` keeps the
current load unless ``load`` is given.

Messages are routed by ``route_message(event)``, ``event`` being a dict of CloudEvent attributes
(string values):

1. A ``targetagent`` attribute sends the message to that agent only: its id if the agent is
   known, else ``None``.
2. Otherwise the rules are tried in the order they were added. ``add_rule(name, match, target)``:
   ``match`` maps attribute names to patterns that must all match (an empty dict matches every
   message); a pattern is an exact string, or contains ``*`` which matches any run of characters
   (``"com.acme.invoice.*"``, ``"*.created"``); there is no escape for a literal ``*``. A missing
   attribute never matches, not even ``"*"``. ``target`` is ``"agent:ID"`` or
   ``"capability:NAME"``. The first matching rule whose target resolves (a known agent, or a
   capability with an eligible agent) wins; one that does not resolve falls through to the next.
   Adding a rule under an existing name replaces it in place.
3. Otherwise the capability named by the ``targetcapability`` attribute (configurable with
   ``RoutingTable(capability_attribute=...)``), if present; else ``None``.

Readers never take a lock and never see half an update: the table is an immutable snapshot that
writers rebuild and swap atomically. ``upsert_agents`` and ``replace_agents`` change several
agents in one swap. Bad input raises :class:`a2a_fast.errors.ValidationError` naming the argument
(``strategy``, ``capability``, ``weight``, ``load``, ``target``, ``match.<attribute>``...).
"""

from __future__ import annotations

from typing import Final

from a2a_fast._native import RoutingEntry, RoutingTable, Rule

__all__ = ["STRATEGIES", "TARGET_AGENT_ATTRIBUTE", "RoutingEntry", "RoutingTable", "Rule"]

STRATEGIES: Final = ("round_robin", "least_loaded")
"""The values accepted by ``strategy``."""

TARGET_AGENT_ATTRIBUTE: Final = "targetagent"
"""The CloudEvents extension attribute that addresses one agent directly."""
