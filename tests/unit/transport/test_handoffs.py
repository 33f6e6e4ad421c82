"""The hand-offs between the loop and the Kafka clients: the producer's reports served by the loop itself, and the
consumer's thread taking its calls from a plain queue."""

from __future__ import annotations

import asyncio
import threading
import time
from functools import partial

from confluent_kafka import KafkaError

from a2a_fast.transport.consumer import _Worker
from a2a_fast.transport.memory import MemoryTransport
from a2a_fast.transport.producer import DeliveryBatch, Producer


async def _reports_of(sent: int, producer: Producer, batches: list[DeliveryBatch]) -> list[object]:
    deadline = time.monotonic() + 5
    while sum(len(batch) for batch in batches) < sent and time.monotonic() < deadline:  # noqa: ASYNC110 (polled)
        await asyncio.sleep(0.001)
    return [token for batch in batches for token, _ in batch]


def test_the_loop_serves_the_reports_with_no_thread_waiting_on_the_client() -> None:
    async def run() -> tuple[list[object], list[str], list[bool]]:
        batches: list[DeliveryBatch] = []
        on_loop: list[bool] = []
        loop_thread = threading.get_ident()

        def delivered(batch: DeliveryBatch) -> None:
            on_loop.append(threading.get_ident() == loop_thread)
            batches.append(batch)

        producer = Producer(MemoryTransport(), "handoff", delivered)
        producer.start()
        try:
            for number in range(5):
                producer.send("handoffs", b"k", [("h", b"v")], b"value", number)
            tokens = await _reports_of(5, producer, batches)
            threads = [thread.name for thread in threading.enumerate()]
            offset = await producer.send_and_wait("handoffs", b"k", [], b"waited")
            assert offset >= 0
        finally:
            await producer.close(5)
        return tokens, threads, on_loop

    tokens, threads, on_loop = asyncio.run(run())
    assert tokens == [0, 1, 2, 3, 4]
    assert not [name for name in threads if name.startswith("handoff")], threads
    assert on_loop and all(on_loop)


def test_reports_served_in_another_thread_reach_the_loop() -> None:
    """A transaction's commit flushes the client in an executor thread, which serves reports there."""

    async def run() -> list[object]:
        batches: list[DeliveryBatch] = []
        producer = Producer(MemoryTransport(), "flushing", batches.append)
        producer.start()
        try:
            producer.send("handoffs", b"k", [], b"value", "flushed")
            await asyncio.get_running_loop().run_in_executor(None, producer.client.flush, 1)
            return await _reports_of(1, producer, batches)
        finally:
            await producer.close(5)

    assert asyncio.run(run()) == ["flushed"]


def test_a_failed_delivery_is_reported_with_its_error() -> None:
    async def run() -> DeliveryBatch:
        batches: list[DeliveryBatch] = []
        producer = Producer(MemoryTransport(), "failing", batches.append)
        producer.start()
        try:
            producer.client.fail_next = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)  # type: ignore[attr-defined]
            producer.send("handoffs", b"k", [], b"value", "lost")
            await _reports_of(1, producer, batches)
            return [report for batch in batches for report in batch]
        finally:
            await producer.close(5)

    [(token, error)] = asyncio.run(run())
    assert token == "lost" and error is not None and error.code() == KafkaError.MSG_SIZE_TOO_LARGE


def test_the_consumer_thread_makes_its_calls_in_order_and_hands_back_results_and_errors() -> None:
    async def run() -> tuple[list[int], str, list[str]]:
        loop = asyncio.get_running_loop()
        worker = _Worker("worker-test")
        made: list[str] = []

        def fail() -> None:
            made.append(threading.current_thread().name)
            raise ValueError("refused")

        try:
            results = await asyncio.gather(*(worker.submit(loop, partial(pow, n, 2)) for n in range(4)))
            try:
                await worker.submit(loop, fail)
                failure = ""
            except ValueError as error:
                failure = str(error)
        finally:
            worker.shutdown()
        return list(results), failure, made

    results, failure, made = asyncio.run(run())
    assert results == [0, 1, 4, 9]
    assert failure == "refused" and made == ["worker-test"]


def test_a_call_cancelled_before_the_consumer_thread_reached_it_is_not_made() -> None:
    async def run() -> list[str]:
        loop = asyncio.get_running_loop()
        worker = _Worker("worker-cancel")
        made: list[str] = []
        gate = threading.Event()
        try:
            busy = worker.submit(loop, gate.wait)
            skipped = worker.submit(loop, lambda: made.append("skipped"))
            skipped.cancel()
            gate.set()
            await busy
            await worker.submit(loop, lambda: made.append("after"))
        finally:
            worker.shutdown()
        return made

    assert asyncio.run(run()) == ["after"]
