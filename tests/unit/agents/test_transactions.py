"""Agents in Kafka transactions, on the in-memory twin: what a transactional producer's records look like to
readers, and a provider that crashes between producing an award and committing it, with dedupe off."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.protocol.envelope import Envelope, Inbound
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST, KIND_TASK_RESPONSE
from a2a_fast.transport.memory import MemoryBroker, MemoryConsumer, MemoryProducer, MemoryTransport
from tests.scenarios import eventually, fresh_mesh, run_strict
from tests.scenarios.routing import start_all, stop_all

HANDLERS: Any = {"summarize": lambda task: _done(task)}


async def _done(task: Any) -> str:
    return "done"


def request(task_id: str) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "requester_id": "requester-1",
        "description": "once",
        "capability": "summarize",
        "proposed_cost": 20.0,
        "priority": 1,
        "parameters": {},
        "timestamp": 1_700_000_000_000,
    }


def _values(consumer: MemoryConsumer, topic: str) -> list[bytes | None]:
    consumer.assign([TopicPartition(topic, 0, -2)])
    return [message.value() for message in consumer.consume(100, 0)]


def test_the_twin_shows_a_transaction_to_read_committed_readers_whole_or_never() -> None:
    broker = MemoryBroker(default_partitions=1)
    broker.create_topic("t")
    producer = MemoryProducer(broker, {"transactional.id": "p"})
    with pytest.raises(KafkaException, match="init_transactions"):
        producer.begin_transaction()
    producer.init_transactions()
    producer.begin_transaction()
    producer.produce("t", b"a")
    committed = MemoryConsumer(broker, {"group.id": "g"})
    everything = MemoryConsumer(broker, {"group.id": "h", "isolation.level": "read_uncommitted"})
    assert _values(committed, "t") == []
    assert _values(everything, "t") == [b"a"]
    producer.send_offsets_to_transaction([TopicPartition("in", 0, 7)], "readers", 1)
    producer.commit_transaction()
    assert _values(committed, "t") == [b"a"]
    assert broker.committed("readers", "in", 0) == 7

    producer.begin_transaction()
    producer.produce("t", b"b")
    producer.send_offsets_to_transaction([TopicPartition("in", 0, 9)], "readers", 1)
    # a new producer of the id fences this one and aborts its open transaction, offsets and all
    successor = MemoryProducer(broker, {"transactional.id": "p"})
    successor.init_transactions()
    with pytest.raises(KafkaException, match="fenced"):
        producer.commit_transaction()
    successor.begin_transaction()
    successor.produce("t", b"c")
    successor.commit_transaction()
    assert _values(MemoryConsumer(broker, {"group.id": "g2"}), "t") == [b"a", b"c"]
    assert broker.committed("readers", "in", 0) == 7


class StallingProvider(Provider):
    """Answers the first request, then never finishes handling it: a crash between producing and committing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.awarded = asyncio.Event()

    async def handle(self, message: Inbound) -> None:
        await super().handle(message)
        if not self.awarded.is_set():
            self.awarded.set()
            await asyncio.Event().wait()


def _crash(agent: Provider) -> None:
    """What kill -9 leaves behind: the consumer gone from its group without committing, the producer's open
    transaction (if any) left open, nothing flushed or stopped in order."""
    assert agent.consumer is not None
    for task in (agent._intake_task, agent._transaction_task, *agent._handling):
        if task is not None:
            task.cancel()
    client = agent.consumer.client
    assert isinstance(client, MemoryConsumer)
    client.crash()


