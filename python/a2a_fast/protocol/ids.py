"""Message ids derived from the message being answered, so handling a redelivery again yields the same ids."""

from __future__ import annotations

import uuid

__all__ = ["derived_id"]

_IDS = uuid.UUID("6c0c4a52-51c7-4c55-9a3e-0d1b6f9a2a01")


def derived_id(event_id: str, purpose: str) -> str:
    """A message id determined by the message it answers, so a redelivery yields the same id."""
    return uuid.uuid5(_IDS, f"{event_id}/{purpose}").hex
