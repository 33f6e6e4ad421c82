"""The fault suite: agents killed with SIGKILL, the broker restarted, the registry stopped, every task accounted.

``python -m bench.chaos [--trials N]`` (``make chaos``; ``CHAOS_TRIALS=1000 make chaos`` for the long run) starts a
*private* stack (its own ports and state folder, through :class:`a2a_fast.stack.LocalStack`; the shared one is never
touched), then two requesters, two providers and three executors, each a process of its own. The requesters submit a
bounded load of tasks while the driver runs ``N`` trials, one fault each, at a random moment: ``kill -9`` of a random
agent (restarted at once), a broker restart, or the registry stopped for a few seconds and started again. Each fault
is over (the agent ready again, the broker or registry answering) before the next trial begins.

The executors' handler (:func:`chaos_work`) appends a line to a file once it has done its work: the side effects are
counted for real, not inferred from the log. At the end every task is accounted from the log:

* **completed** exactly once: one ``COMPLETED`` id in the log and one side effect;
* **doubled**: completed twice (two ``COMPLETED`` ids), or its side effect done twice;
* **resumed**: a run cut off by a kill and run again (attempt 2 or more), with one side effect (the handler uses its
  idempotency key on a resumed run, as the README asks of handlers with outside effects);
* **rejected** or **failed**, with the reason the log gives;
* **open**: not final when the load drained, with its last state;
* **lost**: a request the broker acknowledged (the requesters note each one) that is not in the log, or a task still
  open at the end.

**Modes.** By default the agents run as ``a2a-fast agent`` runs them. ``--transactional`` puts every agent in Kafka
transactions (``a2a-fast agent --transactional``) and ``--no-dedupe`` switches the runtime's message-id dedupe off in
every agent (``--dedupe-size 0``): with both, what keeps a task from running twice is the transactions and the
executors' rebuild from the log alone (``make chaos CHAOS_ARGS="--transactional --no-dedupe"``).

The table goes to stdout and its figures to ``bench/results/chaos.json`` (``chaos-transactional-no-dedupe.json`` and
the like in the other modes; ``--out``). The exit status is 1 when a task was lost or doubled or an acknowledged
request is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from a2a_fast.agents.tasks import TaskContext
from a2a_fast.stack import KAFKA_BROKER_ENV, SCHEMA_REGISTRY_ENV, Endpoints, LocalStack
from a2a_fast.stack.services import free_ports

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "chaos.json"
PREFIX = "chaos."
CAPABILITY = "chaos"
EFFECTS_ENV = "A2A_CHAOS_EFFECTS"
FAULTS = ("kill", "broker", "registry")


async def chaos_work(task: TaskContext) -> dict[str, Any]:
    """The executors' handler: works for a while (the time a kill can cut), then appends its side effect.

    As the README asks of a handler with outside effects, a resumed run (``attempt`` 2 or more) first looks its
    idempotency key up among the effects and does not repeat one a cut-off run already did (it notes that in a
    file of its own). A first run never looks: two runs that each believe they are the first (a task run by two
    executors side by side) both append, and the suite counts that as doubled."""
    await asyncio.sleep(float(task.parameters.get("seconds", "0.5")))
    effects = Path(os.environ[EFFECTS_ENV])
    line = f"{task.idempotency_key} {task.attempt} {os.getpid()}"
    if task.attempt > 1 and _has_effect(effects, task.idempotency_key):
        _append(effects.with_name("already-done.txt"), line)
    else:
        _append(effects, line)
    return {"attempt": task.attempt}


def _has_effect(effects: Path, key: str) -> bool:
    with effects.open(encoding="utf-8") as lines:
        return any(line.split(" ", 1)[0] == key for line in lines)


def _append(path: Path, line: str) -> None:
    """One line, in one write to a file opened for appending: lines of several processes never interleave."""
    with path.open("a", encoding="utf-8") as out:
        out.write(f"{line}\n")


HANDLERS = {CAPABILITY: chaos_work}


# --- the requester process ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    """How the agents run: in transactions or not, with the message-id dedupe or without."""

    transactional: bool = False
    dedupe: bool = True
    brokers: int = 1
    """3: a replicated cluster (replication factor 3, ``min.insync.replicas`` 2), one node killed at a time."""

    def agent_flags(self) -> list[str]:
        """The ``a2a-fast agent`` flags of this mode (``bench.chaos requester`` takes the same)."""
        return ["--transactional"] * self.transactional + ["--dedupe-size", "0"] * (not self.dedupe)

    @property
    def name(self) -> str:
        parts = ["cluster"] * (self.brokers > 1) + ["transactional"] * self.transactional
        return "-".join(parts + ["no-dedupe"] * (not self.dedupe)) or "default"

    def results(self) -> Path:
        return RESULTS if self.name == "default" else RESULTS.with_name(f"chaos-{self.name}.json")


async def _requester(
    agent_id: str,
    count: int,
    interval: float,
    acked: Path,
    seed: int,
    transactional: bool,
    dedupe_size: int | None,
    replication_factor: int,
) -> int:
    from a2a_fast.agents.base import AgentConfig, serve
    from a2a_fast.agents.policies import BudgetPolicy
    from a2a_fast.agents.requester import Requester
    from a2a_fast.config import ProtocolConfig, TopicConfig
    from a2a_fast.protocol.topics import TopicNames
    from a2a_fast.stack import Endpoints

    endpoints = Endpoints.from_env()
    config = AgentConfig(
        agent_id=agent_id,
        kafka=endpoints.kafka,
        schema_registry=endpoints.schema_registry,
        topics=TopicNames(PREFIX),
        wait_for_services=True,
        transactional=transactional,
        protocol=ProtocolConfig(topics=TopicConfig(replication_factor=replication_factor)),
    )
    if dedupe_size is not None:
        config = replace(config, dedupe_size=dedupe_size)
    requester = Requester(config, BudgetPolicy(200.0, 4))
    done = _count_lines(acked)
    rng = random.Random(f"{seed}/{agent_id}/{done}")
    background: list[asyncio.Task[None]] = []

    async def submit_rest() -> None:
        for number in range(done, count):
            seconds = f"{rng.uniform(0.2, 1.5):.2f}"
            task_id = await requester.submit(
                f"chaos task {number}", 150.0, capability=CAPABILITY, parameters={"seconds": seconds}
            )
            _append(acked, task_id)  # the broker acknowledged the request
            await asyncio.sleep(interval)

    def ready(agent: Any) -> None:
        print(f"READY requester {agent.agent_id}", flush=True)
        background.append(asyncio.get_running_loop().create_task(submit_rest()))

    return await serve(requester, ready)


def _count_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


# --- the driver ----------------------------------------------------------------------------------------------


@dataclass
class PrivateStack:
    """A broker (or a replicated cluster of three) and a registry of one's own: free ports, state under ``home``,
    started and stopped through the project's stack code, whatever ``KAFKA_BROKER`` and ``SCHEMA_REGISTRY_URL`` say
    (the shared stack's)."""

    stack: LocalStack
    endpoints: Endpoints

    @classmethod
    def start(cls, home: Path, brokers: int = 1) -> PrivateStack:
        if brokers > 1:
            stack = LocalStack(home, free_ports(brokers), free_ports(brokers), free_ports(), brokers=brokers)
            private = cls(stack, stack.endpoints())
        else:
            stack = LocalStack(home, free_ports(), free_ports(), free_ports())
            private = cls(stack, Endpoints(stack.kafka.address, stack.registry.address))
        try:
            if brokers > 1:
                stack.up()
            else:
                stack.kafka.start()
                stack.registry.start()
        except BaseException:
            private.stop()
            raise
        return private

    def restart_broker(self, rng: random.Random) -> None:
        """The single broker stopped and started again; in a cluster, one node killed with SIGKILL and restarted
        (the others keep serving: every topic has a replica and a quorum left)."""
        if not self.stack.brokers:
            self.stack.kafka.stop()
            self.stack.kafka.start()
            return
        node = rng.choice(self.stack.brokers)
        pid = node.pid()
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)
            while node.pid() is not None:
                time.sleep(0.05)
        node.start()

    def stop(self) -> None:
        if self.stack.brokers:
            # the state is thrown away: a node waiting for a quorum already gone need not be waited for
            self.stack.down(patience=5)
            return
        self.stack.registry.stop()
        self.stack.kafka.stop()