@pytest.mark.parametrize("transactional", [True, False], ids=["transactions", "without"])
def test_a_provider_killed_between_award_and_commit_awards_once_in_transactions(transactional: bool) -> None:
    """With dedupe off, a provider that produced its award but died before committing the request's offset (its
    pool's first commit): in transactions the first award is aborted when the restarted provider takes its
    transactional id over, and the request is answered again; without, the restarted provider finds the award it
    acknowledged on the log and does not answer again. Either way the task is awarded and runs once."""
    with fresh_mesh(MemoryTransport()) as mesh:

        async def scenario() -> None:
            options = {"transactional": transactional, "dedupe_size": 0, "join_mesh": False}
            executor = Executor(mesh.config("executor-1", dedupe_size=0), HANDLERS, serve_steps=False)
            first = StallingProvider(mesh.config("provider-1", **options), {"summarize": 10.0})
            await start_all(executor, first)
            second: Provider | None = None
            try:
                assert executor.catalog is not None
                envelope = Envelope(executor.catalog, mesh.topics, "requester-1")
                task_id = "task-once"
                await executor.produce_record(envelope.encode(KIND_TASK_REQUEST, request(task_id)))
                await asyncio.wait_for(first.awarded.wait(), 10)
                _crash(first)
                second = Provider(mesh.config("provider-1", **options), {"summarize": 10.0})
                await second.start()
                await eventually(lambda: executor.counts["COMPLETED"] >= 1, 10, "the task completed")
                if transactional:
                    await eventually(lambda: second is not None and second.decisions["ACCEPTED"] == 1, 10, "answered")
                else:
                    await eventually(lambda: second is not None and second.already_answered == 1, 10, "found")
                await asyncio.sleep(0.3)  # a few commit intervals: a second award would have come by now
            finally:
                await stop_all(*(agent for agent in (second, executor) if agent is not None))
            responses = [m for m in mesh.log(mesh.topics.responses) if m.task_id == task_id]
            statuses = [m.record["status"] for m in responses]
            assert statuses.count("ACCEPTED") == 1, statuses
            assert first.decisions["ACCEPTED"] == 1
            assert statuses.count("COMPLETED") == 1 and executor.counts["COMPLETED"] == 1, statuses
            if transactional:
                assert second is not None and second.transactions >= 1

        run_strict(scenario)


def test_transactions_are_an_option_of_the_command_line_and_the_config_file(tmp_path: Any) -> None:
    from a2a_fast.cli import build_parser
    from a2a_fast.cli.agents import build_agent
    from a2a_fast.config import load_config
    from a2a_fast.errors import ConfigError

    agent = build_agent(build_parser().parse_args(["agent", "provider", "--transactional", "--http-port", "-1"]))
    assert agent.config.transactional is True
    agent = build_agent(build_parser().parse_args(["agent", "provider", "--http-port", "-1"]))
    assert agent.config.transactional is None  # the config file's transactions.enabled decides at start
    path = tmp_path / "a2a.yaml"
    path.write_text("transactions:\n  enabled: true\n  timeout_ms: 20000\n")
    assert load_config(path).transactions.enabled and load_config(path).transactions.timeout_ms == 20000
    path.write_text("transactions:\n  wait_seconds: 30\n  timeout_ms: 20000\n")
    with pytest.raises(ConfigError, match=r"transactions\.wait_seconds: must be shorter than transactions\.timeout_ms"):
        load_config(path)


def test_a_request_submitted_in_transactions_is_committed_when_submit_returns() -> None:
    """``Requester.submit`` (a publish outside a handler) returns once the transaction holding the request
    committed, not when the broker acknowledged it: acknowledged alone, a request dies with its open transaction
    when the requester does, though its caller was told it was sent."""
    from a2a_fast.agents.requester import Requester

    with fresh_mesh(MemoryTransport()) as mesh:

        async def scenario() -> str:
            # a commit interval longer than the test would wait: only a commit made for the request shows it
            config = mesh.config("requester-1", transactional=True, commit_interval=1.0, join_mesh=False)
            requester = Requester(config)
            await start_all(requester)
            try:
                task_id = await requester.submit("once", 20.0, capability="summarize")
                seen = [m.task_id for m in mesh.log(mesh.topics.requests)]  # read_committed
                assert seen == [task_id], seen
                return task_id
            finally:
                await stop_all(requester)

        run_strict(scenario)


@pytest.mark.parametrize("failure", ["coordinator moved", "commit timed out"])
def test_a_commit_that_fails_on_its_way_is_tried_again(failure: str) -> None:
    """While the broker restarts, adding offsets to a transaction can fail with a retriable error (NOT_COORDINATOR):
    the transaction is still open and the commit is made again, rather than the agent stopping with the error. A
    commit that timed out (the broker slow to answer) is made again by calling commit_transaction alone: adding the
    offsets again while the commit is under way fails with _CONFLICT, which would abort the transaction."""
    from a2a_fast.transport.producer import Producer

    transport = MemoryTransport(MemoryBroker(default_partitions=1))
    transport.broker.create_topic("out")

    async def scenario() -> None:
        producer = Producer(transport, "p", lambda _batch: None, {"transactional.id": "p"})
        producer.start()
        try:
            await producer.begin_transactions(5)
            await producer.send_and_wait("out", b"k", [], b"v")
            client = producer.client
            assert isinstance(client, MemoryProducer)
            if failure == "coordinator moved":
                moved = KafkaError(KafkaError.NOT_COORDINATOR, failure, retriable=True)
                client.fail_offsets = [moved, moved]
            else:
                client.fail_commits = [KafkaError(KafkaError._TIMED_OUT, failure, retriable=True)]
            await producer.commit_transaction([TopicPartition("in", 0, 3)], "readers", 5)
            assert producer.committed == 1 and client.fail_offsets == [] and client.fail_commits == []
        finally:
            await producer.close(5)

    run_strict(scenario)
    assert transport.broker.committed("readers", "in", 0) == 3
    assert _values(MemoryConsumer(transport.broker, {"group.id": "g"}), "out") == [b"v"]


