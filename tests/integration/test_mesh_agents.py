"""Requester, provider and executor agents in the mesh: directory, limits, metrics and priorities."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from a2a_fast.agents.executor import Executor
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.agents.tasks import TaskContext
from a2a_fast.config import HeartbeatConfig, MeshConfig, MessageConfig, ProtocolConfig
from a2a_fast.errors import AgentIdInUseError, MaxAgentsError
from a2a_fast.mesh.directory import AgentDirectory
from a2a_fast.mesh.router import MeshRouter
from a2a_fast.protocol.envelope import KafkaRecord
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST
from a2a_fast.stack import Endpoints
from tests.conftest import REPO
from tests.integration.test_agents import HANDLERS, SKILLS, Mesh, fresh_mesh, http_get, run_strict

FAST = ProtocolConfig(heartbeat=HeartbeatConfig(interval_seconds=0.2, timeout_seconds=2.0))


@pytest.fixture
def mesh(endpoints: Endpoints) -> Iterator[Mesh]:
    with fresh_mesh(endpoints) as fresh:
        yield fresh


def test_agents_register_sync_state_and_deregister(mesh: Mesh, endpoints: Endpoints) -> None:
    release = asyncio.Event()

    async def slow(task: TaskContext) -> str:
        await task.progress(0.25, "a quarter")
        await release.wait()
        return "done"

    async def scenario() -> None:
        async with AgentDirectory(endpoints.kafka, mesh.topics.agents, FAST) as directory:
            provider = Provider(mesh.config("provider-1", protocol=FAST, http_port=0), SKILLS)
            executor = Executor(mesh.config("executor-1", protocol=FAST), {"summarize": slow})
            async with provider, executor, Requester(mesh.config("requester-1", protocol=FAST)) as requester:
                assert isinstance(requester, Requester)
                await directory.wait_for(lambda d: len(d.get_all_agents()) == 3, 30)
                agents = {info.agent_id: info for info in directory.get_all_agents()}
                assert {name: info.card.agent_type for name, info in agents.items()} == {
                    "executor-1": "executor",
                    "provider-1": "provider",
                    "requester-1": "requester",
                }
                assert agents["provider-1"].card.capabilities == tuple(sorted(SKILLS))
                assert agents["provider-1"].card.endpoints == {"http": f"http://127.0.0.1:{provider.http_port}"}
                assert agents["executor-1"].card.capabilities == ("summarize",)
                assert [i.agent_id for i in directory.find_agents_by_capability("summarize")] == [
                    "executor-1",
                    "provider-1",
                ]
                assert all(info.alive and info.status == "IDLE" for info in agents.values())

                task_id = await requester.submit("Summarise", 120.0, capability="summarize")

                def busy(d: AgentDirectory) -> bool:
                    info = d.get_agent("executor-1")
                    return info is not None and info.current_task == task_id and info.progress == 0.25

                await directory.wait_for(busy, 30)
                assert (directory.get_agent("executor-1") or agents["executor-1"]).status == "BUSY"
                release.set()
                assert (await asyncio.wait_for(requester.outcome(task_id), 60)).status == "COMPLETED"

                # a second live agent with a taken id is refused at start, and the first carries on
                with pytest.raises(AgentIdInUseError, match="'provider-1' is in use"):
                    await Provider(mesh.config("provider-1", protocol=FAST), SKILLS).start()
                assert directory.is_agent_alive("provider-1")
                status, metrics = await http_get(provider.http_port or 0, "/metrics")
            await directory.wait_for(lambda d: d.get_all_agents() == [], 30)

        assert status == 200
        for line in (
            'a2a_protocol_latency_seconds_count{protocol="mesh",operation="register"} 1',
            'a2a_protocol_latency_seconds_count{protocol="a2a",operation="negotiate"} 1',
            'a2a_protocol_errors_total{protocol="mesh",operation="register"} 0',
        ):
            assert line in metrics, line
        heartbeats = [line for line in metrics.splitlines() if 'operation="heartbeat"} ' in line and "_count" in line]
        assert heartbeats and int(heartbeats[0].rsplit(" ", 1)[1]) >= 1
        assert provider.protocol_metrics.get_stats("a2a")["operations"]["negotiate"]["count"] == 1
        assert executor.protocol_metrics.get_stats("a2a")["operations"]["execute"]["count"] == 1
        assert requester.protocol_metrics.get_stats("a2a")["operations"]["request"]["errors"] == 0

    run_strict(scenario)


def test_max_agents_refuses_an_agent_at_start(mesh: Mesh) -> None:
    config = ProtocolConfig(heartbeat=FAST.heartbeat, mesh=MeshConfig(max_agents=1))

    async def scenario() -> None:
        async with Provider(mesh.config("provider-1", protocol=config), SKILLS):
            with pytest.raises(MaxAgentsError, match=r"mesh.max_agents=1"):
                await Executor(mesh.config("executor-1", protocol=config), HANDLERS).start()

    run_strict(scenario)


def dead_letters(endpoints: Endpoints, topic: str, count: int) -> list[dict[str, str]]:
    consumer = Consumer(
        {"bootstrap.servers": endpoints.kafka, "group.id": f"dlq-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    found = []
    try:
        deadline = time.monotonic() + 60
        while len(found) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                found.append({name: (value or b"").decode() for name, value in message.headers() or []})
    finally:
        consumer.close()
    return found


def test_expired_and_oversized_messages_go_to_the_dead_letter_topic(mesh: Mesh, endpoints: Endpoints) -> None:
    config = ProtocolConfig(messages=MessageConfig(max_message_bytes=2048, default_ttl_seconds=60))

    def request(requester: Requester, description: str, **extensions: Any) -> KafkaRecord:
        assert requester.envelope is not None
        record = {
            "task_id": uuid.uuid4().hex,
            "requester_id": requester.agent_id,
            "description": description,
            "capability": "summarize",
            "proposed_cost": 120.0,
            "priority": 1,
            "parameters": {},
            "timestamp": int(time.time() * 1000),
        }
        out = requester.envelope.encode(KIND_TASK_REQUEST, record, **extensions)
        headers = dict(out.headers)
        if "sent" in extensions.get("event_id", ""):
            headers["ce_time"] = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=90)).isoformat().encode()
        return KafkaRecord(out.topic, out.key, list(headers.items()), out.value)

    async def scenario() -> None:
        provider = Provider(mesh.config("provider-1", protocol=config), SKILLS)
        executor = Executor(mesh.config("executor-1", protocol=config), HANDLERS)
        async with provider, executor, Requester(mesh.config("requester-1", protocol=config)) as requester:
            assert isinstance(requester, Requester)
            await requester.produce_record(request(requester, "old news", ttl=30, event_id="sent-90s-ago-ttl-30"))
            await requester.produce_record(request(requester, "no ttl", event_id="sent-90s-ago-default"))
            await requester.produce_record(request(requester, "x" * 3000, event_id="oversized"))
            outcome = await requester.request_task("Fresh and small", 120.0, capability="summarize", max_wait=60)
            assert outcome.status == "COMPLETED"  # the provider carried on after dead-lettering
        letters = {h["ce_id"]: h for h in dead_letters(endpoints, mesh.topics.dlq, 3)}
        assert set(letters) == {"sent-90s-ago-ttl-30", "sent-90s-ago-default", "oversized"}
        assert all(h["dlq.stage"] == "limits" and h["dlq.agent"] == "provider-1" for h in letters.values())
        assert letters["sent-90s-ago-ttl-30"]["dlq.reason"].startswith("message expired: sent 9")
        assert letters["sent-90s-ago-ttl-30"]["dlq.reason"].endswith("its ttl is 30s")
        assert letters["sent-90s-ago-default"]["dlq.reason"].endswith("messages.default_ttl_seconds is 60s")
        assert letters["oversized"]["dlq.error.class"] == "a2a_fast.errors.MessageTooLargeError"
        assert "more than messages.max_message_bytes=2048" in letters["oversized"]["dlq.reason"]

    run_strict(scenario)


def test_high_priority_task_overtakes_a_low_backlog(mesh: Mesh) -> None:
    backlog = 300
    finished: list[str] = []
    high_done: list[int] = []

    async def work(task: TaskContext) -> str:
        await asyncio.sleep(0.02)
        if task.parameters.get("lane") == "high":
            high_done.append(sum(1 for name in finished if name == "low"))
        finished.append(task.parameters["lane"])
        return "ok"

    async def scenario() -> None:
        # priority orders the tasks taken in: this executor reads the whole backlog ahead of its 4 slots
        executor = Executor(
            mesh.config("executor-1", max_in_flight=5000), {"summarize": work}, max_tasks=4, read_ahead=backlog
        )
        requester = Requester(mesh.config("requester-1", max_in_flight=5000))
        async with Provider(mesh.config("provider-1", max_in_flight=5000), SKILLS), executor, requester:
            assert isinstance(requester, Requester)
            lows = await asyncio.gather(
                *(
                    requester.submit(f"low {n}", 120.0, capability="summarize", priority=0, parameters={"lane": "low"})
                    for n in range(backlog)
                )
            )
            # the backlog is queued at the executor before the HIGH task is asked for
            async with asyncio.timeout(60):
                while executor.slots.waiting < backlog // 2:  # noqa: ASYNC110 (a counter, nothing to await)
                    await asyncio.sleep(0.05)
            waiting_before = executor.slots.waiting
            high = await requester.request_task(
                "urgent", 120.0, capability="summarize", priority=2, parameters={"lane": "high"}, max_wait=60
            )
            assert high.status == "COMPLETED"
            outcomes = await asyncio.wait_for(asyncio.gather(*(requester.outcome(t) for t in lows)), 120)
        assert all(outcome.status == "COMPLETED" for outcome in outcomes)
        [low_done_before_high] = high_done
        pending_when_high_finished = backlog - low_done_before_high
        print(
            f"LOW backlog: {waiting_before} waiting at HIGH's request, {pending_when_high_finished} pending at its end"
        )
        assert pending_when_high_finished >= backlog // 3, (waiting_before, low_done_before_high)
        assert finished.count("low") == backlog

    run_strict(scenario)


def test_agent_process_killed_is_reported_dead_and_no_longer_routed(
    mesh: Mesh, endpoints: Endpoints, tmp_path: Path
) -> None:
    settings = tmp_path / "protocol.yaml"
    settings.write_text("heartbeat:\n  interval_seconds: 0.2\n  timeout_seconds: 1.5\n")
    config = ProtocolConfig(heartbeat=HeartbeatConfig(interval_seconds=0.2, timeout_seconds=1.5))
    env = {**os.environ, "KAFKA_BROKER": endpoints.kafka, "SCHEMA_REGISTRY_URL": endpoints.schema_registry}
    command = [sys.executable, "-m", "a2a_fast.cli", "agent", "provider", "--topic-prefix", mesh.topics.prefix]
    command += ["--http-port", "-1", "--config", str(settings), "--skills", "translate=10"]
    processes = [
        subprocess.Popen([*command, "--id", name], env=env, cwd=REPO, stdout=subprocess.PIPE)
        for name in ("provider-a", "provider-b")
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().startswith(b"READY provider")

        async def scenario() -> float:
            async with AgentDirectory(endpoints.kafka, mesh.topics.agents, config) as directory:
                router = MeshRouter(directory)
                await directory.wait_for(lambda d: len(d.find_agents_by_capability("translate")) == 2, 30)
                assert {router.route("translate") for _ in range(2)} == {"provider-a", "provider-b"}
                processes[0].send_signal(signal.SIGKILL)
                killed = time.monotonic()
                await directory.wait_for(lambda d: not d.is_agent_alive("provider-a"), 30)
                silent_for = time.monotonic() - killed
                assert [i.agent_id for i in directory.find_agents_by_capability("translate")] == ["provider-b"]
                assert {router.route("translate") for _ in range(4)} == {"provider-b"}
                processes[1].send_signal(signal.SIGTERM)  # a clean stop deregisters
                await directory.wait_for(lambda d: d.get_agent("provider-b") is None, 30)
                assert processes[1].wait(30) == 0
                info = directory.get_agent("provider-a")
                assert info is not None and not info.alive  # crashed: known, but dead
                router.close()
                return silent_for

        silent_for = run_strict(scenario)
        # the last heartbeat came at most one interval before the kill
        assert silent_for >= config.heartbeat.timeout_seconds - config.heartbeat.interval_seconds
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(30)
            if process.stdout is not None:
                process.stdout.close()