class AgentProcess:
    """One agent process, restarted on demand; knows when it printed READY."""

    def __init__(self, role: str, agent_id: str, command: list[str], env: dict[str, str], logs: Path) -> None:
        self.role, self.agent_id, self.command, self.env = role, agent_id, command, env
        self.log_path = logs / f"{agent_id}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.ready = threading.Event()
        self.ready_at = 0.0
        self.starts = 0

    def start(self) -> None:
        self.ready = threading.Event()
        ready = self.ready
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=REPO, stdout=subprocess.PIPE, stderr=log, start_new_session=True
            )
        self.starts += 1
        stdout = self.process.stdout
        assert stdout is not None

        def watch() -> None:
            for line in stdout:
                if line.startswith(b"READY") and not ready.is_set():
                    self.ready_at = time.monotonic()
                    ready.set()
            stdout.close()

        threading.Thread(target=watch, daemon=True, name=f"watch-{self.agent_id}").start()

    def wait_ready(self, timeout: float) -> bool:
        return self.ready.wait(timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Figures:
    trials: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    broker_restarts: int = 0
    registry_restarts: int = 0
    agent_ready: list[float] = field(default_factory=list)
    broker_ready: list[float] = field(default_factory=list)
    registry_ready: list[float] = field(default_factory=list)
    outages: list[tuple[float, float]] = field(default_factory=list)
    """When the broker or the registry was restarted (epoch seconds, from the stop to ready again)."""
    exits: Counter[str] = field(default_factory=Counter)
    """Agents that exited on their own (not killed here): restarted, and reported."""
    exit_details: list[str] = field(default_factory=list)
    """Each such exit: the agent, its exit status, the trial, and the last lines of its log."""


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def _schedule(trials: int, rng: random.Random, broker_share: float = 0.1) -> list[str]:
    """One fault per trial: a tenth registry outages, ``broker_share`` broker restarts (at least one each), kills
    the rest."""
    restarts = max(1, round(trials / 10)) if trials >= 3 else 0
    brokers = max(1, round(trials * broker_share)) if trials >= 3 else 0
    faults = ["broker"] * brokers + ["registry"] * restarts
    faults += ["kill"] * (trials - len(faults))
    rng.shuffle(faults)
    return faults


def run(
    trials: int,
    *,
    tasks_per_trial: int = 3,
    seed: int | None = None,
    out: Path | None = RESULTS,
    work_dir: Path | None = None,
    drain_seconds: float = 120.0,
    mode: Mode = Mode(),
    log_level: str = "warning",
) -> dict[str, Any]:
    """Runs the suite and returns its report (also written to ``out`` unless None)."""
    from a2a_fast.protocol.topics import TopicNames

    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    began = time.monotonic()
    own_dir = work_dir is None
    home = Path(tempfile.mkdtemp(prefix="a2a-chaos-")) if work_dir is None else work_dir
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    agents: list[AgentProcess] = []
    private = PrivateStack.start(home / "stack", mode.brokers)
    stack, endpoints = private.stack, private.endpoints
    try:
        stack_ready = time.monotonic() - began
        effects = home / "effects.txt"
        effects.touch()
        env = {
            **os.environ,
            KAFKA_BROKER_ENV: endpoints.kafka,
            SCHEMA_REGISTRY_ENV: endpoints.schema_registry,
            EFFECTS_ENV: str(effects),
            "PYTHONFAULTHANDLER": "1",  # a native crash leaves its stack in the agent's log
            "A2A_FAST_STATE_DIR": str(home / "agents"),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO / "python"), str(REPO), os.environ.get("PYTHONPATH")])
            ),
        }
        tasks = trials * tasks_per_trial
        per_requester = math.ceil(tasks / 2)
        agent = [sys.executable, "-m", "a2a_fast.cli", "agent"]
        common = ["--topic-prefix", PREFIX, "--http-port", "-1", "--log-level", log_level, *mode.agent_flags()]
        if mode.brokers > 1:
            config = home / "agents.yaml"
            config.write_text(f"topics:\n  replication_factor: {mode.brokers}\n")
            common += ["--config", str(config)]
        for number in (1, 2):
            command = [*agent, "provider", "--id", f"provider-{number}", *common, "--skills", f"{CAPABILITY}=100"]
            agents.append(AgentProcess("provider", f"provider-{number}", command, env, logs))
        for number in (1, 2, 3):
            command = [*agent, "executor", "--id", f"executor-{number}", *common, "--max-tasks", "4"]
            command += ["--handlers", "bench.chaos:HANDLERS"]
            agents.append(AgentProcess("executor", f"executor-{number}", command, env, logs))
        # Submitting spreads the load over the trials (about four seconds each).
        interval = max(0.05, 4.0 * trials / per_requester)
        for number in (1, 2):
            agent_id = f"requester-{number}"
            command = [
                sys.executable,
                "-m",
                "bench.chaos",
                "requester",
                "--id",
                agent_id,
                "--count",
                str(per_requester),
            ]
            command += [
                "--interval",
                f"{interval:.3f}",
                "--acked",
                str(home / f"{agent_id}.acked"),
                "--seed",
                str(seed),
                "--replication-factor",
                str(mode.brokers),
                *mode.agent_flags(),
            ]
            agents.append(AgentProcess("requester", agent_id, command, env, logs))
        for process in agents[:-2]:
            process.start()
        for process in agents[:-2]:
            if not process.wait_ready(180):
                raise RuntimeError(f"{process.agent_id} was not ready within 180s; log {process.log_path}")
        for process in agents[-2:]:
            process.start()
            if not process.wait_ready(180):
                raise RuntimeError(f"{process.agent_id} was not ready within 180s; log {process.log_path}")

        figures = Figures()
        # A cluster loses a node in a quarter of the trials: what it is there to survive.
        for fault in _schedule(trials, rng, 0.25 if mode.brokers > 1 else 0.1):
            time.sleep(rng.uniform(0.3, 3.0))
            _restart_exited(agents, figures)
            figures.trials += 1
            if fault == "kill":
                victim = rng.choice(agents)
                killed = time.monotonic()
                victim.kill()
                victim.start()
                if not victim.wait_ready(180):
                    raise RuntimeError(f"{victim.agent_id} was not ready again within 180s; log {victim.log_path}")
                figures.kills[victim.role] += 1
                figures.agent_ready.append(victim.ready_at - killed)
            elif fault == "broker":
                stopped, began_at = time.monotonic(), time.time()
                private.restart_broker(rng)
                figures.broker_restarts += 1
                figures.broker_ready.append(time.monotonic() - stopped)
                figures.outages.append((began_at, time.time()))
            else:
                stopped, began_at = time.monotonic(), time.time()
                stack.registry.stop()
                time.sleep(rng.uniform(1.0, 4.0))  # agents run on with the schemas they have
                stack.registry.start()
                figures.registry_restarts += 1
                figures.registry_ready.append(time.monotonic() - stopped)
                figures.outages.append((began_at, time.time()))
        faults_done = time.monotonic()
        names = TopicNames(PREFIX)
        settled = _drain(endpoints, names, per_requester * 2, drain_seconds, agents, figures)
        for process in agents:
            process.stop()
        report = _account(endpoints, names, home, effects, figures)
        report.update(
            mode={"transactional": mode.transactional, "dedupe": mode.dedupe, "brokers": mode.brokers},
            seed=seed,
            replicas=_fewest_replicas(endpoints),
            tasks_submitted_target=per_requester * 2,
            settled_in_time=settled,
            seconds={
                "total": round(time.monotonic() - began, 1),
                "stack_up": round(stack_ready, 1),
                "faults": round(faults_done - began - stack_ready, 1),
            },
        )
    finally:
        for process in agents:
            with contextlib.suppress(Exception):
                process.kill()
        private.stop()
        if own_dir and not os.environ.get("A2A_CHAOS_KEEP"):
            shutil.rmtree(home, ignore_errors=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _restart_exited(agents: list[AgentProcess], figures: Figures) -> None:
    for process in agents:
        status = process.process.poll() if process.process is not None else None
        if status is not None:
            figures.exits[process.agent_id] += 1
            with process.log_path.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 2000))
                tail = log.read().decode(errors="replace").splitlines()[-8:]
            figures.exit_details.append(
                f"{process.agent_id} exited with status {status} before trial {figures.trials + 1}: " + " | ".join(tail)
            )
            process.start()
            process.wait_ready(180)