def test_a_run_whose_transaction_was_aborted_still_counts_as_an_attempt() -> None:
    """An executor in transactions dies before committing its task's "started" record: the restarted one fences
    it, which aborts that record, so read committed the task never started. The run may have done its handler's
    work all the same, so the next run is attempt 2, and its handler knows to look its idempotency key up."""
    from tests.unit.agents.support import Peer
    from tests.unit.agents.test_executor import accepted

    attempts: list[int] = []
    forever = asyncio.Event()

    async def work(task: Any) -> str:
        attempts.append(task.attempt)
        if len(attempts) == 1:
            await forever.wait()
        return "done"

    with fresh_mesh(MemoryTransport()) as mesh:

        async def scenario() -> None:
            # commits far apart: the first run's records stay in its open transaction until it is fenced
            options = {"transactional": True, "commit_interval": 60.0, "join_mesh": False}
            first = Executor(mesh.config("executor-1", **options), {"summarize": work}, serve_steps=False)
            peer = Peer(mesh.config("peer-1", join_mesh=False))
            await start_all(first, peer)
            second: Executor | None = None
            try:
                await peer.publish(
                    KIND_TASK_RESPONSE, accepted("t1", "summarize"), target_agent="peer-1", target_group=first.group_id
                )
                await eventually(lambda: attempts == [1], 10, "the first run's handler started")
                _crash(first)
                options["commit_interval"] = 0.1
                second = Executor(mesh.config("executor-1", **options), {"summarize": work}, serve_steps=False)
                await second.start()
                await eventually(lambda: second is not None and second.counts["COMPLETED"] == 1, 10, "completed")
            finally:
                await stop_all(*(agent for agent in (second, peer) if agent is not None))

        run_strict(scenario)
    assert attempts == [1, 2]


def test_a_run_starts_once_its_started_record_is_in_the_log_whatever_its_transaction_does() -> None:
    """In transactions an executor writes a run's "started" record outside them, and its handler starts only once
    the broker has it: neither a transaction left open (commits far apart) nor a commit under way that stalls hides
    or holds it. A run cut off at any point then leaves its trace in the log, and the next run is attempt 2."""
    from tests.unit.agents.support import Peer
    from tests.unit.agents.test_executor import accepted

    seen: list[list[tuple[str, str]]] = []

    with fresh_mesh(MemoryTransport()) as mesh:

        async def work(task: Any) -> str:
            # what a read_committed reader finds of the task when the handler starts
            seen.append([(m.source_agent, m.record["status"]) for m in mesh.log(mesh.topics.responses)])
            return "done"

        async def scenario() -> None:
            options = {"transactional": True, "commit_interval": 60.0, "join_mesh": False}
            executor = Executor(mesh.config("executor-1", **options), {"summarize": work}, serve_steps=False)
            peer = Peer(mesh.config("peer-1", join_mesh=False))
            await start_all(executor, peer)
            try:
                assert executor.producer is not None
                executor.producer.hold()  # a commit under way that does not end: what is sent now waits for it
                await peer.publish(
                    KIND_TASK_RESPONSE,
                    accepted("t1", "summarize"),
                    target_agent="peer-1",
                    target_group=executor.group_id,
                )
                await eventually(lambda: len(seen) == 1, 10, "the handler started")
            finally:
                if executor.producer is not None:
                    executor.producer.release()
                await stop_all(executor, peer)

        run_strict(scenario)
    assert ("executor-1", "RUNNING") in seen[0], seen


