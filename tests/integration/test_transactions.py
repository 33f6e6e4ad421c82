"""The transactional award on the real broker: a provider process killed with SIGKILL after producing an award
and before committing the request's offset, with message-id dedupe off everywhere. In transactions the award
written before the kill is aborted when the restarted provider takes the transactional id over, and read
committed there is one award and one completion; without transactions the log holds the award twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester, TaskOutcome
from a2a_fast.protocol.envelope import Envelope, Inbound, KafkaRecord, header_text
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST
from a2a_fast.stack import Endpoints
from a2a_fast.transport.admin import ensure_topics
from a2a_fast.transport.log import event_ids, replay
from a2a_fast.transport.registry import SchemaCatalog
from tests.integration.processes import executor_processes, kill_the_first_to_run
from tests.integration.test_agents import HANDLERS, SKILLS, Mesh, fresh_mesh, run_strict

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def mesh(endpoints: Endpoints) -> Iterator[Mesh]:
    with fresh_mesh(endpoints) as fresh:
        yield fresh


def start_provider(mesh: Mesh, transactional: bool, stall: bool) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.integration.stalling_provider"]
    command += [mesh.endpoints.kafka, mesh.endpoints.schema_registry, mesh.topics.prefix]
    command += ["--transactional"] * transactional + ["--stall"] * stall
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "python"), str(REPO)])}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)


def wait_for_line(stream: IO[str] | None, prefix: str, patience: float) -> str:
    assert stream is not None
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"the provider never printed {prefix}")


def request(task_id: str) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "requester_id": "requester-1",
        "description": "once",
        "capability": "summarize",
        "proposed_cost": 120.0,
        "priority": 1,
        "parameters": {},
        "timestamp": int(time.time() * 1000),
    }


def every_response(mesh: Mesh, catalog: SchemaCatalog, task_id: str) -> list[Inbound]:
    """The task's responses as written, aborted ones included (``read_uncommitted``)."""
    envelope = Envelope(catalog, mesh.topics, "reader")
    topic = mesh.topics.responses
    reader = Consumer(
        {
            "bootstrap.servers": mesh.endpoints.kafka,
            "group.id": "uncommitted",
            "isolation.level": "read_uncommitted",
            "enable.auto.commit": False,
        }
    )
    found: list[Inbound] = []
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {n: reader.get_watermark_offsets(TopicPartition(topic, n), timeout=10)[1] for n in partitions}
        reader.assign([TopicPartition(topic, n, 0) for n, end in ends.items() if end > 0])
        left = {n for n, end in ends.items() if end > 0}
        deadline = time.monotonic() + 20
        while left and time.monotonic() < deadline:
            for message in reader.consume(100, 0.5):
                if message.error() is not None:
                    continue
                if message.offset() + 1 >= ends[message.partition()]:
                    left.discard(message.partition())
                decoded = envelope.decode_record(message, check_age=False)
                if isinstance(decoded, Inbound) and decoded.task_id == task_id:
                    found.append(decoded)
            for tp in reader.position([TopicPartition(topic, n) for n in left]):  # past a closing commit marker
                if tp.offset >= ends[tp.partition]:
                    left.discard(tp.partition)
    finally:
        reader.close()
    return found


@pytest.mark.parametrize(("transactional", "written"), [(True, 2), (False, 1)], ids=["transactions", "without"])
def test_a_provider_killed_between_award_and_commit_awards_once_in_transactions(
    mesh: Mesh, transactional: bool, written: int
) -> None:
    """The provider dies after producing its award, before its pool's first commit. In transactions the award is
    aborted and the successor awards again; without, the successor finds the acknowledged award on the log and
    writes none. Either way one award is read committed and the task runs once."""
    task_id = f"task-{mesh.topics.prefix.strip('.')}"
    catalog = SchemaCatalog(mesh.endpoints.schema_registry, mesh.topics)
    processes: list[subprocess.Popen[str]] = []

    async def scenario() -> Executor:
        executor = Executor(
            mesh.config("executor-1", dedupe_size=0, transactional=transactional), HANDLERS, serve_steps=False
        )
        loop = asyncio.get_running_loop()
        async with executor:
            await executor.wait_assigned()
            first = start_provider(mesh, transactional, stall=True)
            processes.append(first)
            await loop.run_in_executor(None, wait_for_line, first.stdout, "READY", 60)
            envelope = Envelope(catalog, mesh.topics, "requester-1")
            await executor.produce_record(envelope.encode(KIND_TASK_REQUEST, request(task_id)))
            awarded = await loop.run_in_executor(None, wait_for_line, first.stdout, "AWARDED", 60)
            assert awarded == f"AWARDED {task_id}"
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            second = start_provider(mesh, transactional, stall=False)
            processes.append(second)
            await loop.run_in_executor(None, wait_for_line, second.stdout, "READY", 60)
            deadline = time.monotonic() + 60
            while executor.counts["COMPLETED"] < 1:
                assert time.monotonic() < deadline, f"executor saw {executor.counts} within 60 s"
                await asyncio.sleep(0.1)
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
        return executor

    try:
        ensure_topics(mesh.endpoints.kafka, mesh.topics.all())
        catalog.register()
        executor = run_strict(scenario)
        committed = [m.record["status"] for m in mesh.log(mesh.topics.responses) if m.task_id == task_id]
        every = [m.record["status"] for m in every_response(mesh, catalog, task_id)]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            if process.stdout is not None:
                process.stdout.close()
        catalog.close()
    assert every.count("ACCEPTED") == written, every
    assert committed.count("ACCEPTED") == 1, committed
    assert committed.count("COMPLETED") == 1 and executor.counts == {**executor.counts, "COMPLETED": 1, "SKIPPED": 0}


