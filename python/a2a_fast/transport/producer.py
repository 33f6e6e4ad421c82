"""A producer that never blocks the event loop: records go out at once, delivery reports come back in batches.

:class:`Producer` wraps one client of the transport. :meth:`Producer.send` hands a record to the client and
returns; the loop itself serves the client's delivery reports, polling it without waiting (``poll(0)``) every
millisecond while records are out and every ``0.1`` s otherwise (for the client's error callbacks), and passes
them on in batches, each report as the ``token`` given to :meth:`~Producer.send` and the error (None when the
broker acknowledged the record). No thread waits on the client: a thread woken for every batch of reports cost
two hand-offs of the interpreter lock and a wake-up of the loop per batch, more CPU than the reports themselves.
:meth:`Producer.send_and_wait` is the one-record form that awaits its own acknowledgement. Idempotence and
``acks=all`` are the defaults, so a record acknowledged is on every in-sync replica and a retried record is
written once.

**Transactions.** With ``transactional.id`` in its config the producer writes in Kafka transactions:
:meth:`Producer.begin_transactions` (after :meth:`~Producer.start`) registers the id, which fences any earlier
producer of the same id and aborts its open transaction, and opens the first transaction; every record sent
goes into the open one; :meth:`Producer.commit_transaction` adds a consumer group's offsets to it, commits it
and opens the next. Records sent while a commit is under way wait and go into the next transaction, so sending
never fails for want of an open one. Readers with ``isolation.level=read_committed`` see a transaction's
records and offsets all at once, or (aborted) never.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from a2a_fast.transport.base import ProducerClient, Transport

__all__ = ["DeliveryBatch", "Producer"]

DeliveryBatch = list[tuple[Any, KafkaError | None]]
"""Delivery reports as ``(token, error)`` pairs; error None means acknowledged."""

_FULL_QUEUE_PAUSE = 0.005
_RETRY_PAUSE = 0.2
_BUSY_POLL = 0.001
"""Seconds between polls of the client while records are out (queued, in flight, or reported and not served)."""
_IDLE_POLL = 0.1
"""Seconds between polls of the client otherwise (its error and log callbacks)."""
_COMMIT_MARGIN = 5.0
"""Seconds beyond its timeout a commit may take before it is given up (and the agent starts over)."""


async def _bounded(call: asyncio.Future[Any], timeout: float, what: str) -> None:  # noqa: ASYNC109
    """Waits for a transactional call made in the producer's thread, raising ``_TIMED_OUT`` when it is still blocked
    :data:`_COMMIT_MARGIN` past its own ``timeout``: librdkafka's timeouts do not bound every such call (adding
    offsets was seen blocking for minutes while the group rebalanced, holding every output sent meanwhile, and so
    the rebalance, up with it)."""
    try:
        await asyncio.wait_for(call, timeout + _COMMIT_MARGIN)
    except TimeoutError:
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"{what} did not return within {timeout:g}s")) from None


class Producer:
    """One producer client whose reports the loop serves; ``on_deliveries`` gets each batch of them on the loop."""

    def __init__(
        self,
        transport: Transport,
        client_id: str,
        on_deliveries: Callable[[DeliveryBatch], None],
        config: Mapping[str, Any] | None = None,
        linger_ms: int = 1,
    ) -> None:
        self.client_id = client_id
        self._settings = {
            "client.id": client_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": linger_ms,
            **(config or {}),
        }
        self._transport = transport
        self._on_deliveries = on_deliveries
        self._client: ProducerClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._reports: deque[tuple[Any, KafkaError | None]] = deque()
        """Reports served by the client (on the loop, or in a thread that flushes it), not yet passed on."""
        self._busy_poll: asyncio.TimerHandle | None = None
        self._idle_poll: asyncio.TimerHandle | None = None
        self._committing = False
        self.opened = 0
        """Transactions opened (the open one is the ``opened``-th)."""
        self.committed = 0
        """Transactions committed: those up to the ``committed``-th."""
        self._waiting: list[tuple[str, bytes | None, list[tuple[str, bytes]], bytes | None, Any]] = []
        self._waiters = 0
        """Records of :meth:`send_and_wait` not yet reported: while none are, report batches pass on as they come."""
        self._calls: ThreadPoolExecutor | None = None
        """The thread of the blocking transactional calls: its own, so that no other blocking call of the process
        (registry look-ups, admin calls in the loop's default executor) ever holds a commit up."""

    @property
    def client(self) -> ProducerClient:
        if self._client is None:
            raise KafkaException(KafkaError(KafkaError._STATE, f"producer {self.client_id} is closed"))
        return self._client

    def start(self) -> None:
        """Connects and starts serving the reports; call on the loop that gets them."""
        self._loop = loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._client = self._transport.producer(self._settings)
        self._idle_poll = loop.call_later(_IDLE_POLL, self._serve_idle)

    def send(
        self, topic: str, key: bytes | None, headers: list[tuple[str, bytes]], value: bytes | None, token: Any
    ) -> None:
        """Hands one record to the client; its report comes back with ``token``. Raises BufferError when the
        client's queue is full (see :meth:`send_when_room`)."""
        if self._committing:
            self._waiting.append((topic, key, headers, value, token))
            return
        client = self._client
        if client is None:
            client = self.client  # raises
        client.produce(topic, value, key, headers=headers, on_delivery=partial(self._report, token))
        if self._busy_poll is None and self._loop is not None and threading.get_ident() == self._loop_thread:
            self._busy_poll = self._loop.call_later(_BUSY_POLL, self._serve_busy)

    # --- transactions ---------------------------------------------------------------------------------------------

    @property
    def transactional(self) -> bool:
        """Whether this producer writes in transactions (``transactional.id`` is set)."""
        return bool(self._settings.get("transactional.id"))

    async def begin_transactions(self, timeout: float) -> None:  # noqa: ASYNC109 (librdkafka's timeout)
        """Registers the ``transactional.id`` with its coordinator (fencing an earlier producer of the same id,
        whose open transaction is aborted) and opens the first transaction. Raises KafkaException."""
        client = self.client
        if self._calls is None:
            self._calls = ThreadPoolExecutor(1, thread_name_prefix=f"{self.client_id}-transactions")
        call = asyncio.get_running_loop().run_in_executor(self._calls, client.init_transactions, timeout)
        await _bounded(call, timeout, "init_transactions")
        client.begin_transaction()
        self.opened += 1

    @property
    def sending_into(self) -> int:
        """The transaction a record sent now goes into (by number, as :attr:`opened` counts them)."""
        return self.opened + 1 if self._committing else self.opened

    @property
    def holding(self) -> bool:
        """Whether records sent now wait for the next transaction (:meth:`hold`)."""
        return self._committing

    def hold(self) -> None:
        """Records sent from now on wait, to go into the next transaction (the open one is about to commit)."""
        self._committing = True

    def release(self) -> None:
        """Sends the records that waited, into the open transaction (the commit was called off)."""
        self._committing = False
        waiting, self._waiting = self._waiting, []
        for topic, key, headers, value, token in waiting:
            while True:
                try:
                    self.send(topic, key, headers, value, token)
                    break
                except BufferError:
                    self.client.poll(0.005)  # room is made as delivery reports are served

    async def commit_transaction(self, offsets: list[Any], group_metadata: Any, timeout: float) -> None:  # noqa: ASYNC109
        """Commits the open transaction with ``offsets`` of the group ``group_metadata`` names, then opens the
        next one and sends into it what was sent meanwhile. On failure the transaction is aborted (when it can
        be) and KafkaException raised: its records and offsets are never seen by ``read_committed`` readers. A commit
        still blocked a few seconds past ``timeout`` raises ``_TIMED_OUT`` too, leaving the transaction to whoever
        takes the ``transactional.id`` over next (which ends it)."""
        client = self.client
        self.hold()
        call = asyncio.get_running_loop().run_in_executor(
            self._calls, partial(_commit, client, offsets, group_metadata, timeout)
        )
        await _bounded(call, timeout, "the transaction's commit")
        self.committed = self.opened
        client.begin_transaction()
        self.opened += 1
        self.release()

    def abandon(self, reason: str) -> None:
        """Gives up every record not acknowledged yet, for a transaction that was aborted: those waiting for the next
        transaction are reported failed at once (with ``_PURGE_QUEUE``), those in the client are purged (librdkafka
        reports them failed as it serves its queue). Records sent afterwards go to the client as usual."""
        error = KafkaError(KafkaError._PURGE_QUEUE, reason)
        waiting, self._waiting = self._waiting, []
        self._committing = False
        if waiting:
            self._deliver([(token, error) for *_, token in waiting])
        client = self._client
        if client is not None:
            with contextlib.suppress(KafkaException, NotImplementedError):
                client.purge(True, True, False)

    async def send_when_room(
        self, topic: str, key: bytes | None, headers: list[tuple[str, bytes]], value: bytes | None, token: Any
    ) -> None:
        """:meth:`send`, waiting for room in the client's queue when it is full."""
        while True:
            try:
                self.send(topic, key, headers, value, token)
                return
            except BufferError:
                await asyncio.sleep(_FULL_QUEUE_PAUSE)  # the loop's polls drain the queue meanwhile

    async def send_and_wait(
        self, topic: str, key: bytes | None, headers: list[tuple[str, bytes]], value: bytes | None
    ) -> int:
        """Produces one record and returns its offset once the broker acknowledged it (raises KafkaException
        if not)."""
        assert self._loop is not None, "producer not started"
        waiter = _Waiter(self._loop.create_future())
        self._waiters += 1
        try:
            await self.send_when_room(topic, key, headers, value, waiter)
        except BaseException:
            self._waiters -= 1
            raise
        return await waiter.future

    def send_reported(
        self,
        topic: str,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
        value: bytes | None,
        report: Callable[[KafkaError | None], None],
    ) -> None:
        """:meth:`send` without waiting: ``report`` is called on the loop with the record's delivery error, None
        once the broker acknowledged it (it must not raise). Raises BufferError when the client's queue is full."""
        self.send(topic, key, headers, value, _Reported(report))
        self._waiters += 1

    @property
    def waiting(self) -> int:
        """Records sent during a commit, waiting for the next transaction."""
        return len(self._waiting)

    def _report(self, token: Any, error: KafkaError | None, message: Any) -> None:
        if isinstance(token, _Waiter) and error is None:
            token.offset = int(message.offset())
        self._reports.append((token, error))

    def _serve(self) -> None:
        """Serves the client's reports (without waiting) and passes on every report served so far."""
        client = self._client
        if client is not None:
            client.poll(0)
        reports = self._reports
        if reports:
            batch = [reports.popleft() for _ in range(len(reports))]
            self._deliver(batch)

    def _serve_busy(self) -> None:
        self._busy_poll = None
        try:
            self._serve()
        finally:
            client, loop = self._client, self._loop
            if client is not None and loop is not None and (len(client) or self._reports):
                self._busy_poll = loop.call_later(_BUSY_POLL, self._serve_busy)

    def _serve_idle(self) -> None:
        self._idle_poll = None
        try:
            self._serve()
        finally:
            if self._client is not None and self._loop is not None:
                self._idle_poll = self._loop.call_later(_IDLE_POLL, self._serve_idle)

    def _stop_serving(self) -> None:
        for handle in (self._busy_poll, self._idle_poll):
            if handle is not None:
                handle.cancel()
        self._busy_poll = self._idle_poll = None

    def _deliver(self, batch: DeliveryBatch) -> None:
        """Resolves the futures of :meth:`send_and_wait`, calls the functions of :meth:`send_reported` and passes
        every other report on."""
        if not self._waiters:
            if batch:
                self._on_deliveries(batch)
            return
        others: DeliveryBatch = []
        for token, error in batch:
            if isinstance(token, _Waiter):
                self._waiters -= 1
                if not token.future.done():
                    if error is None:
                        token.future.set_result(token.offset)
                    else:
                        token.future.set_exception(KafkaException(error))
            elif isinstance(token, _Reported):
                self._waiters -= 1
                token.report(error)
            else:
                others.append((token, error))
        if others:
            self._on_deliveries(others)

    async def close(self, timeout: float) -> None:  # noqa: ASYNC109 (librdkafka's flush timeout)
        """Flushes what is queued (waiting at most ``timeout`` seconds) and applies the last reports on the loop,
        before returning."""
        loop = asyncio.get_running_loop()
        self._stop_serving()
        if self._client is not None:
            await loop.run_in_executor(None, self._client.flush, timeout)
            reports = self._reports
            batch = [reports.popleft() for _ in range(len(reports))]
            with contextlib.suppress(Exception):
                self._deliver(batch)
            self._client = None
        if self._calls is not None:
            self._calls.shutdown(wait=False)
            self._calls = None

    async def check(self, topic: str, patience: float) -> str | None:
        """None when the broker answers a metadata request for ``topic`` within ``patience`` seconds."""
        client = self._client
        if client is None:
            return "producer is closed"
        try:
            await asyncio.get_running_loop().run_in_executor(None, partial(client.list_topics, topic, patience))
        except KafkaException as error:
            return str(error)
        return None


def _commit(client: ProducerClient, offsets: list[Any], group_metadata: Any, timeout: float) -> None:
    # A retriable error (the coordinator moved, as while the broker restarts) leaves the transaction open: both
    # calls may be made again, until the timeout.
    # Once the offsets are in, a commit that timed out is resumed by calling commit_transaction alone: adding the
    # offsets again while it is under way fails (_CONFLICT, "a commit_transaction call is already in progress").
    deadline = time.monotonic() + timeout
    offsets_added = not offsets
    while True:
        try:
            if not offsets_added:
                client.send_offsets_to_transaction(offsets, group_metadata, max(0.1, deadline - time.monotonic()))
                offsets_added = True
            client.commit_transaction(max(0.1, deadline - time.monotonic()))
            return
        except KafkaException as error:
            failure = error.args[0] if error.args else None
            if isinstance(failure, KafkaError) and failure.retriable() and time.monotonic() < deadline:
                time.sleep(_RETRY_PAUSE)
                continue
            if isinstance(failure, KafkaError) and failure.txn_requires_abort():
                with contextlib.suppress(KafkaException):
                    client.abort_transaction(timeout)
            raise


class _Waiter:
    """The token of one :meth:`Producer.send_and_wait`: its future and, once acknowledged, the offset."""

    __slots__ = ("future", "offset")

    def __init__(self, future: asyncio.Future[int]) -> None:
        self.future = future
        self.offset = -1


class _Reported:
    """The token of one :meth:`Producer.send_reported`: what its report goes to."""

    __slots__ = ("report",)

    def __init__(self, report: Callable[[KafkaError | None], None]) -> None:
        self.report = report
