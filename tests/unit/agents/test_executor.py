"""The executor's priority slots, and the executor role on the in-memory transport."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from a2a_fast.agents.executor import Executor, PrioritySlots, started_id
from a2a_fast.agents.tasks import TaskContext
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.kinds import KIND_TASK_RESPONSE
from a2a_fast.transport.memory import MemoryConsumer, MemoryTransport
from tests.scenarios import Mesh, eventually, fresh_mesh, run_strict
from tests.scenarios.cancel import running
from tests.unit.agents.support import Peer, answers, response


def test_priority_slots_serve_high_first_and_keep_a_slot_from_low() -> None:
    async def scenario() -> list[str]:
        slots = PrioritySlots(3, reserved=1)
        order: list[str] = []
        await slots.acquire(0)
        await slots.acquire(0)  # LOW now holds every slot it may have
        assert slots.in_use == 2

        async def job(name: str, level: int) -> None:
            await slots.acquire(level)
            order.append(name)
            slots.release()

        tasks = [asyncio.create_task(job(f"low{n}", 0)) for n in range(3)]
        await asyncio.sleep(0)
        assert slots.waiting == 3 and order == []
        await asyncio.create_task(job("high", 2))  # the reserved slot, at once
        await asyncio.create_task(job("normal", 1))  # ahead of the LOW waiters
        assert order == ["high", "normal"] and slots.waiting == 3
        slots.release()
        slots.release()
        await asyncio.gather(*tasks)
        assert slots.in_use == 0
        return order

    assert asyncio.run(scenario()) == ["high", "normal", "low0", "low1", "low2"]
    with pytest.raises(ValueError, match="reserved 2"):
        PrioritySlots(2, reserved=2)


# --- the executor role on the in-memory transport -----------------------------------------------------


class Recorder:
    """Handlers that note what they ran; ``hold`` ones wait until released and note their cancellation."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, str, str]] = []
        self.cancelled: list[str] = []
        self.released = asyncio.Event()

    async def count(self, task: TaskContext) -> dict[str, Any]:
        self.ran.append((task.task_id, task.description, str(task.requester_id)))
        await task.progress(0.5, "half way")
        return {"words": len(task.description.split())}

    async def hold(self, task: TaskContext) -> None:
        self.ran.append((task.task_id, task.description, str(task.requester_id)))
        try:
            await self.released.wait()
        except asyncio.CancelledError:
            self.cancelled.append(task.task_id)
            raise

    async def fail(self, task: TaskContext) -> None:
        raise ValueError(f"cannot read {task.description!r}")


def accepted(task_id: str, capability: str, description: str = "a b c") -> dict[str, Any]:
    return response(task_id, "ACCEPTED", "provider-1", agreed_cost=10.0, capability=capability, description=description)


def reports(mesh: Mesh, task_id: str) -> list[tuple[str, str, float | None, str | None]]:
    """``(sender, status, progress, message)`` of the task's responses after the peer's own."""
    return [
        (m.source_agent, m.record["status"], m.record["progress"], m.record["message"])
        for m in answers(mesh, task_id)
        if m.source_agent != "peer-1"
    ]


def test_an_accepted_task_runs_reports_its_progress_and_completes_with_the_result() -> None:
    recorder = Recorder()

    async def scenario(mesh: Mesh) -> None:
        executor = Executor(mesh.config("executor-1"), {"count": recorder.count})
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(executor, peer):
            await peer.publish(
                KIND_TASK_RESPONSE, accepted("t1", "count"), target_agent="peer-1", target_group=executor.group_id
            )
            await eventually(lambda: executor.counts["COMPLETED"] == 1, 10, "the task completed")
            assert executor.running == set() and executor.slots.in_use == 0

    with fresh_mesh(MemoryTransport()) as mesh:
        run_strict(lambda: scenario(mesh))
        said = reports(mesh, "t1")
        completed = answers(mesh, "t1")[-1]
    assert recorder.ran == [("t1", "a b c", "peer-1")]
    assert said == [
        ("executor-1", "RUNNING", 0.0, "started"),
        ("executor-1", "RUNNING", 0.5, "half way"),
        ("executor-1", "COMPLETED", 1.0, None),
    ]
    assert json.loads(completed.record["result"]) == {"words": 3} and completed.target_agent == "peer-1"
    assert completed.record["agreed_cost"] == 10.0


