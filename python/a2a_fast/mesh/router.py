"""Routing across the live agents of the directory, on the native :class:`~a2a_fast.mesh.routing.RoutingTable`.

:class:`MeshRouter` mirrors the directory into the table: every live agent with its card's capabilities,
``priority`` tier and ``weight``, and the ``load`` its last STATE_SYNC reported. An agent that deregisters,
stops heartbeating or reports ERROR (it failed, or stepped aside after failing) leaves the table as soon as the
directory notices, so nothing is routed to it.

* ``route(capability)``: the highest priority tier with a live agent, then ``strategy`` within it:
  ``round_robin`` or ``least_loaded`` (default: ``mesh.routing_strategy`` of the config). ``role`` keeps
  the choice to agents of one type (``provider``, ``executor``...): providers and executors both list
  capabilities, and a task request goes to a provider, an accepted task or a workflow step to an executor.
* ``pool_of(agent_id)``: the consumer group the agent reads in, from its card: every member of that group
  can take what is addressed to the group (``ce_targetgroup``).
* ``route_message(event)``: a message with ``targetagent`` goes to that agent only (None when it is not
  live); else the named rules in the order they were added (first whose target resolves); else the
  ``targetcapability`` attribute. ``event`` holds CloudEvent attributes; an A2A JSON message is
  converted first.
* Rules: ``add_routing_rule(name, predicate, target)``. ``predicate`` maps attribute names to patterns
  (``*`` matches any run of characters) and is matched natively; it may also be a callable taking the
  CloudEvent attribute dict. ``target`` is ``"agent:ID"`` or ``"capability:NAME"``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from a2a_fast.codecs.cloudevents import from_a2a
from a2a_fast.errors import ValidationError
from a2a_fast.mesh.directory import AgentDirectory
from a2a_fast.mesh.routing import STRATEGIES, RoutingEntry, RoutingTable
from a2a_fast.observability.protocol_metrics import ProtocolMetrics

__all__ = ["MeshRouter", "Predicate", "RoutingRule"]

Predicate = Union[Mapping[str, str], Callable[[Mapping[str, Any]], bool]]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True)
class RoutingRule:
    name: str
    predicate: Predicate
    target: str


class MeshRouter:
    """Routes to live agents of ``directory`` (or only to agents added with :meth:`upsert`, without one)."""

    def __init__(
        self,
        directory: AgentDirectory | None = None,
        *,
        strategy: str | None = None,
        metrics: ProtocolMetrics | None = None,
    ) -> None:
        chosen = strategy or (directory.config.mesh.routing_strategy if directory is not None else "round_robin")
        if chosen not in STRATEGIES:
            raise ValidationError(f"strategy: {chosen!r} is not one of {', '.join(STRATEGIES)}")
        self.strategy = chosen
        self.directory = directory
        self.metrics = metrics or ProtocolMetrics()
        self.table = RoutingTable()
        self._rules: dict[str, RoutingRule] = {}
        self._callables: dict[str, tuple[str, Callable[[Mapping[str, Any]], bool]]] = {}
        self._serial = 0
        if directory is not None:
            directory.on_change.append(self.refresh)
            self.refresh()

    def close(self) -> None:
        """Stops following the directory."""
        if self.directory is not None and self.refresh in self.directory.on_change:
            self.directory.on_change.remove(self.refresh)

    def refresh(self) -> None:
        """Rebuilds the agent table from the directory's live agents (called on every directory change)."""
        assert self.directory is not None
        self.table.replace_agents(
            RoutingEntry(
                info.agent_id,
                _capabilities(info.card.agent_type, info.card.capabilities),
                info.card.priority,
                max(1, info.card.weight),
                info.load,
            )
            for info in self.directory.get_all_agents()
            if info.alive and info.status != "ERROR"
        )

    def upsert(
        self, agent_id: str, capabilities: Iterable[str], priority: int = 0, weight: int = 1, role: str = ""
    ) -> None:
        """Adds an agent by hand (a router without a directory)."""
        self.table.upsert_agent(agent_id, _capabilities(role, capabilities), priority, weight)

    # --- rules ------------------------------------------------------------------------------------------

    def add_routing_rule(self, name: str, predicate: Predicate, target: str) -> None:
        """Adds a rule, or replaces the one named ``name`` in place."""
        if callable(predicate):
            attribute = self._callables[name][0] if name in self._callables else self._new_attribute()
            self.table.add_rule(name, {attribute: "1"}, target)
            self._callables[name] = (attribute, predicate)
        else:
            self.table.add_rule(name, dict(predicate), target)
            self._callables.pop(name, None)
        self._rules[name] = RoutingRule(name, predicate, target)

    def remove_routing_rule(self, name: str) -> bool:
        """Removes the rule ``name``; False when there was none."""
        self._callables.pop(name, None)
        self._rules.pop(name, None)
        return self.table.remove_rule(name)

    def get_all_routing_rules(self) -> list[RoutingRule]:
        """The rules in the order they are tried."""
        return [self._rules[rule.name] for rule in self.table.rules()]

    def _new_attribute(self) -> str:
        # A callable rule is a native rule on a private attribute, set when the callable matches, so
        # native and callable rules keep one order.
        self._serial += 1
        return f"meshrule{self._serial}"

    # --- routing ----------------------------------------------------------------------------------------

    def route(
        self,
        capability: str,
        strategy: str | None = None,
        exclude: Iterable[str] | None = None,
        role: str | None = None,
    ) -> str | None:
        """A live agent offering ``capability`` (of type ``role`` when given), or None."""
        started = time.perf_counter()
        if self.directory is not None:
            self.directory.expire()
        wanted = capability.strip().lower()
        if role:
            wanted = f"{role}/{wanted}"
        chosen = self.table.route(wanted, strategy or self.strategy, exclude)
        self._record("route", started, chosen is not None)
        return chosen

    def agents_for(self, capability: str, role: str | None = None) -> list[str]:
        """The live agents offering ``capability`` (of type ``role`` when given), sorted."""
        if self.directory is not None:
            self.directory.expire()
        wanted = capability.strip().lower()
        return sorted(self.table.agents_for(f"{role}/{wanted}" if role else wanted))

    def pool_of(self, agent_id: str) -> str | None:
        """The consumer group ``agent_id`` reads in (from its card), None when unknown."""
        if self.directory is None:
            return None
        card = self.directory.card(agent_id)
        group = None if card is None else card.resources.get("group")
        return str(group) if group else None

    def route_message(self, message: Mapping[str, Any], strategy: str | None = None) -> str | None:
        """The agent ``message`` goes to (see the module docstring), or None."""
        started = time.perf_counter()
        if self.directory is not None:
            self.directory.expire()
        event: Mapping[str, Any] = from_a2a(dict(message)) if "messageId" in message else message
        if self._callables:
            marked = dict(event)
            for attribute, predicate in self._callables.values():
                if predicate(event):
                    marked[attribute] = "1"
            event = marked
        chosen = self.table.route_message(event, strategy or self.strategy)
        self._record("route_message", started, chosen is not None)
        return chosen

    def _record(self, operation: str, started: float, ok: bool) -> None:
        elapsed = time.perf_counter() - started
        if ok:
            self.metrics.record_success("mesh", operation, elapsed)
        else:
            self.metrics.record_failure("mesh", operation, elapsed)


def _capabilities(role: str, capabilities: Iterable[str]) -> list[str]:
    """An agent's capabilities for the table: each one plain and qualified by the agent's type."""
    plain = [capability.strip().lower() for capability in capabilities]
    return plain + [f"{role}/{capability}" for capability in plain] if role else plain
