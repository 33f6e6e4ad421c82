"""Secrets kept out of everything this process says: log lines, dead letters, error messages.

The client security settings (:mod:`a2a_fast.transport.security`) :func:`remember` every secret they load
(passwords, tokens, key passwords); :func:`redact` replaces any of them found in a text with ``***``. The log
formatters of :func:`a2a_fast.observability.logs.configure_logging`, the dead-letter reasons of the agents
and the command line's error line all pass through it, so a secret that some library puts into a message
(a URL with credentials in it, a configuration echoed back) still never leaves the process.
"""

from __future__ import annotations

import threading

__all__ = ["MASK", "redact", "remember"]

MASK = "***"
_MIN_LENGTH = 4
"""Shorter values are not masked: they would mask ordinary text, and no credential worth the name is that short."""

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def remember(*values: str | None) -> None:
    """Adds ``values`` to the secrets :func:`redact` masks (empty and very short ones are skipped)."""
    global _secrets
    fresh = {value for value in values if value and len(value) >= _MIN_LENGTH}
    if not fresh:
        return
    with _lock:
        # Longest first, so a secret that contains another is masked whole.
        _secrets = tuple(sorted(set(_secrets) | fresh, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every remembered secret replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
