"""Message ids: derived ones the same as ``uuid.uuid5`` of the answered id and purpose, so they never change; random
ones in the uuid4 form, never shared by threads drawing at once."""

from __future__ import annotations

import threading
import uuid

from hypothesis import given
from hypothesis import strategies as st

from a2a_fast.protocol.ids import _IDS, derived_id, random_id


@given(st.text(), st.text())
def test_a_derived_id_is_the_uuid5_of_the_event_id_and_purpose(event_id: str, purpose: str) -> None:
    try:
        expected = uuid.uuid5(_IDS, f"{event_id}/{purpose}").hex
    except UnicodeEncodeError:
        expected = None  # a lone surrogate: neither can encode it
    if expected is None:
        try:
            derived_id(event_id, purpose)
        except UnicodeEncodeError:
            return
        raise AssertionError("derived_id encoded what uuid5 could not")
    assert derived_id(event_id, purpose) == expected


def test_a_derived_id_is_stable_across_releases() -> None:
    # ids already in the log must be derived again alike: a redelivered record is recognised by them
    assert derived_id("e1", "accepted") == "0eb47cf02841542ca38e96d0e2aac1fd"
    assert derived_id("e1", "accepted") != derived_id("e1", "running")


def test_random_ids_are_uuid4_hex_and_threads_drawing_at_once_never_share_one() -> None:
    drawn: list[list[str]] = [[] for _ in range(4)]

    def draw(into: list[str]) -> None:
        into.extend(random_id() for _ in range(5000))  # pools of 256 run out many times over

    threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [found for into in drawn for found in into]
    assert len(set(ids)) == len(ids) == 20_000
    for found in ids[:500]:
        parsed = uuid.UUID(found)
        assert (parsed.hex, parsed.version, parsed.variant) == (found, 4, uuid.RFC_4122)