@pytest.mark.parametrize("failure", ["fenced", "aborted"])
def test_an_executor_whose_transaction_failed_carries_on_from_its_last_commit(failure: str) -> None:
    """An executor whose transaction cannot be committed (its producer fenced, as when the coordinator aborted a
    transaction older than its timeout; or the commit failed and the transaction was aborted) does not stop: a new
    producer takes its transactional id over and it reads its partitions again from the last commit. The task whose
    COMPLETED was aborted runs again, as attempt 2 (its first run's "started" record is in the log), and completes
    once, read committed; nothing is dead-lettered."""
    from tests.unit.agents.support import Peer
    from tests.unit.agents.test_executor import accepted

    attempts: list[int] = []
    finish = asyncio.Event()

    async def work(task: Any) -> str:
        attempts.append(task.attempt)
        if len(attempts) == 1:
            await finish.wait()
        return "done"

    with fresh_mesh(MemoryTransport()) as mesh:

        async def scenario() -> None:
            options = {"transactional": True, "join_mesh": False}
            executor = Executor(mesh.config("executor-1", **options), {"summarize": work}, serve_steps=False)
            peer = Peer(mesh.config("peer-1", join_mesh=False))
            await start_all(executor, peer)
            try:
                await peer.publish(
                    KIND_TASK_RESPONSE,
                    accepted("t1", "summarize"),
                    target_agent="peer-1",
                    target_group=executor.group_id,
                )
                await eventually(lambda: "t1" in executor.running, 10, "the first run started")
                assert executor.producer is not None
                client = executor.producer.client
                assert isinstance(client, MemoryProducer)
                if failure == "fenced":
                    MemoryProducer(client.broker, {"transactional.id": executor.transactional_id()}).init_transactions()
                else:
                    client.fail_commits = [KafkaError(KafkaError._FAIL, failure, txn_requires_abort=True)]
                finish.set()
                await eventually(lambda: len(attempts) == 2 and "t1" in executor.finished, 10, "the task ran again")
                await eventually(lambda: executor.transactions >= 1, 10, "a commit")
                assert executor.failure is None and executor.starts_over == 1
            finally:
                await stop_all(executor, peer)
            statuses = [m.record["status"] for m in mesh.log(mesh.topics.responses) if m.source_agent == "executor-1"]
            assert statuses.count("COMPLETED") == 1, statuses
            assert mesh.log(mesh.topics.dlq) == []

        run_strict(scenario)
    assert attempts == [1, 2]


def test_a_commit_blocked_past_its_timeout_is_given_up_and_the_executor_starts_over() -> None:
    """A commit call that does not return (librdkafka's adding of offsets was seen blocking for minutes while the
    group rebalanced) is given up a few seconds past the transaction timeout: the executor starts over with a new
    producer, which ends the old transaction, and the task it held runs again (attempt 2) and completes once,
    rather than waiting on the blocked call, with every output sent meanwhile, until its ttl."""
    import threading

    from a2a_fast.config import ProtocolConfig, TransactionConfig
    from tests.unit.agents.support import Peer
    from tests.unit.agents.test_executor import accepted

    attempts: list[int] = []
    unblock = threading.Event()

    async def work(task: Any) -> str:
        attempts.append(task.attempt)
        return "done"

    def blocked(timeout: float = -1) -> None:
        unblock.wait(30)
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "blocked", retriable=True))

    with fresh_mesh(MemoryTransport()) as mesh:

        async def scenario() -> None:
            protocol = ProtocolConfig(transactions=TransactionConfig(timeout_ms=1000, wait_seconds=0.5))
            options = {"transactional": True, "join_mesh": False, "protocol": protocol}
            executor = Executor(mesh.config("executor-1", **options), {"summarize": work}, serve_steps=False)
            peer = Peer(mesh.config("peer-1", join_mesh=False))
            await start_all(executor, peer)
            try:
                assert executor.producer is not None
                client = executor.producer.client
                client.commit_transaction = blocked  # type: ignore[method-assign]
                await peer.publish(
                    KIND_TASK_RESPONSE,
                    accepted("t1", "summarize"),
                    target_agent="peer-1",
                    target_group=executor.group_id,
                )
                await eventually(lambda: len(attempts) == 2 and "t1" in executor.finished, 20, "the task ran again")
                assert executor.failure is None and executor.starts_over == 1
            finally:
                unblock.set()
                await stop_all(executor, peer)
            statuses = [m.record["status"] for m in mesh.log(mesh.topics.responses) if m.source_agent == "executor-1"]
            assert statuses.count("COMPLETED") == 1, statuses

        run_strict(scenario)
    assert attempts == [1, 2]
