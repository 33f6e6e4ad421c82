"""Message ids derived from the message being answered, so handling a redelivery again yields the same ids."""

from __future__ import annotations

import hashlib
import uuid

__all__ = ["derived_id"]

_IDS = uuid.UUID("6c0c4a52-51c7-4c55-9a3e-0d1b6f9a2a01")
_NAMESPACE = _IDS.bytes


def derived_id(event_id: str, purpose: str) -> str:
    """A message id determined by the message it answers, so a redelivery yields the same id: the hex of
    ``uuid.uuid5(_IDS, f"{event_id}/{purpose}")``."""
    # uuid5 by hand: the UUID object it builds costs more than the hash (a few ids are derived per record).
    digest = bytearray(hashlib.sha1(_NAMESPACE + f"{event_id}/{purpose}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return digest.hex()
