"""The A2A protocol over Kafka: the A2A SDK's clients and agents in the mesh, with no HTTP in between.

* :mod:`~a2a_fast.a2a.binding`: the binding's wire contract (:data:`KAFKA_BINDING`, the methods, service
  parameters as headers, the error table); ``docs/a2a-kafka-binding.md`` is its document.
* :mod:`~a2a_fast.a2a.client`: :class:`KafkaClientTransport`, the SDK ``ClientTransport`` for the binding, and
  :class:`KafkaCaller`, the Kafka side transports share.
* :mod:`~a2a_fast.a2a.server`: :class:`A2AAgent`, any SDK ``AgentExecutor`` as a mesh agent.
* :mod:`~a2a_fast.a2a.cards`: agent cards with their Kafka interface, in the mesh directory (:func:`find_card`).
* :mod:`~a2a_fast.a2a.states`: A2A task states ↔ a2a_fast task states; :mod:`~a2a_fast.a2a.tasks`: tasks folded
  from their events.

Needs the ``a2a`` extra (``pip install 'a2a-fast[a2a]'``, the A2A SDK).
"""

from __future__ import annotations

from a2a_fast.a2a.binding import A2A_VERSION, KAFKA_BINDING
from a2a_fast.a2a.cards import find_card
from a2a_fast.a2a.client import KafkaCaller, KafkaClientTransport, register
from a2a_fast.a2a.server import A2AAgent
from a2a_fast.a2a.states import a2a_state, mesh_state

__all__ = [
    "A2A_VERSION",
    "KAFKA_BINDING",
    "A2AAgent",
    "KafkaCaller",
    "KafkaClientTransport",
    "a2a_state",
    "find_card",
    "mesh_state",
    "register",
]
