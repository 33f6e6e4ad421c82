"""A consumer-group member confined to one worker thread, with the offsets it may commit and its rebalances.

:class:`GroupConsumer` owns one consumer client of the transport. Every call on the client (``consume``,
``commit``, ``pause``, ``close``) runs in the member's worker thread, and so do the rebalance callbacks:

* **Fetch.** :meth:`GroupConsumer.fetch` returns whatever is ready, else the first record to arrive within the
  timeout and what came with it.
* **Offsets.** The owner :meth:`~GroupConsumer.track`\\ s each record it dispatches and marks it done on the
  returned :class:`~a2a_fast.transport.offsets.OffsetTracker` once handled; an offset is committed (every
  ``commit_interval`` and at the end) only when its record and every earlier record of the partition are done.
* **Rebalances.** Before partitions are taken away the owner's ``release`` coroutine runs on the loop (it waits
  until the work in flight is handled), then what may be committed is committed, so another member never starts
  work this one still does. Partitions *lost* instead (the member's session ran out, as during a broker restart:
  the group may have given them to another member already) are not drained: the owner's ``lose`` coroutine gives
  up the work in flight, and nothing of theirs is committed. When partitions are given, the owner's ``assigned``
  hook runs first (in the worker thread) and a partition with no committed offset starts at ``start_at`` (epoch
  seconds) when given, else where ``auto.offset.reset`` says. A member given no partition at all says so in the
  log and in :attr:`GroupConsumer.idle_reason`; partitions added to a topic are picked up at the next metadata
  refresh.
* **Close**: commit what may be committed, then close the client (the group rebalances at once).
* **Offsets in transactions** (``commits=False``): the member commits nothing itself; its owner takes
  :meth:`GroupConsumer.committable` into its producer's transactions with :meth:`GroupConsumer.group_metadata`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, OFFSET_INVALID, KafkaError, KafkaException, TopicPartition

from a2a_fast.transport.base import ConsumerClient, Transport
from a2a_fast.transport.offsets import OffsetTracker

__all__ = ["GroupConsumer"]

log = logging.getLogger("a2a_fast.transport")
T = TypeVar("T")


class GroupConsumer:
    """One member of consumer group ``group`` reading ``topics``.

    ``assigned(partitions)`` runs in the worker thread before the given partitions are read; ``release()``
    runs on the loop before partitions are taken away and returns once the work in flight is handled.
    """

    def __init__(
        self,
        transport: Transport,
        client_id: str,
        group: str,
        topics: Sequence[str],
        *,
        assigned: Callable[[list[TopicPartition]], None] | None = None,
        release: Callable[[], Awaitable[None]] | None = None,
        lose: Callable[[], Awaitable[None]] | None = None,
        start_at: float | None = None,
        session_timeout_ms: int = 6000,
        metadata_refresh_ms: int = 10_000,
        commit_interval: float = 0.1,
        release_timeout: float = 35.0,
        config: Mapping[str, Any] | None = None,
        commits: bool = True,
    ) -> None:
        self.client_id = client_id
        self.commits = commits
        """False: the owner commits the offsets (:meth:`committable`) itself, in its producer's transactions."""
        self.group = group
        self.topics = list(topics)
        self.start_at = start_at
        self.commit_interval = commit_interval
        self.release_timeout = release_timeout
        self._assigned_hook = assigned
        self._release = release
        self._lose = lose
        self._transport = transport
        self._settings = {
            "client.id": client_id,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range",
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": max(500, session_timeout_ms // 4),
            "topic.metadata.refresh.interval.ms": metadata_refresh_ms,
            "statistics.interval.ms": 1000,
            "stats_cb": self._on_stats,
            **(config or {}),
        }
        self._client: ConsumerClient | None = None
        self._thread = _Worker(f"{client_id}-consumer")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._trackers: dict[tuple[str, int], OffsetTracker] = {}
        self._commit_task: asyncio.Task[None] | None = None
        self._closing = False
        self.paused = False
        self.assignment: list[tuple[str, int]] = []
        self.lag: dict[str, int] = {}
        self.idle_reason: str | None = None
        """Why this member reads nothing (it was given no partition), or None."""
        self.assigned_once = asyncio.Event()
        self.rebalances = 0
        self.held: dict[tuple[str, int], int] = {}
        """Partitions held back at an offset (:meth:`hold_back`): paused, to be read again from there."""
        self._to_hold: list[TopicPartition] = []
        self._to_free = False

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connects and subscribes; the group gives partitions on the first :meth:`fetch`."""
        self._loop = asyncio.get_running_loop()
        self._client = await self._run(partial(self._transport.consumer, self._settings))
        client = self._client
        await self._run(
            partial(
                client.subscribe,
                self.topics,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
        )
        if self.commits:
            self._commit_task = self._loop.create_task(self._commit_loop(), name=f"{self.client_id}-commit")

    async def close(self) -> None:
        """Commits what may be committed and closes the client (the group rebalances at once)."""
        if self._commit_task is not None:
            self._commit_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._commit_task
            self._commit_task = None
        client = self._client
        if client is not None:
            offsets = self.committable() if self.commits else []
            if offsets:
                with contextlib.suppress(KafkaException):
                    await self._run(partial(client.commit, offsets=offsets, asynchronous=False))
            self._closing = True
            await self._run(client.close)
            self._client = None
        self._thread.shutdown(wait=True)

    @property
    def client(self) -> ConsumerClient:
        if self._client is None:
            raise KafkaException(KafkaError(KafkaError._STATE, f"consumer {self.client_id} is closed"))
        return self._client

    async def _run(self, call: Callable[[], T]) -> T:
        return await self._thread.submit(self._loop or asyncio.get_running_loop(), call)

    async def run(self, call: Callable[[ConsumerClient], T]) -> T:
        """Runs ``call(client)`` in the worker thread (for role hooks that read the client, e.g. ``committed``)."""
        client = self.client
        return await self._run(partial(call, client))

    # --- reading --------------------------------------------------------------------------------------

    def hold_back(self, topic: str, partition: int, offset: int) -> None:
        """Pauses one partition and rewinds it to ``offset`` (before the next fetch): its records from there
        are read again after :meth:`let_go`."""
        self.held[(topic, partition)] = offset
        self._to_hold.append(TopicPartition(topic, partition, offset))

    def let_go(self) -> None:
        """Resumes the held-back partitions (before the next fetch)."""
        if self.held:
            self._to_free = True

    def _apply_holds(self) -> None:
        client = self.client
        holds, self._to_hold = self._to_hold, []
        for tp in holds:
            client.pause([tp])
            client.seek(tp)
        if self._to_free:
            self._to_free = False
            freed = [TopicPartition(topic, number) for topic, number in self.held]
            self.held.clear()
            if freed and not self.paused:
                client.resume(freed)

    async def fetch(self, count: int, timeout: float) -> list[Any]:  # noqa: ASYNC109 (a poll timeout)
        """Up to ``count`` records: whatever is ready now, else the first to arrive within ``timeout`` and
        what came with it. While paused it only keeps the membership alive (and serves rebalances)."""
        client = self.client
        if self._to_hold or self._to_free:
            await self._run(self._apply_holds)
        if self.paused:
            return await self._run(partial(client.consume, 1, 0))
        return await self._run(partial(_fetch, client, count, timeout))

    async def pause(self) -> None:
        """Stops fetching from every assigned partition (the member stays in the group)."""
        if not self.paused:
            self.paused = True
            client = self.client
            await self._run(lambda: client.pause(client.assignment()))

    async def resume(self) -> None:
        if self.paused:
            self.paused = False
            client = self.client
            held = self.held

            def resume_all_but_held() -> None:
                chosen = [tp for tp in client.assignment() if (tp.topic, tp.partition) not in held]
                if chosen:
                    client.resume(chosen)

            await self._run(resume_all_but_held)

    async def rewind(self, forget: Callable[[], None] | None = None) -> None:
        """Reads every assigned partition again from its committed offset (where a member given it now would start),
        forgetting what was tracked since: for an owner whose transaction was aborted, so that the records handled
        in it are handled again. ``forget`` runs first, then the ``assigned`` hook, both in the worker thread."""
        client = self.client

        def rewind() -> None:
            self._trackers.clear()
            self.held.clear()
            self._to_hold.clear()
            self._to_free = False
            if forget is not None:
                forget()
            partitions = client.assignment()
            if not partitions:
                return
            if self._assigned_hook is not None:
                self._assigned_hook(partitions)
            committed = {(tp.topic, tp.partition): tp.offset for tp in client.committed(partitions, timeout=10)}
            reset = str(self._settings.get("auto.offset.reset", "earliest"))
            fresh = OFFSET_BEGINNING if reset in ("earliest", "beginning", "smallest") else OFFSET_END
            for tp in self._starting_points(client, partitions):
                where = (tp.topic, tp.partition)
                offset = tp.offset if tp.offset >= 0 else committed.get(where, OFFSET_INVALID)
                client.seek(TopicPartition(tp.topic, tp.partition, offset if offset >= 0 else fresh))
            if not self.paused:
                client.resume(partitions)

        await self._run(rewind)

    # --- offsets --------------------------------------------------------------------------------------

    def track(self, topic: str, partition: int) -> OffsetTracker:
        """The tracker of one partition's offsets, for the owner to ``add`` and ``done`` records on."""
        where = (topic, partition)
        tracker = self._trackers.get(where)
        if tracker is None:
            tracker = self._trackers[where] = OffsetTracker()
        return tracker

    def group_metadata(self) -> Any:
        """The group's metadata for ``send_offsets_to_transaction`` (the member's generation fences zombies)."""
        return self.client.consumer_group_metadata()

    def committable(self) -> list[TopicPartition]:
        offsets = []
        for (topic, partition), tracker in self._trackers.items():
            offset = tracker.committable()
            if offset is not None:
                tracker.mark_committed(offset)
                offsets.append(TopicPartition(topic, partition, offset))
        return offsets

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self.commit_interval)
            offsets = self.committable()
            if offsets and self._client is not None:
                client = self._client
                try:
                    await self._run(partial(client.commit, offsets=offsets, asynchronous=True))
                except KafkaException as error:
                    log.warning("%s: commit failed: %s", self.client_id, error)

    # --- rebalances (in the worker thread) ---------------------------------------------------------

    def _on_assign(self, client: ConsumerClient, partitions: list[TopicPartition]) -> None:
        # Rebalance callbacks run inside librdkafka calls: an exception escaping them would kill the worker
        # thread with the pending call's future never resolved, so they log instead of raising.
        try:
            if not self._closing and self._assigned_hook is not None and partitions:
                self._assigned_hook(partitions)
            if partitions and not self.paused:
                # The client keeps a partition's pause through a rebalance: one held back before it would come back
                # paused, with nothing left to let it go. Resumed before the assignment, which a later pause or
                # resume call could overtake (its starting offsets lost).
                client.resume(partitions)
            client.assign(self._starting_points(client, partitions))
            if self.paused and partitions:
                client.pause(partitions)
        except Exception as error:
            log.error("%s: handling an assignment failed: %r", self.client_id, error)
        self.rebalances += 1
        self.held.clear()
        self._to_hold.clear()
        self._to_free = False
        self.assignment = [(tp.topic, tp.partition) for tp in partitions]
        self._note_assignment(partitions)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.assigned_once.set)

    def _starting_points(self, client: ConsumerClient, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """Partitions with no committed offset start at ``start_at`` when it is set."""
        if self.start_at is None or not partitions:
            return partitions
        committed = client.committed(partitions, timeout=10)
        fresh = [
            TopicPartition(tp.topic, tp.partition, int(self.start_at * 1000))
            for tp in committed
            if tp.offset == OFFSET_INVALID
        ]
        if not fresh:
            return partitions
        # The ends are read first: a partition with no record at or after the time starts at the end it had
        # then, as an offset (the client would resolve "the end" later, after records produced meanwhile).
        ends = {(tp.topic, tp.partition): client.get_watermark_offsets(tp, timeout=10)[1] for tp in fresh}
        found = {(tp.topic, tp.partition): tp.offset for tp in client.offsets_for_times(fresh, timeout=10)}
        chosen = []
        for tp in partitions:
            where = (tp.topic, tp.partition)
            offset = found.get(where)
            if offset is not None and offset < 0:
                offset = ends[where]
            chosen.append(tp if offset is None else TopicPartition(tp.topic, tp.partition, offset))
        return chosen

    def _note_assignment(self, partitions: list[TopicPartition]) -> None:
        if partitions or self._closing:
            if self.idle_reason is not None:
                log.info("%s: now has %d partition(s) of %s", self.client_id, len(partitions), ", ".join(self.topics))
            self.idle_reason = None
            return
        reason = (
            f"joined group {self.group} but was given no partition of {', '.join(self.topics)}: other members hold"
            " them all; it reads nothing until a member leaves or partitions are added"
        )
        if self.idle_reason is None:
            log.warning("%s: %s", self.client_id, reason)
        self.idle_reason = reason

    def _on_revoke(self, client: ConsumerClient, partitions: list[TopicPartition]) -> None:
        """Finishes work in flight and commits before the partitions go to another member."""
        loop = self._loop
        self.assignment = []
        if loop is None or loop.is_closed():
            return
        try:
            if self._release is not None:
                asyncio.run_coroutine_threadsafe(self._release_all(), loop).result(self.release_timeout)
            offsets = self.committable() if self.commits else []
            if offsets:
                client.commit(offsets=offsets, asynchronous=False)
        except Exception as error:
            log.warning("%s: draining and committing before a rebalance failed: %r", self.client_id, error)
        self._trackers.clear()

    def _on_lost(self, client: ConsumerClient, partitions: list[TopicPartition]) -> None:
        """Gives up the work in flight on partitions another member may already read: none of it is committed."""
        loop = self._loop
        self.assignment = []
        self._trackers.clear()  # first: no offset of theirs goes into a commit or a transaction from here on
        if loop is None or loop.is_closed() or self._closing:
            return
        log.warning(
            "%s: lost its partitions of %s (its group session ran out); the work in flight on them is given up,"
            " uncommitted, to whoever has them now",
            self.client_id, ", ".join(self.topics),
        )  # fmt: skip
        if self._lose is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._lose_all(), loop).result(self.release_timeout)
        except Exception as error:
            log.warning("%s: giving up the work on lost partitions failed: %r", self.client_id, error)

    async def _lose_all(self) -> None:
        assert self._lose is not None
        await self._lose()

    async def _release_all(self) -> None:
        assert self._release is not None
        await self._release()

    def _on_stats(self, raw: str) -> None:
        stats = json.loads(raw)
        lag = {}
        for topic, info in stats.get("topics", {}).items():
            for number, part in info.get("partitions", {}).items():
                if int(number) >= 0 and part.get("consumer_lag", -1) >= 0:
                    lag[f"{topic}/{number}"] = int(part["consumer_lag"])
        self.lag = lag


