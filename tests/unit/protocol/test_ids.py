"""Derived message ids: the same as ``uuid.uuid5`` of the answered id and purpose, so they never change."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from a2a_fast.protocol.ids import _IDS, derived_id


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
