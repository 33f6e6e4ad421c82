"""Workflow definitions: ordered steps with their capabilities, timeouts and retries, and loading them from a
YAML or JSON file or a Python module (:func:`load_workflows`, behind every ``--workflows`` option).

See :mod:`a2a_fast.workflows` for how sessions of a workflow run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

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
        if isinstance(self.capabilities, str) or not isinstance(self.capabilities, Sequence | set | frozenset):
            raise WorkflowError(f"{where}: capabilities must be a list of names, got {self.capabilities!r}")
        capabilities = tuple(str(c).strip().lower() for c in self.capabilities)
        if not capabilities or not all(capabilities):
            raise WorkflowError(f"{where}: capabilities must name at least one capability, none empty")
        if not isinstance(self.params, Mapping):
            raise WorkflowError(f"{where}: params must map names to strings, not {type(self.params).__name__}")
        for key, value in self.params.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise WorkflowError(f"{where}: params must map names to strings; {key!r}: {value!r} is not (quote it)")
        if not isinstance(self.required, bool):
            raise WorkflowError(f"{where}: required must be true or false, got {self.required!r}")
        if not isinstance(self.description, str):
            raise WorkflowError(f"{where}: description must be a string, got {self.description!r}")
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
        """The definition of :meth:`to_dict`'s output (``name``, ``description`` and each step's keys but
        ``name`` and ``capabilities`` may be left out); raises :class:`WorkflowError` naming the workflow, the
        step and the key at fault."""
        if not isinstance(data, Mapping):
            raise WorkflowError(f"a workflow must be a mapping with 'id' and 'steps', not {_kind(data)}")
        where = f"workflow {data.get('id')!r}" if "id" in data else "workflow"
        _only_keys(data, WORKFLOW_KEYS, where)
        for required in ("id", "steps"):
            if required not in data:
                raise WorkflowError(f"{where}: {required!r} is missing")
        for text in ("name", "description"):
            if text in data and not isinstance(data[text], str):
                raise WorkflowError(f"{where}: {text!r} must be a string, not {_kind(data[text])}")
        raw_steps = data["steps"]
        if not isinstance(raw_steps, Sequence) or isinstance(raw_steps, str):
            raise WorkflowError(f"{where}: 'steps' must be a list of steps, not {_kind(raw_steps)}")
        steps = []
        for number, step in enumerate(raw_steps, 1):
            if not isinstance(step, Mapping):
                raise WorkflowError(f"{where}: step {number} must be a mapping with 'name' and 'capabilities'")
            _only_keys(step, STEP_KEYS, f"{where}: step {number}")
            if "name" not in step or "capabilities" not in step:
                missing = "name" if "name" not in step else "capabilities"
                raise WorkflowError(f"{where}: step {number}: {missing!r} is missing")
            try:
                steps.append(WorkflowStep(**step))
            except WorkflowError as error:
                raise WorkflowError(f"{where}: {error}") from None
        return cls(data["id"], data.get("name", data["id"]), data.get("description", ""), steps)


WORKFLOW_KEYS: Final = ("id", "name", "description", "steps")
STEP_KEYS: Final = ("name", "description", "capabilities", "params", "required", "timeout", "retries")
WORKFLOW_FILE_SUFFIXES: Final = (".yaml", ".yml", ".json")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _only_keys(data: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = [str(key) for key in data if key not in allowed]
    if unknown:
        raise WorkflowError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} (keys: {', '.join(allowed)})")


def load_workflows(spec: str, option: str = "--workflows") -> list[WorkflowDefinition]:
    """The workflow definitions ``spec`` names: a YAML or JSON file (``.yaml``, ``.yml``, ``.json``, or any
    existing file) holding a list of definitions or ``{"workflows": [...]}`` (the keys of
    :meth:`WorkflowDefinition.from_dict`), or ``"package.module:NAME"``, a sequence (or mapping) of
    :class:`WorkflowDefinition` or of such dicts. Raises :class:`ConfigError` starting with ``option`` and
    ``spec``, naming what is wrong."""
    path = Path(spec)
    if path.suffix.lower() in WORKFLOW_FILE_SUFFIXES or path.is_file():
        return _from_file(path, f"{option} {spec}")
    if ":" not in spec:
        suffixes = ", ".join(WORKFLOW_FILE_SUFFIXES)
        raise ConfigError(f"{option} {spec!r}: expected a workflow file ({suffixes}) or 'package.module:NAME'")
    found = load_named(spec, option)
    items = list(found.values() if isinstance(found, Mapping) else found) if _is_collection(found) else None
    if items is None:
        raise ConfigError(f"{option} {spec!r}: expected a sequence of workflow definitions, got {_kind(found)}")
    return _definitions(items, f"{option} {spec!r}")


def _is_collection(found: Any) -> bool:
    return isinstance(found, Mapping) or (isinstance(found, Sequence) and not isinstance(found, str | bytes))


def _from_file(path: Path, where: str) -> list[WorkflowDefinition]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{where}: cannot be read ({error.strerror})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{where}: not JSON: {error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{where}: not YAML: {' '.join(str(error).split())}") from None
    if isinstance(data, Mapping):
        if set(data) != {"workflows"}:
            raise ConfigError(f"{where}: expected a list of workflows or a mapping with only the key 'workflows'")
        data = data["workflows"]
    if not isinstance(data, list):
        raise ConfigError(f"{where}: expected a list of workflows or {{workflows: [...]}}, not {_kind(data)}")
    return _definitions(data, where)


def _definitions(items: Sequence[Any], where: str) -> list[WorkflowDefinition]:
    definitions = []
    for number, item in enumerate(items, 1):
        try:
            definitions.append(item if isinstance(item, WorkflowDefinition) else WorkflowDefinition.from_dict(item))
        except WorkflowError as error:
            raise ConfigError(f"{where}: workflow {number}: {error}") from None
    ids = [definition.id for definition in definitions]
    duplicate = next((name for name in ids if ids.count(name) > 1), None)
    if duplicate is not None:
        raise ConfigError(f"{where}: workflow id {duplicate!r} is defined twice")
    if not definitions:
        raise ConfigError(f"{where}: defines no workflow")
    return definitions
