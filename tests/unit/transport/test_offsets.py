"""Offsets and dedupe: what may be committed, and which event ids are remembered."""

from __future__ import annotations

from a2a_fast.transport.offsets import DedupeCache, OffsetTracker


def test_offset_tracker_commits_only_past_contiguous_handled_records() -> None:
    tracker = OffsetTracker()
    assert tracker.committable() is None
    for offset in (5, 6, 7):
        tracker.add(offset)
    tracker.done(6)
    assert tracker.committable() == 5
    tracker.done(5)
    assert tracker.committable() == 7
    tracker.mark_committed(7)
    assert tracker.committable() is None
    tracker.done(7)
    assert tracker.committable() == 8 and tracker.outstanding() == 0


def test_dedupe_cache_is_bounded_and_forgets_the_oldest() -> None:
    cache = DedupeCache(2)
    for event_id in ("a", "b"):
        cache.add(event_id)
    assert "a" in cache  # touching "a" makes "b" the oldest
    cache.add("c")
    assert "b" not in cache and "a" in cache and "c" in cache and len(cache) == 2
    cache.discard("a")  # its outputs were lost: a redelivery must be handled again
    cache.discard("never added")
    assert "a" not in cache and len(cache) == 1


def test_a_dedupe_cache_of_size_zero_remembers_nothing() -> None:
    cache = DedupeCache(0)  # AgentConfig.dedupe_size=0: the dedupe off
    cache.add("a")
    assert "a" not in cache and len(cache) == 0
