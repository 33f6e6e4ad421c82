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


def test_a_skipped_offset_is_added_and_done_at_once_but_never_passes_an_earlier_one_outstanding() -> None:
    tracker = OffsetTracker()
    tracker.skip(3)  # nothing outstanding: it moves the committable offset on
    assert tracker.committable() == 4 and tracker.outstanding() == 0 and tracker.covers(3)
    tracker.add(4)
    tracker.skip(5)  # 4 is still being handled: 5 waits behind it
    assert tracker.committable() == 4 and not tracker.covers(5)
    tracker.done(4)
    assert tracker.committable() == 6 and tracker.outstanding() == 0


def test_dedupe_cache_is_bounded_and_forgets_the_oldest() -> None:
    cache = DedupeCache(2)
    for event_id in ("a", "b"):
        cache.add(event_id)
    assert "a" in cache  # touching "a" makes "b" the oldest
    cache.add("c")
    assert "b" not in cache and "a" in cache and "c" in cache and len(cache) == 2
    assert cache.holds("a") and not cache.holds("b")
    cache.discard("a")  # its outputs were lost: a redelivery must be handled again
    cache.discard("never added")
    assert "a" not in cache and len(cache) == 1


def test_a_dedupe_cache_of_size_zero_remembers_nothing() -> None:
    cache = DedupeCache(0)  # AgentConfig.dedupe_size=0: the dedupe off
    cache.add("a")
    assert "a" not in cache and len(cache) == 0
