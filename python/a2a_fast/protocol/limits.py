"""Message limits of :class:`~a2a_fast.config.ProtocolConfig` (``messages``), checked where records are read.

* **Size**: a record value larger than ``max_message_bytes`` raises :class:`MessageTooLargeError`.
* **Age**: a message older than its ``ttl`` (the ``ttl`` CloudEvent extension, seconds; else
  ``default_ttl_seconds``) raises :class:`MessageExpiredError`. Age is measured from the ``time``
  attribute, else the Kafka record's timestamp. A ``ttl`` of 0 means the message never expires.

Agents dead-letter such records (``dlq.stage`` ``limits``, the error in ``dlq.reason``) instead of handling them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Final

from a2a_fast.config import MessageConfig
from a2a_fast.errors import MessageExpiredError, MessageTooLargeError, ValidationError

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
        limit = self.config.max_message_bytes
        if size > limit:
            raise MessageTooLargeError(f"message is {size} bytes, more than messages.max_message_bytes={limit}")

    def check_age(self, sent: str | float | None, ttl: str | int | None) -> None:
        """``sent``: the ``time`` attribute (RFC 3339) or epoch seconds; ``ttl``: the extension's value."""
        if sent is None or sent == "":
            return
        if ttl is None or ttl == "":
            limit, origin = self.config.default_ttl_seconds, "messages.default_ttl_seconds"
        else:
            try:
                limit, origin = float(ttl), "its ttl"
            except ValueError:
                raise ValidationError(f"ttl: {ttl!r} is not a number of seconds") from None
            if limit == 0:
                return
        moment = sent if isinstance(sent, float | int) else _epoch(sent)
        age = self.clock() - moment
        if age > limit:
            raise MessageExpiredError(f"message expired: sent {age:.1f}s ago, {origin} is {limit:g}s")


def _epoch(text: str) -> float:
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValidationError(f"time: {text!r} is not an RFC 3339 timestamp") from None