def test_a_failing_handler_or_a_capability_without_one_fails_the_task_with_the_reason() -> None:
    recorder = Recorder()

    async def scenario(mesh: Mesh) -> dict[str, int]:
        executor = Executor(mesh.config("executor-1"), {"count": recorder.fail})
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(executor, peer):
            pool = executor.group_id
            await peer.publish(
                KIND_TASK_RESPONSE, accepted("t1", "count", "x"), target_agent="peer-1", target_group=pool
            )
            await peer.publish(KIND_TASK_RESPONSE, accepted("t2", "juggle"), target_agent="peer-1", target_group=pool)
            await eventually(lambda: executor.counts["FAILED"] == 2, 10, "both failed")
            return dict(executor.counts)

    with fresh_mesh(MemoryTransport()) as mesh:
        counts = run_strict(lambda: scenario(mesh))
        first, second = reports(mesh, "t1")[-1], reports(mesh, "t2")[-1]
    assert counts == {"COMPLETED": 0, "FAILED": 2, "CANCELED": 0, "SKIPPED": 0}
    assert first == ("executor-1", "FAILED", None, "ValueError: cannot read 'x'")
    assert second == ("executor-1", "FAILED", None, "executor executor-1 has no handler for capability 'juggle'")


def test_each_accepted_task_is_claimed_by_one_member_of_the_pool() -> None:
    recorder = Recorder()

    async def scenario(mesh: Mesh) -> list[int]:
        one = Executor(mesh.config("executor-1"), {"count": recorder.count})
        two = Executor(mesh.config("executor-2"), {"count": recorder.count})
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(one, two, peer):
            assert one.group_id == two.group_id
            assert one.consumer is not None and two.consumer is not None
            await eventually(lambda: bool(one.consumer.assignment) and bool(two.consumer.assignment), 10, "both own")  # type: ignore[union-attr]
            for n in range(12):
                await peer.publish(
                    KIND_TASK_RESPONSE, accepted(f"t{n}", "count"), target_agent="peer-1", target_group=one.group_id
                )
            await eventually(lambda: one.counts["COMPLETED"] + two.counts["COMPLETED"] == 12, 10, "all twelve ran")
            return [one.counts["COMPLETED"], two.counts["COMPLETED"]]

    with fresh_mesh(MemoryTransport()) as mesh:
        counts = run_strict(lambda: scenario(mesh))
        finishers = {f"t{n}": [r[0] for r in reports(mesh, f"t{n}") if r[1] == "COMPLETED"] for n in range(12)}
    assert sorted(task for task, _, _ in recorder.ran) == sorted(finishers) and len(recorder.ran) == 12
    assert all(len(by) == 1 for by in finishers.values()), finishers
    assert all(counts), f"both members took a share: {counts}"


