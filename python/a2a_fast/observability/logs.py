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
_FIELDS = frozenset(CONTEXT_FIELDS)
_Ids = tuple[str | None, str | None, str | None]
_ids: contextvars.ContextVar[_Ids] = contextvars.ContextVar("a2a_fast_log_ids", default=(None, None, None))
"""The ids in effect, in the order of :data:`CONTEXT_FIELDS`: one variable, set once per record handled."""


def current_context() -> dict[str, str | None]:
    """The ids in effect here, ``None`` where unset."""
    return dict(zip(CONTEXT_FIELDS, _ids.get(), strict=True))


class log_context:
    """Sets some of ``agent_id``, ``task_id``, ``correlation_id`` for the lines logged inside the block."""

    # A class rather than a generator: agents enter one for every record they handle.
    __slots__ = ("_ids", "_token")

    def __init__(self, **ids: str | None) -> None:
        if not ids.keys() <= _FIELDS:
            unknown = sorted(set(ids) - _FIELDS)
            raise TypeError(f"log_context() got unknown ids: {', '.join(unknown)}")
        self._ids = ids
        self._token: contextvars.Token[_Ids] | None = None

    def __enter__(self) -> None:
        agent_id, task_id, correlation_id = _ids.get()
        ids = self._ids
        self._token = _ids.set(
            (ids.get("agent_id", agent_id), ids.get("task_id", task_id), ids.get("correlation_id", correlation_id))
        )

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _ids.reset(self._token)


def bind_ids(agent_id: str | None, task_id: str | None, correlation_id: str | None) -> None:
    """Sets the ids of the current context with nothing to undo, for code running in a context of its own that
    is thrown away afterwards (the runtime gives every record one); elsewhere use :class:`log_context`."""
    _ids.set((agent_id, task_id, correlation_id))


class _ContextFilter(logging.Filter):
    def __init__(self, defaults: Mapping[str, str | None]) -> None:
        super().__init__()
        self.defaults = dict(defaults)

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in zip(CONTEXT_FIELDS, _ids.get(), strict=True):
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
