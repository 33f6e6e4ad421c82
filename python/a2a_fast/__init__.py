"""a2a_fast: native-accelerated agent-to-agent messaging over Kafka-API brokers."""

from __future__ import annotations

from a2a_fast._native import __version__
from a2a_fast.errors import A2AError, ConfigError, DecodeError, SchemaError, StackError, ValidationError

__all__ = [
    "A2AError",
    "ConfigError",
    "DecodeError",
    "SchemaError",
    "StackError",
    "ValidationError",
    "__version__",
]
