"""Message ids derived from the message being answered, so handling a redelivery again yields the same ids."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator

__all__ = ["derived_id", "random_id"]

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


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


class _RandomIds:
    """Random ids in the uuid4 form, from a pool of random bytes refilled 256 ids at a time (one system call
    each, where ``uuid.uuid4()`` makes one per id, and builds a ``UUID`` object). Each place in a pool is handed
    out once, by an iterator (one step of it is atomic), so threads drawing at once never share an id."""

    _SIZE = 16 * 256

    def __init__(self) -> None:
        self._state: tuple[bytes, Iterator[int]] = (b"", iter(()))
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        # a forked child drawing from its parent's pool would repeat its parent's ids
        self._state = (b"", iter(()))

    def __call__(self) -> str:
        while True:
            pool, places = self._state
            at = next(places, None)
            if at is not None:
                break
            self._state = (os.urandom(self._SIZE), iter(range(0, self._SIZE, 16)))
        hexed = pool[at : at + 16].hex()
        # version 4, variant 10xx: the digits uuid.uuid4() fixes
        return f"{hexed[:12]}4{hexed[13:16]}{_VARIANT[hexed[16]]}{hexed[17:]}"


random_id = _RandomIds()
"""A new random id, as ``uuid.uuid4().hex`` makes them (32 hex digits): task ids, message ids."""
