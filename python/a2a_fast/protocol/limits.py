"""Message limits of :class:`~a2a_fast.config.ProtocolConfig` (``messages``), checked where records are read.

* **Size**: a record value larger than ``max_message_bytes`` raises :class:`MessageTooLargeError`.
* **Age**: a message older than its ``ttl`` (the ``ttl`` CloudEvent extension, seconds; else
  ``default_ttl_seconds``) raises :class:`MessageExpiredError`. Age is measured from the ``time``
  attribute, else the Kafka record's timestamp. A ``ttl`` of 0 means the message never expires.

Agents dead-letter such records (``dlq.stage`` ``limits``, the error in ``dlq.reason``) instead of handling them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from a2a_fast._native import envelope_check_age, envelope_check_size
from a2a_fast.config import MessageConfig

__all__ = ["PRIORITY_LEVELS", "MessageLimits", "priority_name"]

PRIORITY_LEVELS: Final = {"LOW": 0, "NORMAL": 1, "HIGH": 2}
"""A2A priority names and the TaskRequest ``priority`` numbers they stand for."""


def priority_name(level: int) -> str:
    """``0`` → ``LOW``, ``1`` → ``NORMAL``, ``2`` or more → ``HIGH``."""
    return "HIGH" if level >= 2 else "NORMAL" if level == 1 else "LOW"


class MessageLimits:
    """Checks records against ``config``; ``clock`` (epoch seconds) is replaceable for tests."""

    __slots__ = ("clock", "config")

    def __init__(self, config: MessageConfig | None = None, clock: Callable[[], float] | None = None) -> None:
        self.config = config or MessageConfig()
        self.clock = clock or time.time

    def check_size(self, size: int) -> None:
        """Raises :class:`~a2a_fast.errors.MessageTooLargeError` for a record value of ``size`` bytes over
        the limit."""
        envelope_check_size(size, self.config.max_message_bytes)

    def check_age(self, sent: str | float | None, ttl: str | float | None) -> None:
        """``sent``: the ``time`` attribute (RFC 3339) or epoch seconds; ``ttl``: the extension's value.
        Raises :class:`~a2a_fast.errors.MessageExpiredError`, or :class:`~a2a_fast.errors.ValidationError`
        for a ``time`` or ``ttl`` that cannot be read."""
        envelope_check_age(sent, ttl, float(self.config.default_ttl_seconds), self.clock())
