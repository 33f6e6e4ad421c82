"""Message limits: size and age against the configured bounds."""

from __future__ import annotations

import datetime as dt

import pytest

from a2a_fast.config import MessageConfig
from a2a_fast.errors import (
    MessageExpiredError,
    MessageTooLargeError,
    ValidationError,
)
from a2a_fast.protocol.limits import MessageLimits

NOW = 1_700_000_000.0


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


def test_limits_size_and_age() -> None:
    limits = MessageLimits(MessageConfig(default_ttl_seconds=60, max_message_bytes=100), clock=lambda: NOW)
    limits.check_size(100)
    with pytest.raises(MessageTooLargeError, match=r"^message is 101 bytes, more than messages.max_message_bytes=100$"):
        limits.check_size(101)
    limits.check_age(iso(NOW - 59), None)
    with pytest.raises(MessageExpiredError, match=r"sent 61.0s ago, messages.default_ttl_seconds is 60s$"):
        limits.check_age(iso(NOW - 61), None)
    limits.check_age(iso(NOW - 61), "120")
    with pytest.raises(MessageExpiredError, match=r"sent 11.0s ago, its ttl is 10s$"):
        limits.check_age(NOW - 11, 10)
    limits.check_age(iso(NOW - 10_000), "0")  # ttl 0: never expires
    limits.check_age(None, "1")  # no send time: nothing to measure
    with pytest.raises(ValidationError, match=r"^ttl: 'soon' is not a number"):
        limits.check_age(iso(NOW), "soon")
    with pytest.raises(ValidationError, match=r"^time: 'yesterday' is not an RFC 3339"):
        limits.check_age("yesterday", "5")
