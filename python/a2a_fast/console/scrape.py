"""What the agents' ``/metrics`` say, for the console: Prometheus text read back, and a short history per agent.

Every agent's card in the mesh directory names its monitoring address (``endpoints["http"]``); the console
reads ``/metrics`` there every few seconds (:class:`MetricsBoard`) and keeps what the mesh page and the charts
show: messages in flight, consumer lag, messages consumed and produced (and their rate between two readings),
dead letters, errors, and each message type's handling latency p50/p99.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["MetricsBoard", "Sample", "fetch_metrics", "parse_prometheus", "summarize"]

HISTORY: Final = 150
"""Readings kept per agent: five minutes at the default interval of two seconds."""
_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_prometheus(text: str) -> Iterator[Sample]:
    """The samples of a Prometheus text exposition; comments and lines it cannot read are skipped."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        name, labels, raw = match.groups()
        try:
            value = float(raw)
        except ValueError:
            continue
        found = {key: _unescape(value) for key, value in _LABEL.findall(labels or "")}
        yield Sample(name, found, value)


def _unescape(text: str) -> str:
    return text.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def summarize(samples: Iterable[Sample]) -> dict[str, Any]:
    """What the console shows of one agent's metrics."""
    totals = {"in_flight": 0.0, "lag": 0.0, "consumed": 0.0, "produced": 0.0, "dead_letters": 0.0, "errors": 0.0}
    names = {
        "a2a_in_flight": "in_flight",
        "a2a_consumer_lag": "lag",
        "a2a_messages_consumed_total": "consumed",
        "a2a_messages_produced_total": "produced",
        "a2a_dead_letters_total": "dead_letters",
        "a2a_errors_total": "errors",
    }
    handling: dict[str, dict[str, float]] = {}
    for sample in samples:
        total = names.get(sample.name)
        if total is not None:
            totals[total] += sample.value
        elif sample.name == "a2a_handling_latency_seconds" and sample.labels.get("quantile") in ("0.5", "0.99"):
            operation = sample.labels.get("operation", "?")
            key = "p50" if sample.labels["quantile"] == "0.5" else "p99"
            handling.setdefault(operation, {})[key] = sample.value
        elif sample.name == "a2a_handling_latency_seconds_count":
            handling.setdefault(sample.labels.get("operation", "?"), {})["count"] = sample.value
    return {**{key: int(value) for key, value in totals.items()}, "handling": handling}


def fetch_metrics(base_url: str, timeout: float = 1.0) -> str:
    """``GET <base_url>/metrics``. Blocking: call it from a thread. Raises OSError when it does not answer."""
    if not base_url.startswith(("http://", "https://")):
        raise OSError(f"not an HTTP address: {base_url!r}")
    with urllib.request.urlopen(base_url.rstrip("/") + "/metrics", timeout=timeout) as response:
        body: bytes = response.read(4 * 1024 * 1024)
    return body.decode("utf-8", errors="replace")


@dataclass
class _AgentHistory:
    url: str
    latest: dict[str, Any] | None = None
    error: str | None = None
    read_at: float = 0.0
    rates: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    """``(epoch seconds, messages consumed per second since the reading before)``."""


class MetricsBoard:
    """The latest reading of each agent's ``/metrics`` and the consumed-messages rate between readings."""

    def __init__(self) -> None:
        self._agents: dict[str, _AgentHistory] = {}

    def record(self, agent_id: str, url: str, text: str | None, error: str | None, at: float | None = None) -> None:
        """One reading: the body of ``/metrics``, or why there was none."""
        now = time.time() if at is None else at
        history = self._agents.get(agent_id)
        if history is None or history.url != url:
            history = self._agents[agent_id] = _AgentHistory(url)
        if text is None:
            history.error, history.read_at = error, now
            return
        summary = summarize(parse_prometheus(text))
        previous, before = history.latest, history.read_at
        if (
            previous is not None
            and history.error is None
            and now > before
            and summary["consumed"] >= previous["consumed"]
        ):
            history.rates.append((now, (summary["consumed"] - previous["consumed"]) / (now - before)))
        history.latest, history.error, history.read_at = summary, None, now

    def forget(self, keep: Iterable[str]) -> None:
        """Drops the agents not in ``keep`` (those that left the directory)."""
        wanted = set(keep)
        for agent_id in [name for name in self._agents if name not in wanted]:
            del self._agents[agent_id]

    def latest(self) -> dict[str, dict[str, Any]]:
        """Per agent: its last reading (or the error), when it was read, and where."""
        return {
            agent_id: {
                **(history.latest or {}),
                "url": history.url,
                "error": history.error,
                "read_at": history.read_at,
            }
            for agent_id, history in self._agents.items()
        }

    def rates(self, since: float) -> dict[str, list[tuple[float, float]]]:
        """Per agent, the consumed-messages rate readings taken after ``since`` (epoch seconds)."""
        return {
            agent_id: [(at, rate) for at, rate in history.rates if at > since]
            for agent_id, history in self._agents.items()
            if history.rates
        }


def reading_error(error: BaseException) -> str:
    """A one-line reason a reading failed."""
    if isinstance(error, urllib.error.URLError):
        return f"no answer: {error.reason}"
    return f"no answer: {error}"