def _acked(home: Path) -> set[str]:
    found: set[str] = set()
    for path in home.glob("*.acked"):
        found.update(line.strip() for line in path.read_text().splitlines() if line.strip())
    return found


def _read(endpoints: Any, names: Any) -> Any:
    from a2a_fast.history.tasks import read_log
    from a2a_fast.transport.registry import SchemaCatalog

    transport = endpoints.transport()
    catalog = SchemaCatalog(transport, names)
    try:
        catalog.load_readers()
        return read_log(transport, catalog, names)
    finally:
        catalog.close()


def _drain(
    endpoints: Any, names: Any, target: int, patience: float, agents: list[AgentProcess], figures: Figures
) -> bool:
    """Waits until every task submitted is final (or ``patience`` seconds passed); True when they all are."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        _restart_exited(agents, figures)
        log = _read(endpoints, names)
        tasks = log.tasks
        if len(tasks) >= target and all(task.final for task in tasks.values()):
            return True
        time.sleep(2.0)
    return False


def _account(endpoints: Any, names: Any, home: Path, effects: Path, figures: Figures) -> dict[str, Any]:
    log = _read(endpoints, names)
    acked = _acked(home)
    runs: dict[str, list[int]] = {}
    effect_lines: dict[str, list[str]] = {}
    details: dict[str, list[str]] = {}
    for line in effects.read_text().splitlines():
        task_id, attempt, _pid = line.split()
        runs.setdefault(task_id, []).append(int(attempt))
        effect_lines.setdefault(task_id, []).append(line)
    outcome: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    open_tasks: dict[str, str] = {}
    doubled: list[str] = []
    resumed = 0
    latencies: list[float] = []
    slow: list[tuple[float, str, list[str]]] = []
    away: list[float] = []
    """Latencies of tasks that ran through agent kills only (no broker or registry restart meanwhile)."""
    for task in log.tasks.values():
        completed = {entry.event_id for entry in task.timeline if entry.event == "COMPLETED"}
        done = runs.get(task.task_id, [])
        if len(completed) > 1 or len(done) > 1:
            doubled.append(task.task_id)
            details[task.task_id] = _story(task, effect_lines.get(task.task_id, []))
        if any(
            entry.event == "RUNNING" and entry.event_id and "again" in (entry.detail or "") for entry in task.timeline
        ):
            resumed += 1
        if task.state == "COMPLETED":
            outcome["completed"] += 1
            accepted = [entry.time for entry in task.timeline if entry.event == "ACCEPTED"]
            ended = [entry.time for entry in task.timeline if entry.event == "COMPLETED"]
            if accepted and ended:
                latencies.append((min(ended) - min(accepted)) / 1000)
                if not _overlaps(min(accepted) / 1000, min(ended) / 1000, figures.outages):
                    away.append(latencies[-1])
                slow.append((latencies[-1], task.task_id, _story(task, effect_lines.get(task.task_id, []))))
            if not done:
                doubled.append(task.task_id)  # completed without its effect: counted as wrong, never hidden
        elif task.state in ("REJECTED", "FAILED", "CANCELED"):
            outcome[task.state.lower()] += 1
            reasons[f"{task.state}: {task.error}"] += 1
        else:
            last = task.timeline[-1].describe() if task.timeline else "nothing read"
            open_tasks[task.task_id] = f"{task.state} (last: {last})"
    already = effects.with_name("already-done.txt")
    resumed_after_effect = _count_lines(already)
    missing = sorted(acked - set(log.tasks))
    dead_letters = _count_records(endpoints, names.dlq)
    return {
        "trials": figures.trials,
        "kills": dict(figures.kills),
        "kills_total": sum(figures.kills.values()),
        "unplanned_exits": dict(figures.exits),
        "unplanned_exit_details": figures.exit_details,
        "broker_restarts": figures.broker_restarts,
        "registry_restarts": figures.registry_restarts,
        "tasks": len(log.tasks),
        "acknowledged_requests": len(acked),
        "completed": outcome["completed"],
        "rejected": outcome["rejected"],
        "failed": outcome["failed"],
        "canceled": outcome["canceled"],
        "reasons": dict(reasons),
        "open": open_tasks,
        "lost": len(missing) + len(open_tasks),
        "acknowledged_missing": missing,
        "doubled": sorted(set(doubled)),
        "doubled_details": details,
        "slowest": {task_id: [f"{seconds:.2f}s", *story] for seconds, task_id, story in sorted(slow)[-3:]},
        "resumed": resumed,
        "resumed_after_effect": resumed_after_effect,
        "dead_letters": dead_letters,
        "restart_to_ready_seconds": {
            "agent_p50": _round(_percentile(figures.agent_ready, 0.5)),
            "agent_max": _round(max(figures.agent_ready, default=None)),
            "broker_max": _round(max(figures.broker_ready, default=None)),
            "registry_max": _round(max(figures.registry_ready, default=None)),
        },
        "accepted_to_completed_seconds": {
            "p50": _round(_percentile(latencies, 0.5)),
            "p99": _round(_percentile(latencies, 0.99)),
            "max": _round(max(latencies, default=None)),
            "p99_kills_only": _round(_percentile(away, 0.99)),
            "tasks_kills_only": len(away),
        },
    }


def _count_records(endpoints: Any, topic: str) -> int:
    """The committed records of ``topic``, read (offsets would count transaction markers too)."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    consumer = endpoints.transport().consumer(
        {"group.id": "chaos-count", "enable.auto.commit": False, "isolation.level": "read_committed"}
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        numbers = list(metadata.partitions) if metadata is not None and metadata.error is None else []
        ends = {
            number: consumer.get_watermark_offsets(TopicPartition(topic, number), timeout=10)[1] for number in numbers
        }
        wanted = {number for number, end in ends.items() if end > 0}
        if not wanted:
            return 0
        consumer.assign([TopicPartition(topic, number, OFFSET_BEGINNING) for number in wanted])
        count = 0
        deadline = time.monotonic() + 60
        while wanted and time.monotonic() < deadline:
            count += sum(1 for message in consumer.consume(500, 0.5) if message.error() is None)
            for tp in consumer.position([TopicPartition(topic, number) for number in wanted]):
                if tp.offset >= ends[tp.partition]:
                    wanted.discard(tp.partition)
        if wanted:
            raise RuntimeError(f"{topic}: partitions {sorted(wanted)} not read to their end within 60s")
        return count
    finally:
        consumer.close()


