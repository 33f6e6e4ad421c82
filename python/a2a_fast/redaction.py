"""Secrets kept out of everything this process says: log lines, dead letters, error messages, status pages.

Two kinds of secret are masked with ``***`` by :func:`redact`:

* the values the client security settings (:mod:`a2a_fast.transport.security`) :func:`remember` as they load them
  (passwords, tokens, key passwords), wherever they appear;
* the password of an address that carries credentials in its user-info part (``http://user:secret@registry:8081``,
  ``SASL_SSL://user:secret@broker:9092``); the user name stays, which helps to tell accounts apart.

The log formatters of :func:`a2a_fast.observability.logs.configure_logging`, the dead-letter reasons of the agents
and the command line's error line all pass through it, so a secret that some library puts into a message (a URL
with credentials in it, a configuration echoed back) still never leaves the process.
"""

from __future__ import annotations

import re
import threading

__all__ = ["MASK", "redact", "remember", "without_credentials"]

MASK = "***"
_MIN_LENGTH = 4
"""Shorter values are not masked: they would mask ordinary text, and no credential worth the name is that short."""

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()

# scheme://user:password@host. The password runs to the "@" after which no other "@" comes before the end
# of the authority, as URL parsers read it: a password may hold an unescaped "@" or ",".
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:@/?#\s]*)(?::(?P<password>[^\s/]*?))?@"
    r"(?=[^@\s/?#]*(?:[/?#\s]|$))"
)


def remember(*values: str | None) -> None:
    """Adds ``values`` to the secrets :func:`redact` masks (empty and very short ones are skipped)."""
    global _secrets
    fresh = {value for value in values if value and len(value) >= _MIN_LENGTH}
    if not fresh:
        return
    with _lock:
        # Longest first, so a secret that contains another is masked whole.
        _secrets = tuple(sorted(set(_secrets) | fresh, key=len, reverse=True))


def _masked(match: re.Match[str]) -> str:
    # A user-info without a password may itself be a token: then all of it is hidden.
    shown = MASK if match["password"] is None else f"{match['user']}:{MASK}"
    return f"{match['scheme']}{shown}@"


def redact(text: str) -> str:
    """``text`` with every remembered secret and the password of every ``scheme://user:password@host`` masked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if "@" in text:
        text = _USERINFO.sub(_masked, text)
    return text


def without_credentials(url: str) -> str:
    """``url`` without its user-info: the form to publish (in a message's ``ce_dataschema``, say)."""
    return _USERINFO.sub(lambda match: match["scheme"], url)
