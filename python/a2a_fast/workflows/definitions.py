"""Workflow definitions: ordered steps with their capabilities, timeouts and retries, and loading them.

See :mod:`a2a_fast.workflows` for how sessions of a workflow run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from a2a_fast.config import load_named
from a2a_fast.errors import ConfigError, WorkflowError

__all__ = ["WorkflowDefinition", "WorkflowStep", "load_workflows"]


@dataclass(frozen=True)
class WorkflowStep:
    """One step: an agent offering every one of ``capabilities`` runs the handler of the first one.

    ``params`` are the step's fixed inputs (a session's ``params`` override them); ``timeout`` bounds each
    attempt in seconds; ``retries`` is how many more attempts a failed or timed-out one gets; a step with
    ``required=False`` may fail without failing the session.
    """

    name: str
    description: str = ""
    capabilities: Sequence[str] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    required: bool = True
    timeout: float = 60.0
    retries: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise WorkflowError("step name: must be a non-empty string")
        where = f"step {self.name!r}"
        if isinstance(self.capabilities, str):
            raise WorkflowError(f"{where}: capabilities must be a list of names, got the string {self.capabilities!r}")
        capabilities = tuple(str(c).strip().lower() for c in self.capabilities)
        if not capabilities or not all(capabilities):
            raise WorkflowError(f"{where}: capabilities must name at least one capability, none empty")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in dict(self.params).items()):
            raise WorkflowError(f"{where}: params must map strings to strings")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, int | float) or not self.timeout > 0:
            raise WorkflowError(f"{where}: timeout must be a number of seconds > 0, got {self.timeout!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise WorkflowError(f"{where}: retries must be an integer >= 0, got {self.retries!r}")
        object.__setattr__(self, "capabilities", capabilities)
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "timeout", float(self.timeout))

    @property
    def attempts_allowed(self) -> int:
        return 1 + self.retries

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "capabilities": list(self.capabilities),
            "params": dict(self.params),
            "required": self.required,
            "timeout": self.timeout,
            "retries": self.retries,
        }


@dataclass(frozen=True)
class WorkflowDefinition:
    """A named, ordered list of steps; ``id`` is what :meth:`Coordinator.start_collaboration` takes."""

    id: str
    name: str
    description: str
    steps: Sequence[WorkflowStep]

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise WorkflowError("workflow id: must be a non-empty string")
        steps = tuple(self.steps)
        if not steps:
            raise WorkflowError(f"workflow {self.id!r}: needs at least one step")
        names = [step.name for step in steps]
        duplicate = next((name for name in names if names.count(name) > 1), None)
        if duplicate is not None:
            raise WorkflowError(f"workflow {self.id!r}: step name {duplicate!r} is used twice")
        object.__setattr__(self, "steps", steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "steps": [step.to_dict() for step in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowDefinition:
        """The definition of :meth:`to_dict`'s output; raises :class:`WorkflowError` when it is not one."""
        try:
            steps = [WorkflowStep(**step) for step in data["steps"]]
            return cls(data["id"], data.get("name", data["id"]), data.get("description", ""), steps)
        except (KeyError, TypeError) as error:
            raise WorkflowError(f"not a workflow definition: {error}") from error


def load_workflows(spec: str) -> list[WorkflowDefinition]:
    """The workflow definitions named by ``"package.module:NAME"`` (a sequence of them)."""
    found = load_named(spec, "--workflows")
    definitions = list(found.values() if isinstance(found, Mapping) else found)
    if not all(isinstance(definition, WorkflowDefinition) for definition in definitions):
        raise ConfigError(f"--workflows {spec!r}: expected a sequence of WorkflowDefinition")
    return definitions
