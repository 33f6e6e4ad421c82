"""Which role may say what: the one table of the messages each role of the mesh may emit.

Signed records (:mod:`a2a_fast.protocol.signing`) prove which agent sent them; this table says whether that
agent's role may send such a message. A record whose signer's roles may not emit it is refused (dead-lettered
with ``dlq.stage=authorization``), so a provider cannot complete a task and an executor cannot accept one,
though both write ``task-responses``.

======================================  ==========================================================================
message                                 emitted by
======================================  ==========================================================================
task request                            requester
task response NEGOTIATING, ACCEPTED     provider (a counter-offer, an agreement)
task response REJECTED                  provider; a requester, for its own request no provider serves (addressed
                                        to itself)
task response RUNNING, COMPLETED,       executor
FAILED, CANCELED
negotiation turn                        requester
collaboration session event             coordinator
workflow step request                   coordinator
workflow step result                    executor (its step runner); a coordinator, recording a step that timed
                                        out (addressed to itself)
A2A binding request                     a2a-client (a client of the A2A binding, :mod:`a2a_fast.a2a`)
A2A binding event                       a2a-agent (an A2A agent of the mesh)
======================================  ==========================================================================

Anything else (a status no row names) is refused: a new message is allowed by adding its row here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from a2a_fast.protocol.kinds import (
    KIND_A2A_EVENT,
    KIND_A2A_REQUEST,
    KIND_NEGOTIATION,
    KIND_SESSION_EVENT,
    KIND_STEP_REQUEST,
    KIND_STEP_RESULT,
    KIND_TASK_REQUEST,
    KIND_TASK_RESPONSE,
)

__all__ = ["EMITTERS", "ROLES", "Emitter", "may_emit", "signing_role"]

ROLES: Final = ("requester", "provider", "executor", "coordinator", "a2a-agent", "a2a-client")
"""The roles a signing key may be trusted for."""

_ROLE_OF_AGENT_CLASS: Final = {"step-runner": "executor"}


def signing_role(agent_role: str) -> str:
    """The role an agent of class role ``agent_role`` signs as (a step runner is an executor's)."""
    return _ROLE_OF_AGENT_CLASS.get(agent_role, agent_role)


@dataclass(frozen=True, slots=True)
class Emitter:
    """A role that may emit a message; ``to_itself``: only when the message is addressed to its sender."""

    role: str
    to_itself: bool = False


_REQUESTER: Final = (Emitter("requester"),)
_PROVIDER: Final = (Emitter("provider"),)
_EXECUTOR: Final = (Emitter("executor"),)
_COORDINATOR: Final = (Emitter("coordinator"),)

EMITTERS: Final[Mapping[tuple[str, str | None], tuple[Emitter, ...]]] = {
    (KIND_TASK_REQUEST, None): _REQUESTER,
    (KIND_TASK_RESPONSE, "NEGOTIATING"): _PROVIDER,
    (KIND_TASK_RESPONSE, "ACCEPTED"): _PROVIDER,
    (KIND_TASK_RESPONSE, "REJECTED"): (Emitter("provider"), Emitter("requester", to_itself=True)),
    (KIND_TASK_RESPONSE, "RUNNING"): _EXECUTOR,
    (KIND_TASK_RESPONSE, "COMPLETED"): _EXECUTOR,
    (KIND_TASK_RESPONSE, "FAILED"): _EXECUTOR,
    (KIND_TASK_RESPONSE, "CANCELED"): _EXECUTOR,
    (KIND_NEGOTIATION, None): _REQUESTER,
    (KIND_SESSION_EVENT, None): _COORDINATOR,
    (KIND_STEP_REQUEST, None): _COORDINATOR,
    (KIND_STEP_RESULT, None): (Emitter("executor"), Emitter("coordinator", to_itself=True)),
    (KIND_A2A_REQUEST, None): (Emitter("a2a-client"),),
    (KIND_A2A_EVENT, None): (Emitter("a2a-agent"),),
}
"""``(message kind, task status or None)`` → the roles that may emit it."""


def may_emit(
    roles: Iterable[str], agent: str, kind: str, record: Mapping[str, Any], target_agent: str | None
) -> str | None:
    """None when an agent ``agent`` trusted for ``roles`` may emit this message, else why not."""
    status = record.get("status") if kind == KIND_TASK_RESPONSE else None
    emitters = EMITTERS.get((kind, status))
    held = set(roles)
    what = f"{kind} {status}" if status else kind
    if emitters is None:
        return f"no role may emit {what}"
    for emitter in emitters:
        if emitter.role in held and (not emitter.to_itself or target_agent == agent):
            return None
    allowed = " or ".join(
        f"a {emitter.role} (addressed to itself)" if emitter.to_itself else f"a {emitter.role}" for emitter in emitters
    )
    return f"{agent} ({', '.join(sorted(held)) or 'no role'}) may not emit {what}: only {allowed} may"
