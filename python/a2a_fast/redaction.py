"""Credentials out of text meant for people: addresses in errors, logs and status pages.

A service address may carry credentials in its user-info part (``http://user:secret@registry:8081``,
``SASL_SSL://user:secret@broker:9092``). :func:`redact` keeps the user name, which helps to tell accounts
apart, and masks the password, wherever such an address appears in a text.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "redact", "without_credentials"]

MASK = "***"

# scheme://user:password@host. The password runs to the "@" after which no other "@" comes before the end
# of the authority, as URL parsers read it: a password may hold an unescaped "@" or ",".
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:@/?#\s]*)(?::(?P<password>[^\s/]*?))?@"
    r"(?=[^@\s/?#]*(?:[/?#\s]|$))"
)


def _masked(match: re.Match[str]) -> str:
    # A user-info without a password may itself be a token: then all of it is hidden.
    shown = MASK if match["password"] is None else f"{match['user']}:{MASK}"
    return f"{match['scheme']}{shown}@"


def redact(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` in it masked (``user:***@host``)."""
    if "@" not in text:
        return text
    return _USERINFO.sub(_masked, text)


def without_credentials(url: str) -> str:
    """``url`` without its user-info: the form to publish (in a message's ``ce_dataschema``, say)."""
    return _USERINFO.sub(lambda match: match["scheme"], url)
