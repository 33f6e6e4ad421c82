"""Exceptions raised by a2a_fast.

Every exception derives from :class:`A2AError`. Errors about bad input also derive from
:class:`ValueError`, so code that already catches ``ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "A2AError",
    "ConfigError",
    "DecodeError",
    "SchemaError",
    "SessionLimitError",
    "StackError",
    "UnknownSessionError",
    "UnknownWorkflowError",
    "ValidationError",
    "WorkflowError",
]


class A2AError(Exception):
    """Base class of every a2a_fast error."""


class ValidationError(A2AError, ValueError):
    """A value breaks a rule of its format; the message names the attribute or field at fault."""


class DecodeError(A2AError, ValueError):
    """Bytes that cannot be decoded; the message names the byte offset where decoding stopped."""


class SchemaError(A2AError, ValueError):
    """A schema that cannot be parsed, or a writer and reader schema that cannot be resolved."""


class ConfigError(A2AError, ValueError):
    """A configuration file or setting is invalid; the message names the key and the problem."""


class StackError(A2AError):
    """The local Kafka broker or schema registry could not be started, reached or stopped."""


class WorkflowError(A2AError, ValueError):
    """A workflow definition is invalid; the message names the workflow, the step and the rule broken."""


class UnknownWorkflowError(A2AError, LookupError):
    """No workflow is registered under the id asked for."""


class UnknownSessionError(A2AError, LookupError):
    """No collaboration session has the id asked for."""


class SessionLimitError(A2AError):
    """A coordinator already runs its maximum of concurrent sessions (``workflows.max_concurrent_sessions``)."""
