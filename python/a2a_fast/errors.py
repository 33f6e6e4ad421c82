"""Exceptions raised by a2a_fast.

Every exception derives from :class:`A2AError`. Errors about bad input also derive from
:class:`ValueError`, so code that already catches ``ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "A2AError",
    "AgentIdInUseError",
    "ConfigError",
    "DecodeError",
    "LimitError",
    "MaxAgentsError",
    "MessageExpiredError",
    "MessageTooLargeError",
    "RegistrationError",
    "RoutingError",
    "SchemaError",
    "SessionLimitError",
    "StackError",
    "UnknownSessionError",
    "UnknownTaskError",
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


class LimitError(A2AError, ValueError):
    """A message breaks a protocol limit (:class:`~a2a_fast.config.ProtocolConfig`); it is dead-lettered."""


class MessageExpiredError(LimitError):
    """A message is older than its time-to-live."""


class MessageTooLargeError(LimitError):
    """A message is larger than ``messages.max_message_bytes``."""


class RegistrationError(A2AError):
    """An agent could not join the mesh's directory; the message says why."""


class AgentIdInUseError(RegistrationError):
    """Another live instance already holds this agent id."""


class MaxAgentsError(RegistrationError):
    """The mesh already has ``mesh.max_agents`` live agents."""


class RoutingError(A2AError):
    """A message has nowhere to go: its target agent is not live, or no live agent offers its capability."""


class WorkflowError(A2AError, ValueError):
    """A workflow definition is invalid; the message names the workflow, the step and the rule broken."""


class UnknownWorkflowError(A2AError, LookupError):
    """No workflow is registered under the id asked for."""


class UnknownSessionError(A2AError, LookupError):
    """No collaboration session has the id asked for."""


class UnknownTaskError(A2AError, LookupError):
    """No task in the log has the id asked for (or an id prefix matches several)."""


class SessionLimitError(A2AError):
    """A coordinator already runs its maximum of concurrent sessions (``workflows.max_concurrent_sessions``)."""