def commit_one_request(mesh: Mesh) -> KafkaRecord:
    """One TaskRequest written in a committed transaction to a one-partition ``requests`` topic, which then ends in
    the transaction's commit marker."""
    ensure_topics(mesh.endpoints.kafka, [mesh.topics.requests], partitions=1)
    with SchemaCatalog(mesh.endpoints.schema_registry, mesh.topics) as catalog:
        catalog.register()
        record = Envelope(catalog, mesh.topics, "requester-1").encode(KIND_TASK_REQUEST, request("task-1"))
    producer = Producer({"bootstrap.servers": mesh.endpoints.kafka, "transactional.id": mesh.topics.prefix})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(record.topic, record.value, record.key, headers=record.headers)
    producer.commit_transaction(30)
    return record


def test_replay_reads_a_partition_that_ends_in_a_transaction_marker_to_its_end(mesh: Mesh) -> None:
    """The commit marker after a transaction takes an offset no reader is given: replay must see from its position
    that the partition was read, or it waits out its whole timeout (longer than the test's own here)."""
    commit_one_request(mesh)
    with SchemaCatalog(mesh.endpoints.schema_registry, mesh.topics) as catalog:
        catalog.register()
        found = list(replay(mesh.endpoints.kafka, catalog, mesh.topics, topics=[mesh.topics.requests], timeout=600))
    assert [message.task_id for message in found] == ["task-1"]


def test_event_ids_reads_a_partition_that_ends_in_a_transaction_marker_to_its_end(mesh: Mesh) -> None:
    """What a provider given partitions reads to find the answers it already gave: on a partition written in
    transactions it stopped short of the commit marker and timed out, so the provider answered again."""
    record = commit_one_request(mesh)
    found = event_ids(mesh.endpoints.kafka, {(mesh.topics.requests, 0): 0}, timeout=20)
    assert [event_id for event_id, _ in found] == [header_text(record.headers, "ce_id")]


def test_an_executor_killed_mid_task_in_transactions_completes_it_once(
    mesh: Mesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tests/integration/test_agents_crash.py`` with every agent in transactions (dedupe off in this process's
    agents; an executor's dedupe cache starts empty, so it does not see the victim's ids anyway): the killed
    executor's claim and progress stay committed, its open transaction is aborted, and the survivor resumes the
    task it held and completes every task once."""
    endpoints = mesh.endpoints
    config = tmp_path / "config" / "a2a.yaml"
    config.parent.mkdir()
    config.write_text("transactions:\n  enabled: true\n")
    monkeypatch.setenv("A2A_FAST_CONFIG", str(config))  # the executor processes' config file
    effects = tmp_path / "effects"
    effects.mkdir()
    with executor_processes(endpoints, mesh, ("executor-a", "executor-b"), effects) as executors:

        async def scenario() -> tuple[list[TaskOutcome], str]:
            # the provider writes its awards outside transactions here, so that the commit markers on
            # task-responses can only be the executors'
            async with (
                Provider(mesh.config("provider-1", transactional=False, dedupe_size=0), SKILLS),
                Requester(mesh.config("requester-1", transactional=True, dedupe_size=0)) as requester,
            ):
                assert isinstance(requester, Requester)
                return await kill_the_first_to_run(requester, executors, 120)

        outcomes, victim = run_strict(scenario)
    assert executors[victim].returncode == -signal.SIGKILL
    assert [outcome.status for outcome in outcomes] == ["COMPLETED"] * 6
    runs = Counter(path.name.split(".")[0] for path in effects.iterdir())
    assert runs == Counter({outcome.task_id: 1 for outcome in outcomes})
    completed = [m for m in mesh.log(mesh.topics.responses) if m.record["status"] == "COMPLETED"]
    assert Counter(m.task_id for m in completed) == runs
    accepted = [m for m in mesh.log(mesh.topics.responses) if m.record["status"] == "ACCEPTED"]
    assert Counter(m.task_id for m in accepted) == Counter({outcome.task_id: 1 for outcome in outcomes})
    assert markers(mesh, mesh.topics.responses) > 0  # the executor processes did write in transactions


def markers(mesh: Mesh, topic: str) -> int:
    """Offsets of ``topic`` that hold no record a reader is given: transaction markers."""
    reader = Consumer(
        {
            "bootstrap.servers": mesh.endpoints.kafka,
            "group.id": "markers",
            "isolation.level": "read_uncommitted",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {n: reader.get_watermark_offsets(TopicPartition(topic, n), timeout=10)[1] for n in partitions}
        reader.assign([TopicPartition(topic, n, 0) for n in partitions])
        records, left = 0, {n for n, end in ends.items() if end > 0}
        deadline = time.monotonic() + 30
        while left and time.monotonic() < deadline:
            records += sum(1 for message in reader.consume(500, 0.5) if message.error() is None)
            for tp in reader.position([TopicPartition(topic, n) for n in left]):
                if tp.offset >= ends[tp.partition]:
                    left.discard(tp.partition)
        return sum(ends.values()) - records
    finally:
        reader.close()
