"""The only code that talks to Kafka and the schema registry.

* :mod:`~a2a_fast.transport.base`: :class:`Transport`, how a process reaches the broker and registry, and the
  client interfaces; :mod:`~a2a_fast.transport.kafka` is the real one, :mod:`~a2a_fast.transport.memory` its
  in-memory twin for unit tests.
* :mod:`~a2a_fast.transport.consumer`: a consumer-group member in a worker thread (fetch, pause, rebalances,
  commits); :mod:`~a2a_fast.transport.producer`: a producer whose delivery reports the loop serves, in batches;
  :mod:`~a2a_fast.transport.offsets`: committable offsets and redelivery dedupe.
* :mod:`~a2a_fast.transport.log`: reading the log without a group (replay, tail);
  :mod:`~a2a_fast.transport.admin`: topics.
* :mod:`~a2a_fast.transport.security`: the client security settings (SASL, TLS, registry auth) every client of
  the process gets, from the environment, the YAML config and a librdkafka properties file.
"""

from __future__ import annotations

from a2a_fast.transport.base import Transport
from a2a_fast.transport.kafka import KafkaTransport

__all__ = ["KafkaTransport", "Transport", "as_transport"]


def as_transport(target: str | Transport, schema_registry: str = "") -> Transport:
    """``target`` itself, or the Kafka transport to bootstrap servers ``target`` (and ``schema_registry``) with
    this process's security settings (:meth:`KafkaTransport.from_env`)."""
    if isinstance(target, str):
        return KafkaTransport.from_env(target, schema_registry)
    return target