def _fewest_replicas(endpoints: Any) -> int:
    """The fewest replicas of any partition of the suite's topics (in a cluster 3: a node's loss is survived)."""
    topics = endpoints.transport().admin().list_topics(timeout=30).topics
    return min(
        len(partition.replicas)
        for name, topic in topics.items()
        if name.startswith(PREFIX)
        for partition in topic.partitions.values()
    )


OUTAGE_TAIL = 15.0
"""Seconds after a broker or registry restart during which the group's members rejoin (counted with the outage)."""


def _overlaps(start: float, end: float, outages: list[tuple[float, float]]) -> bool:
    return any(start <= stop + OUTAGE_TAIL and end >= begin for begin, stop in outages)


def _story(task: Any, effects: list[str]) -> list[str]:
    """A task's timeline, one line per record (time, sender, what it said), and its side effects."""
    return [
        *(f"{entry.time} {entry.topic}/{entry.partition}@{entry.offset} {entry.describe()}" for entry in task.timeline),
        *(f"effect: {line}" for line in effects),
    ]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def table(report: dict[str, Any]) -> str:
    ready = report["restart_to_ready_seconds"]
    latency = report["accepted_to_completed_seconds"]
    kills = ", ".join(f"{role} {count}" for role, count in sorted(report["kills"].items())) or "none"
    mode = report.get("mode", {})
    rows = [
        (
            "mode",
            f"transactions {'on' if mode.get('transactional') else 'off'}, "
            f"dedupe {'on' if mode.get('dedupe', True) else 'off'}"
            + (
                f", {mode['brokers']} brokers (topics: {report.get('replicas')} replicas)"
                if mode.get("brokers", 1) > 1
                else ""
            ),
        ),
        ("trials", str(report["trials"])),
        ("kills (kill -9, restarted at once)", f"{report['kills_total']} ({kills})"),
        ("agents that exited by themselves", str(sum(report["unplanned_exits"].values()))),
        (
            "restarts",
            f"broker {report['broker_restarts']}"
            + (" (kill -9 of one node, restarted)" if mode.get("brokers", 1) > 1 else "")
            + f", registry {report['registry_restarts']}",
        ),
        ("tasks", f"{report['tasks']} ({report['acknowledged_requests']} requests acknowledged)"),
        (
            "outcomes",
            f"completed {report['completed']}, rejected {report['rejected']}, failed {report['failed']}, "
            f"open {len(report['open'])}",
        ),
        ("lost", str(report["lost"])),
        ("doubled", str(len(report["doubled"]))),
        ("acknowledged records missing", str(len(report["acknowledged_missing"]))),
        (
            "resumed",
            f"{report['resumed']} ({report['resumed_after_effect']} after the cut-off run had done its effect)",
        ),
        ("dead letters", str(report["dead_letters"])),
        (
            "restart-to-ready (s)",
            f"agent p50 {ready['agent_p50']} max {ready['agent_max']}; broker max {ready['broker_max']}; "
            f"registry max {ready['registry_max']}",
        ),
        (
            "accepted->completed (s)",
            f"p50 {latency['p50']} p99 {latency['p99']} max {latency['max']}; p99 through agent kills only "
            f"{latency['p99_kills_only']} ({latency['tasks_kills_only']} tasks)",
        ),
        ("time (s)", f"{report['seconds']['total']} (stack up {report['seconds']['stack_up']})"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def ok(report: dict[str, Any]) -> bool:
    return (
        not report["lost"]
        and not report["doubled"]
        and not report["acknowledged_missing"]
        and not report["unplanned_exits"]
        and report.get("replicas", 1) >= report.get("mode", {}).get("brokers", 1)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    requester = commands.add_parser("requester", help="(internal) one requester process of the suite")
    requester.add_argument("--id", required=True)
    requester.add_argument("--count", type=int, required=True)
    requester.add_argument("--interval", type=float, required=True)
    requester.add_argument("--acked", type=Path, required=True)
    requester.add_argument("--seed", type=int, default=0)
    requester.add_argument("--transactional", action="store_true")
    requester.add_argument("--dedupe-size", type=int, default=None)
    requester.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument("--trials", type=int, default=int(os.environ.get("CHAOS_TRIALS", "100")))
    parser.add_argument("--tasks-per-trial", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--transactional", action="store_true", help="every agent writes in Kafka transactions (--transactional)"
    )
    parser.add_argument(
        "--no-dedupe", action="store_true", help="every agent without the message-id dedupe (--dedupe-size 0)"
    )
    parser.add_argument(
        "--brokers",
        type=int,
        choices=(1, 3),
        default=1,
        help="3: a replicated cluster; the broker fault kills one node with SIGKILL and restarts it",
    )
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results/chaos[-<mode>].json")
    parser.add_argument("--log-level", default="warning", help="the providers' and executors' (info: each task run)")
    args = parser.parse_args(argv)
    if args.command == "requester":
        import uvloop

        return uvloop.run(
            _requester(
                args.id,
                args.count,
                args.interval,
                args.acked,
                args.seed,
                args.transactional,
                args.dedupe_size,
                args.replication_factor,
            )
        )
    mode = Mode(transactional=args.transactional, dedupe=not args.no_dedupe, brokers=args.brokers)
    report = run(
        args.trials,
        tasks_per_trial=args.tasks_per_trial,
        seed=args.seed,
        out=args.out or mode.results(),
        mode=mode,
        log_level=args.log_level,
    )
    print(table(report))
    if not ok(report):
        print(f"FAILED: lost {report['lost']}, doubled {report['doubled']}, missing {report['acknowledged_missing']}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
