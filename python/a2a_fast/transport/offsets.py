"""Per-partition offset bookkeeping of a consumer whose records finish out of order, and redelivery dedupe."""

from __future__ import annotations

import heapq
from collections import OrderedDict

__all__ = ["DedupeCache", "OffsetTracker"]


class OffsetTracker:
    """The committable offset of one partition when records finish out of order.

    ``add`` each dispatched offset, ``done`` each handled one; ``committable`` is the offset to commit
    (the lowest one still outstanding, or one past the highest seen), or None when nothing new.
    """

    __slots__ = ("_committed", "_done", "_heap", "_highest")

    def __init__(self) -> None:
        self._heap: list[int] = []
        self._done: set[int] = set()
        self._highest = -1
        self._committed = -1

    def add(self, offset: int) -> None:
        heapq.heappush(self._heap, offset)
        if offset > self._highest:
            self._highest = offset

    def skip(self, offset: int) -> None:
        """``add`` and ``done`` of ``offset`` at once: a record that needs no handling."""
        if offset > self._highest:
            self._highest = offset
        if self._heap:  # an earlier record is still outstanding: this one waits in the heap, done
            heapq.heappush(self._heap, offset)
            self.done(offset)

    def done(self, offset: int) -> None:
        heap, done = self._heap, self._done
        if heap[0] == offset and not done:
            heapq.heappop(heap)  # the usual case: records finish in the order they came
            return
        done.add(offset)
        while heap and heap[0] in done:
            done.discard(heapq.heappop(heap))

    def outstanding(self) -> int:
        return len(self._heap)

    def covers(self, offset: int) -> bool:
        """Whether ``offset`` and every offset before it that was added are done."""
        return (self._heap[0] if self._heap else self._highest + 1) > offset

    def committable(self) -> int | None:
        candidate = self._heap[0] if self._heap else self._highest + 1
        return candidate if candidate > self._committed and self._highest >= 0 else None

    def mark_committed(self, offset: int) -> None:
        self._committed = max(self._committed, offset)


class DedupeCache:
    """A bounded LRU set of message ids (``ce_id``) already handled."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.holds = self._ids.__contains__
        """Whether an id is remembered, without the reordering ``in`` does when it is: a check per record that
        costs no Python call, for the usual case of an id not seen before (``in`` then tells a duplicate)."""

    def __contains__(self, event_id: object) -> bool:
        if event_id in self._ids:
            self._ids.move_to_end(event_id)  # type: ignore[arg-type]
            return True
        return False

    def add(self, event_id: str) -> None:
        ids = self._ids
        if event_id in ids:
            ids.move_to_end(event_id)
            return
        ids[event_id] = None
        if len(ids) > self.capacity:
            ids.popitem(last=False)

    def discard(self, event_id: str) -> None:
        self._ids.pop(event_id, None)

    def __len__(self) -> int:
        return len(self._ids)