class _Worker:
    """The member's one thread: runs the calls given to it in order, each result handed back to the loop.

    What ``run_in_executor`` on a one-thread pool does, without its two futures chained per call (a
    ``concurrent.futures.Future`` with its condition, wrapped in an asyncio one): the consumer makes a call per
    fetch, and on an agent answering calls one by one that hand-off cost more than the fetch. A call whose
    future was cancelled before it started is not made."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._calls: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[], Any]] | None]
        self._calls = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, loop: asyncio.AbstractEventLoop, call: Callable[[], T]) -> asyncio.Future[T]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._thread.start()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((loop, future, call))
        return future

    def shutdown(self, wait: bool = True) -> None:
        """Ends the thread once the calls given so far are made (waiting for that with ``wait``)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._calls.put(None)
            if wait:
                thread.join()

    def _serve(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            loop, future, call = item
            if future.cancelled():
                continue
            try:
                result = call()
            except BaseException as error:  # handed to the caller, as run_in_executor does
                _hand_back(loop, _fail, future, error)
            else:
                _hand_back(loop, _succeed, future, result)
            del item, future, call


def _hand_back(loop: asyncio.AbstractEventLoop, settle: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits any more
        loop.call_soon_threadsafe(settle, *args)


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.cancelled():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.cancelled():
        future.set_exception(error)


def _fetch(client: ConsumerClient, count: int, timeout: float) -> list[Any]:
    # consume(count, timeout) alone would hold a lone record until the timeout.
    messages = client.consume(count, 0)
    if messages:
        return messages
    first = client.consume(1, timeout)
    if not first or count == 1:
        return first
    return first + client.consume(count - 1, 0)
