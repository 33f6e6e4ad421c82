"""An executor process killed with SIGKILL in the middle of a task: the task still completes, once.

The executors run as ``a2a-fast agent executor`` processes with the slow handler of ``processes.py``, which leaves
a file per finished run, so runs can be counted across processes.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester, TaskOutcome
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.stack import Endpoints
from tests.integration.processes import executor_processes, kill_the_first_to_run
from tests.integration.test_agents import HANDLERS as AGENT_HANDLERS
from tests.integration.test_agents import SKILLS, Mesh, fresh_mesh, run_strict


@pytest.fixture
def mesh(endpoints: Endpoints) -> Iterator[Mesh]:
    with fresh_mesh(endpoints) as fresh:
        yield fresh


def test_killed_executor_task_completes_exactly_once(mesh: Mesh, endpoints: Endpoints, tmp_path: Path) -> None:
    with executor_processes(endpoints, mesh, ("executor-a", "executor-b"), tmp_path) as executors:

        async def scenario() -> tuple[list[TaskOutcome], str]:
            async with (
                Provider(mesh.config("provider-1"), SKILLS),
                Requester(mesh.config("requester-1")) as requester,
            ):
                assert isinstance(requester, Requester)
                return await kill_the_first_to_run(requester, executors, 90)

        outcomes, victim = run_strict(scenario)

    assert executors[victim].returncode == -signal.SIGKILL
    assert [outcome.status for outcome in outcomes] == ["COMPLETED"] * 6
    runs = Counter(path.name.split(".")[0] for path in tmp_path.iterdir())
    assert runs == Counter({outcome.task_id: 1 for outcome in outcomes})
    survivor = next(name for name in executors if name != victim)
    completed = [m for m in mesh.log(mesh.topics.responses) if m.record["status"] == "COMPLETED"]
    assert Counter(m.task_id for m in completed) == runs
    # the victim was mid-task: at least one task it had started was finished by the survivor
    started_by_victim = {
        m.task_id
        for m in mesh.log(mesh.topics.responses)
        if m.record["status"] == "RUNNING" and m.source_agent == victim
    }
    assert any(m.task_id in started_by_victim and m.source_agent == survivor for m in completed)
    # a task the victim had started ran again as a second attempt; the others ran once, as the first
    attempts = {path.name.split(".")[0]: int(path.read_text()) for path in tmp_path.iterdir()}
    assert attempts == {m.task_id: 2 if m.task_id in started_by_victim else 1 for m in completed}


@pytest.mark.parametrize("offsets", ["rewound", "never committed"])
def test_a_provider_reading_an_input_already_answered_does_not_answer_it_again(mesh: Mesh, offsets: str) -> None:
    """As after a provider died between its answer's acknowledgement and its offset commit (or before the pool's
    first commit at all): the request is read again by the next member, which finds the answer on the log and does
    not write a second one."""

    async def scenario() -> tuple[str, Provider]:
        first = Provider(mesh.config("provider-a", static_membership=False), SKILLS)
        executor = Executor(mesh.config("executor-a"), AGENT_HANDLERS)
        async with first, executor, Requester(mesh.config("requester-1")) as requester:
            assert isinstance(requester, Requester)
            task_id = await requester.submit("task", 150.0, capability="summarize")
            assert (await asyncio.wait_for(requester.outcome(task_id), 60)).status == "COMPLETED"
        # All stopped (the provider left its group): the provider group's offsets go back to before the request,
        # or the group is gone, as if its only member died before committing anything.
        admin = AdminClient({"bootstrap.servers": mesh.endpoints.kafka})
        if offsets == "never committed":
            for future in admin.delete_consumer_groups([first.group_id], request_timeout=30).values():
                future.result(30)
        else:
            partitions = admin.list_topics(mesh.topics.requests, timeout=10).topics[mesh.topics.requests].partitions
            rewind = [TopicPartition(mesh.topics.requests, number, 0) for number in partitions]
            for future in admin.alter_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(first.group_id, rewind)]
            ).values():
                future.result(30)
        second = Provider(mesh.config("provider-b", static_membership=False), SKILLS)
        read_again: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def watch(event: str, message: Inbound | None) -> None:
            if message is not None and message.task_id == task_id and not read_again.done():
                read_again.set_result(None)

        second.observers.append(watch)
        async with second:
            await asyncio.wait_for(read_again, 60)
        return task_id, second

    task_id, second = run_strict(scenario)
    answers = [m for m in mesh.log(mesh.topics.responses) if m.task_id == task_id and m.source_agent != "executor-a"]
    assert [(m.source_agent, m.record["status"]) for m in answers] == [("provider-a", "ACCEPTED")]
    assert second.already_answered == 1 and second.decisions == Counter()