def test_a_member_that_lost_its_partitions_cancels_its_tasks_rather_than_finish_them_beside_their_new_owner() -> None:
    """Its group session ran out (as every member's does while the broker restarts) and the group gave its
    partitions to the other member, which runs their unfinished tasks again: the member that lost them gives its
    running handlers up instead of draining them, so no task runs to its end twice."""
    recorder = Recorder()
    transport = MemoryTransport()

    async def scenario(mesh: Mesh) -> tuple[Executor, Executor]:
        one = Executor(mesh.config("executor-1", drain_timeout=10), {"hold": recorder.hold}, serve_steps=False)
        two = Executor(mesh.config("executor-2", drain_timeout=10), {"hold": recorder.hold}, serve_steps=False)
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(one, two, peer):
            assert one.consumer is not None and two.consumer is not None
            await eventually(lambda: bool(one.consumer.assignment) and bool(two.consumer.assignment), 10, "both own")  # type: ignore[union-attr]
            await peer.publish(
                KIND_TASK_RESPONSE, accepted("t1", "hold"), target_agent="peer-1", target_group=one.group_id
            )
            await eventually(lambda: "t1" in one.running or "t1" in two.running, 10, "a member runs t1")
            owner, other = (one, two) if "t1" in one.running else (two, one)
            assert owner.consumer is not None
            member = owner.consumer.client
            assert isinstance(member, MemoryConsumer)
            transport.broker.expire(owner.group_id, member)
            await eventually(lambda: "t1" in other.running, 10, "the partition's new owner runs t1 again")
            member.lose_session()  # the member that had t1 learns it lost its partitions
            await eventually(lambda: not owner.consumer.assignment, 10, "it knows")  # type: ignore[union-attr]
            recorder.released.set()
            await eventually(lambda: other.counts["COMPLETED"] == 1, 10, "the new owner completed t1")
            await eventually(lambda: not owner.running, 10, "the member that lost t1 runs nothing")
            await eventually(lambda: owner.consumer is not None and bool(owner.consumer.assignment), 10, "it rejoined")
            return owner, other

    with fresh_mesh(transport) as mesh:
        owner, other = run_strict(lambda: scenario(mesh))
        said = reports(mesh, "t1")
    assert recorder.cancelled == ["t1"] and owner.counts["COMPLETED"] == 0
    assert [who for who, status, _, _ in said if status == "COMPLETED"] == [other.agent_id]
    assert (other.agent_id, "RUNNING", 0.0, "started again (attempt 2): a run was cut off") in said


def test_a_partition_held_back_before_a_rebalance_is_read_again_when_the_member_gets_it_back() -> None:
    """The executor held a partition back (every slot and the read-ahead taken) when a rebalance began; it drained
    its tasks and was given the same partitions again. The consumer client keeps a partition's pause through a
    rebalance, so the member must resume what it is given, or the tasks behind the held-back one never run."""
    recorder = Recorder()
    transport = MemoryTransport()

    async def scenario(mesh: Mesh) -> dict[str, int]:
        executor = Executor(
            mesh.config("executor-1"), {"hold": recorder.hold}, max_tasks=1, read_ahead=1, serve_steps=False
        )
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(executor, peer):
            consumer = executor.consumer
            assert consumer is not None
            for n in range(6):
                await peer.publish(
                    KIND_TASK_RESPONSE, accepted(f"t{n}", "hold"), target_agent="peer-1", target_group=executor.group_id
                )
            await eventually(lambda: bool(consumer.held) and len(executor.held) == 2, 10, "a partition held back")
            # A member joins the group for another topic: the executor gives its partitions back and gets them again.
            other = MemoryConsumer(transport.broker, {"group.id": executor.group_id})
            other.subscribe([f"{mesh.topics.prefix}unrelated"])
            assert other.consume(1, 0) == []  # it has nothing to give back: the group waits for the executor alone
            await eventually(lambda: not consumer.assignment, 10, "the executor drains before giving them back")
            recorder.released.set()
            await eventually(lambda: executor.counts["COMPLETED"] == 6, 10, "every task ran")
            assert consumer.assignment and consumer.rebalances == 2
            other.close()
            return dict(executor.counts)

    with fresh_mesh(transport) as mesh:
        counts = run_strict(lambda: scenario(mesh))
    assert counts["COMPLETED"] == 6 and sorted(task for task, _, _ in recorder.ran) == [f"t{n}" for n in range(6)]


def committed_past(mesh: Mesh, executor: Executor, message: Inbound) -> bool:
    """Whether the executor's pool committed its offset past ``message``: it counts as handled."""
    transport = mesh.transport
    assert isinstance(transport, MemoryTransport) and executor.group_id is not None
    committed = transport.broker.committed(executor.group_id, message.topic, message.partition)
    return committed is not None and committed > message.offset


