"""Structured logs: every line carries the agent id, task id and correlation id in effect.

The ids live in context variables, so they follow a task through ``await`` points and ``asyncio`` tasks without
being passed around::

    configure_logging(json=True)
    with log_context(agent_id="provider-1", task_id=task_id, correlation_id=corr):
        log.info("countered at %.2f", offer)

prints ``{"ts": ..., "level": "INFO", "logger": ..., "message": "countered at 95.00", "agent_id": "provider-1",
"task_id": ..., "correlation_id": ...}``. The text format shows the same ids as ``key=value`` pairs.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json as jsonlib
import logging
import sys
from collections.abc import Mapping
from typing import TextIO

from a2a_fast.redaction import redact

__all__ = ["CONTEXT_FIELDS", "bind_ids", "configure_logging", "current_context", "log_context"]

CONTEXT_FIELDS = ("agent_id", "task_id", "correlation_id")
_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"a2a_fast_{name}", default=None) for name in CONTEXT_FIELDS
}
_agent_id, _task_id, _correlation_id = (_context[name] for name in CONTEXT_FIELDS)


def current_context() -> dict[str, str | None]:
    """The ids in effect here, ``None`` where unset."""
    return {name: var.get() for name, var in _context.items()}


class log_context:
    """Sets some of ``agent_id``, ``task_id``, ``correlation_id`` for the lines logged inside the block."""

    # A class rather than a generator: agents enter one for every record they handle.
    __slots__ = ("_ids", "_tokens")

    def __init__(self, **ids: str | None) -> None:
        if not ids.keys() <= _context.keys():
            unknown = sorted(set(ids) - set(CONTEXT_FIELDS))
            raise TypeError(f"log_context() got unknown ids: {', '.join(unknown)}")
        self._ids = ids
        self._tokens: list[tuple[contextvars.ContextVar[str | None], contextvars.Token[str | None]]] = []

    def __enter__(self) -> None:
        self._tokens = [(_context[name], _context[name].set(value)) for name, value in self._ids.items()]

    def __exit__(self, *exc: object) -> None:
        for var, token in reversed(self._tokens):
            var.reset(token)


def bind_ids(agent_id: str | None, task_id: str | None, correlation_id: str | None) -> None:
    """Sets the ids of the current context with nothing to undo, for code running in a context of its own that
    is thrown away afterwards (the runtime gives every record one); elsewhere use :class:`log_context`."""
    _agent_id.set(agent_id)
    _task_id.set(task_id)
    _correlation_id.set(correlation_id)


class _ContextFilter(logging.Filter):
    def __init__(self, defaults: Mapping[str, str | None]) -> None:
        super().__init__()
        self.defaults = dict(defaults)

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_context().items():
            if not hasattr(record, name):
                setattr(record, name, value if value is not None else self.defaults.get(name))
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({name: getattr(record, name, None) for name in CONTEXT_FIELDS})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(jsonlib.dumps(line, ensure_ascii=False, default=str))


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        ids = " ".join(f"{name}={value}" for name in CONTEXT_FIELDS if (value := getattr(record, name, None)))
        return redact(f"{base} {ids}" if ids else base)


def configure_logging(
    json: bool = False,
    level: int | str = logging.INFO,
    stream: TextIO | None = None,
    defaults: Mapping[str, str | None] | None = None,
) -> None:
    """Routes the ``a2a_fast`` loggers to ``stream`` (stderr) as JSON lines or text, with the context ids and
    every known secret masked (:mod:`a2a_fast.redaction`).

    ``defaults`` fills ids no :func:`log_context` set, e.g. the process's one ``agent_id``, so that lines logged
    outside any handling (start-up, the consumer thread) carry it too."""
    unknown = set(defaults or {}) - set(CONTEXT_FIELDS)
    if unknown:
        raise TypeError(f"configure_logging() got unknown default ids: {', '.join(sorted(unknown))}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_ContextFilter(defaults or {}))
    handler.setFormatter(
        _JsonFormatter() if json else _TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    logger = logging.getLogger("a2a_fast")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
