"""Task handlers used by ``a2a-fast agent executor`` and the demo, and how to load your own.

A handler is ``async def handler(task: TaskContext) -> result`` (the result must be JSON-serialisable);
raising an exception fails the task with that error. Pass ``--handlers package.module:NAME`` to the
executor command, where ``NAME`` is a mapping of capability to handler.

The built-in ones stand in for real work: they wait ``work_ms`` milliseconds (parameter, default 50),
report progress half-way, and return a small result. ``analyze`` fails when ``fail`` is ``"true"``.
As workflow steps they read a ``text`` parameter, and ``translate`` the previous step's summary.

:data:`DEMO_WORKFLOWS` are the workflows a coordinator offers by default: ``brief`` summarises a text and
translates the summary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from a2a_fast.agents.tasks import TaskContext, TaskHandler
from a2a_fast.config import load_named
from a2a_fast.errors import ConfigError
from a2a_fast.workflows.definitions import WorkflowDefinition, WorkflowStep

__all__ = ["DEMO_HANDLERS", "DEMO_WORKFLOWS", "load_handlers"]


async def _pretend(task: TaskContext) -> None:
    seconds = float(task.parameters.get("work_ms", "50")) / 1000.0
    await asyncio.sleep(seconds / 2)
    await task.progress(0.5, "half-way")
    await asyncio.sleep(seconds / 2)


async def summarize(task: TaskContext) -> dict[str, Any]:
    await _pretend(task)
    words = task.parameters.get("text", task.description).split()
    return {"summary": " ".join(words[:6]) + (" ..." if len(words) > 6 else ""), "words": len(words)}


async def translate(task: TaskContext) -> dict[str, Any]:
    await _pretend(task)
    previous = task.previous_output
    text = previous["summary"] if isinstance(previous, dict) and "summary" in previous else task.description
    language = task.parameters.get("language", "de")
    return {"language": language, "characters": len(text), "text": f"[{language}] {text}"}


async def classify(task: TaskContext) -> dict[str, Any]:
    await _pretend(task)
    return {"label": "urgent" if "urgent" in task.description.lower() else "routine"}


async def analyze(task: TaskContext) -> dict[str, Any]:
    await _pretend(task)
    if task.parameters.get("fail") == "true":
        raise RuntimeError(f"analysis of {task.task_id[:8]} crashed: input data is corrupt")
    return {"score": round(len(task.description) / 10.0, 1)}


DEMO_HANDLERS: Mapping[str, TaskHandler] = {
    "summarize": summarize,
    "translate": translate,
    "classify": classify,
    "analyze": analyze,
}


DEMO_WORKFLOWS = (
    WorkflowDefinition(
        "brief",
        "Brief",
        "Summarise a text (parameter 'text'), then translate the summary (parameter 'language', default de)",
        [
            WorkflowStep("summary", "Summarise the text", ["summarize"], timeout=10, retries=1),
            WorkflowStep("translation", "Translate the summary", ["translate"], timeout=10, retries=1),
        ],
    ),
)


def load_handlers(spec: str) -> Mapping[str, TaskHandler]:
    """The handler mapping named by ``"package.module:NAME"``."""
    found = load_named(spec, "--handlers")
    if not isinstance(found, Mapping):
        raise ConfigError(f"--handlers {spec!r}: expected a mapping of capability to handler")
    return found