def test_a_task_waiting_for_a_slot_is_never_started_once_another_executor_finished_it() -> None:
    """Its ACCEPTED was read again after a rebalance, while the executor that had the task before finished it: the
    outcome that comes in while the task waits for a slot here ends the wait, and its offset is committed."""
    recorder = Recorder()

    async def scenario(mesh: Mesh) -> dict[str, int]:
        executor = Executor(
            mesh.config("executor-1"), {"hold": recorder.hold, "count": recorder.count}, max_tasks=1, reserved=0,
            serve_steps=False,
        )  # fmt: skip
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        other = Peer(mesh.config("executor-2", join_mesh=False))
        async with running(executor, peer, other):
            pool = executor.group_id
            await peer.publish(KIND_TASK_RESPONSE, accepted("t0", "hold"), target_agent="peer-1", target_group=pool)
            await eventually(lambda: executor.running == {"t0"}, 10, "t0 holds the only slot")
            await peer.publish(KIND_TASK_RESPONSE, accepted("t1", "count"), target_agent="peer-1", target_group=pool)
            await eventually(lambda: executor.slots.waiting == 1, 10, "t1 waits for the slot")
            await other.publish(
                KIND_TASK_RESPONSE, response("t1", "COMPLETED", "executor-2", progress=1.0, result="{}"),
                target_agent="peer-1",
            )  # fmt: skip
            await eventually(lambda: executor.slots.waiting == 0 and "t1" not in executor.held, 10, "t1 waits no more")
            recorder.released.set()
            await eventually(lambda: executor.counts["COMPLETED"] == 1, 10, "t0 completed")
            first = answers(mesh, "t1")[0]
            await eventually(lambda: committed_past(mesh, executor, first), 10, "t1's ACCEPTED committed")
            return dict(executor.counts)

    with fresh_mesh(MemoryTransport()) as mesh:
        counts = run_strict(lambda: scenario(mesh))
        said = reports(mesh, "t1")
    assert [task for task, _, _ in recorder.ran] == ["t0"]
    assert counts["SKIPPED"] == 1 and counts["COMPLETED"] == 1
    assert said == [("executor-2", "COMPLETED", 1.0, None)]


class _Inheriting(Executor):
    """An executor given a partition where another executor started a task and is about to write its outcome (its
    group session ran out while the broker was away, so it does not know yet that it lost the partition): the
    outcome reaches the log at ``moment``, after this executor's rebuild read the log and before the resumed run."""

    def __init__(self, config: Any, handlers: Any, moment: str, land: Any) -> None:
        super().__init__(config, handlers, serve_steps=False)
        self.moment = moment
        self.land = land

    def on_partitions_assigned(self, partitions: list[Any]) -> None:
        super().on_partitions_assigned(partitions)
        if self.moment == "read with its ACCEPTED" and partitions:
            self.land()

    async def handle(self, message: Inbound) -> None:
        if self.moment == "in the log, not read yet" and message.record.get("status") == "ACCEPTED":
            self.land()
        await super().handle(message)


@pytest.mark.parametrize("moment", ["read with its ACCEPTED", "in the log, not read yet"])
def test_a_cut_off_run_is_not_resumed_when_its_outcome_reached_the_log_after_the_rebuild(moment: str) -> None:
    """executor-2 started t1 and its COMPLETED reached the log only after executor-1, given t1's partition, had
    rebuilt from the log (which showed t1 started, not finished): executor-1 must not run t1 again."""
    recorder = Recorder()
    transport = MemoryTransport()

    async def scenario(mesh: Mesh) -> tuple[dict[str, int], int, bool]:
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        zombie = Peer(mesh.config("executor-2", join_mesh=False))
        landed: list[bool] = []

        def land() -> None:
            # The zombie's delivery, appended at once (from the consumer's thread or inside a handler).
            if landed:
                return
            assert zombie.envelope is not None
            topic, key, headers, value = zombie.envelope.encode_parts(
                KIND_TASK_RESPONSE, response("t1", "COMPLETED", "executor-2", progress=1.0, result="{}"),
                target_agent="peer-1", event_id="accepted-t1/COMPLETED",
            )  # fmt: skip
            transport.broker.append(topic, key, value, list(headers))
            landed.append(True)

        executor = _Inheriting(mesh.config("executor-1"), {"count": recorder.count}, moment, land)
        async with running(peer, zombie):
            await peer.publish(
                KIND_TASK_RESPONSE, accepted("t1", "count"), target_agent="peer-1", target_group=executor.group_id,
                event_id="accepted-t1",
            )  # fmt: skip
            await zombie.publish(
                KIND_TASK_RESPONSE, response("t1", "RUNNING", "executor-2", progress=0.0, message="started"),
                target_agent="peer-1", event_id=started_id("accepted-t1", 1),
            )  # fmt: skip
            async with running(executor):
                await eventually(lambda: bool(landed), 10, "the zombie's outcome landed")
                first = answers(mesh, "t1")[0]
                await eventually(lambda: committed_past(mesh, executor, first), 10, "t1's ACCEPTED committed")
                await asyncio.sleep(0.2)  # a run started by mistake would have reported by now
                return dict(executor.counts), executor.rebuilt, "t1" in executor.attempts

    with fresh_mesh(transport) as mesh:
        counts, rebuilt_finished, pending = run_strict(lambda: scenario(mesh))
        said = reports(mesh, "t1")
    assert rebuilt_finished == 0, "the rebuild saw t1 started, not finished"
    assert recorder.ran == [] and counts["SKIPPED"] == 1 and not pending
    assert [who for who, *_ in said] == ["executor-2", "executor-2"], said


def test_an_accepted_task_addressed_to_another_pool_is_left_to_it() -> None:
    recorder = Recorder()

    async def scenario(mesh: Mesh) -> dict[str, int]:
        executor = Executor(mesh.config("executor-1"), {"count": recorder.count})
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(executor, peer):
            # one task id, so one partition: the second is read after the first
            await peer.publish(KIND_TASK_RESPONSE, accepted("t1", "count", "not mine"), target_group="elsewhere")
            await peer.publish(KIND_TASK_RESPONSE, accepted("t1", "count", "mine"), target_group=executor.group_id)
            await eventually(lambda: executor.counts["COMPLETED"] == 1, 10, "the task ran")
            return dict(executor.counts)

    with fresh_mesh(MemoryTransport()) as mesh:
        counts = run_strict(lambda: scenario(mesh))
    assert [description for _, description, _ in recorder.ran] == ["mine"]
    assert counts["SKIPPED"] == 0


def test_a_cancel_ends_the_running_handler_and_one_read_before_its_task_keeps_it_from_starting() -> None:
    recorder = Recorder()

    async def scenario(mesh: Mesh) -> dict[str, int]:
        executor = Executor(mesh.config("executor-1"), {"count": recorder.hold})
        peer = Peer(mesh.config("peer-1", join_mesh=False))
        async with running(executor, peer):
            pool = executor.group_id
            await peer.publish(KIND_TASK_RESPONSE, accepted("t1", "count"), target_agent="peer-1", target_group=pool)
            await eventually(lambda: executor.running == {"t1"}, 10, "t1 runs")
            await peer.publish(
                KIND_TASK_RESPONSE, response("t1", "CANCELING", message="wrong input"), target_agent="peer-1",
                target_group=pool,
            )  # fmt: skip
            # a cancel of a task whose ACCEPTED has not come yet is remembered until it does
            await peer.publish(
                KIND_TASK_RESPONSE, response("t2", "CANCELING", message="not needed"), target_agent="peer-1"
            )
            await peer.publish(KIND_TASK_RESPONSE, accepted("t2", "count"), target_agent="peer-1", target_group=pool)
            await eventually(lambda: executor.counts["CANCELED"] == 2, 10, "both canceled")
            return dict(executor.counts)

    with fresh_mesh(MemoryTransport()) as mesh:
        counts = run_strict(lambda: scenario(mesh))
        running_one, waiting_one = reports(mesh, "t1"), reports(mesh, "t2")
    assert counts == {"COMPLETED": 0, "FAILED": 0, "CANCELED": 2, "SKIPPED": 0}
    assert [task for task, _, _ in recorder.ran] == ["t1"] and recorder.cancelled == ["t1"]
    assert running_one == [
        ("executor-1", "RUNNING", 0.0, "started"),
        ("executor-1", "CANCELED", None, "canceled by peer-1: wrong input"),
    ]
    assert waiting_one == [("executor-1", "CANCELED", None, "canceled by peer-1 before it started: not needed")]
