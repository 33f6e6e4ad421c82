"""The agent directory: who is in the mesh, what they can do, and whether they are alive.

Every agent announces itself on one topic (``a2a.agents``, with the mesh's prefix), compacted and keyed
by agent id, with four kinds of CloudEvents (Kafka binary mode, JSON data):

* ``a2a.agent.register`` once at start, ``a2a.agent.heartbeat`` every ``heartbeat.interval_seconds``,
  ``a2a.agent.state`` (STATE_SYNC) when its state changes, ``a2a.agent.deregister`` on a clean stop
  (followed by a tombstone, so compaction forgets the agent).
* Every event carries the whole :class:`AgentCard` and the latest state, because compaction keeps only
  the newest record of a key: a reader arriving later may see a heartbeat and nothing before it.
* Each process that runs an agent has its own ``instance`` id (``ce_instanceid``), which is how a second
  live process claiming the same agent id is told apart from a restart.

:class:`AgentDirectory` reads the topic from the beginning and keeps the directory in memory; any
process can run one. The topic has one partition on purpose: every reader applies the same rules to
the same totally ordered log, so all of them agree on who holds an id and who was refused:

* A REGISTER (or a heartbeat of an agent the reader does not know yet) for an id whose holder is still
  alive at the event's time, from another instance, is **refused** (:class:`AgentIdInUseError`). A
  holder that deregistered, or whose last event is older than ``heartbeat.timeout_seconds``, may be
  replaced: that is a restart.
* A new id when ``mesh.max_agents`` agents are alive at the event's time is refused (:class:`MaxAgentsError`).
* Events of an instance that does not hold the id are ignored, so a refused process cannot evict the
  holder by deregistering.

An agent is *alive* while it has not deregistered and its last event is at most
``heartbeat.timeout_seconds`` old (event times are the senders' clocks). :class:`Presence` publishes one
agent's lifecycle; it checks the directory before registering (waiting out a holder that has gone
silent, so a crashed agent restarted at once takes its id back when the old claim lapses), then waits
until its own REGISTER has been read back and raises the refusal, if any, so two processes racing for
one id cannot both win.

**Incarnations.** A process restarted on the same host need not wait out its dead predecessor's claim. Each
claim carries ``incarnation.successor``, the SHA-256 of a secret that only the claiming process and the file
of its :class:`Incarnation` know; the file is locked (``flock``) while the process lives, and the kernel
releases the lock when it dies, even by ``kill -9``. The next process to lock the file reads that secret and
puts it in its REGISTER (``incarnation.takeover``): every reader sees the secret hash to the holder's
successor and hands the id over at once, as for a holder that deregistered. A second live process on the host
cannot lock the file, and a process elsewhere has no secret, so both are judged by the rules above.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import math
import os
import resource
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import IO, Any, Final

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from a2a_fast.codecs.cloudevents import from_kafka, to_kafka
from a2a_fast.config import ProtocolConfig
from a2a_fast.errors import AgentIdInUseError, MaxAgentsError, RegistrationError
from a2a_fast.observability.metrics import Metrics
from a2a_fast.protocol.topics import AGENTS
from a2a_fast.transport import Transport, as_transport
from a2a_fast.transport.admin import ensure_topics, watermark_offsets
from a2a_fast.transport.base import ConsumerClient, ProducerClient
from a2a_fast.transport.producer import Producer

__all__ = [
    "DEREGISTER",
    "DIRECTORY_TOPIC_CONFIG",
    "HEARTBEAT",
    "REGISTER",
    "STATES",
    "STATE_SYNC",
    "AgentCard",
    "AgentDirectory",
    "AgentInfo",
    "AgentState",
    "Incarnation",
    "Presence",
    "process_usage",
]

log = logging.getLogger("a2a_fast.mesh")

REGISTER: Final = "a2a.agent.register"
HEARTBEAT: Final = "a2a.agent.heartbeat"
STATE_SYNC: Final = "a2a.agent.state"
DEREGISTER: Final = "a2a.agent.deregister"
EVENT_TYPES: Final = (REGISTER, HEARTBEAT, STATE_SYNC, DEREGISTER)
STATES: Final = ("IDLE", "BUSY", "ERROR")
PROTOCOL: Final = "mesh"
DIRECTORY_TOPIC_CONFIG: Final = {"cleanup.policy": "compact"}
"""How the directory topic is made (with one partition): compacted, each agent's newest record kept."""
"""The protocol name under which directory operations are recorded in the protocol metrics."""


@dataclass(frozen=True)
class AgentCard:
    """What an agent is and offers. ``priority`` and ``weight`` feed capability routing (higher priority
    tiers are chosen first; weight shares round robin)."""

    agent_id: str
    agent_type: str
    version: str = "1.0"
    capabilities: tuple[str, ...] = ()
    endpoints: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    weight: int = 1

    def to_json(self) -> dict[str, Any]:
        """The card as the directory's records carry it (camelCase keys)."""
        return {
            "agentId": self.agent_id,
            "agentType": self.agent_type,
            "version": self.version,
            "capabilities": list(self.capabilities),
            "endpoints": dict(self.endpoints),
            "resources": dict(self.resources),
            "priority": self.priority,
            "weight": self.weight,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentCard:
        """The card of a directory record (the inverse of :meth:`to_json`)."""
        return cls(
            agent_id=str(data["agentId"]),
            agent_type=str(data.get("agentType", "")),
            version=str(data.get("version", "")),
            capabilities=tuple(str(c) for c in data.get("capabilities") or ()),
            endpoints={str(k): str(v) for k, v in (data.get("endpoints") or {}).items()},
            resources=dict(data.get("resources") or {}),
            priority=int(data.get("priority", 0)),
            weight=int(data.get("weight", 1)),
        )


@dataclass(frozen=True)
class AgentState:
    """What an agent is doing (STATE_SYNC). ``cpu`` is percent of one core since the previous sample,
    ``memory`` resident bytes, ``connections`` open sockets of the process, ``load`` messages in flight."""

    status: str = "IDLE"
    current_task: str | None = None
    progress: float | None = None
    cpu: float = 0.0
    memory: int = 0
    connections: int = 0
    load: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "currentTask": self.current_task,
            "progress": self.progress,
            "cpu": self.cpu,
            "memory": self.memory,
            "connections": self.connections,
            "load": self.load,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgentState:
        progress = data.get("progress")
        return cls(
            status=str(data.get("status", "IDLE")),
            current_task=data.get("currentTask"),
            progress=None if progress is None else float(progress),
            cpu=float(data.get("cpu", 0.0)),
            memory=int(data.get("memory", 0)),
            connections=int(data.get("connections", 0)),
            load=int(data.get("load", 0)),
        )

    def same_activity(self, other: AgentState) -> bool:
        """Equal apart from the resource samples, which change on every reading."""
        return (self.status, self.current_task, self.progress, self.load) == (
            other.status,
            other.current_task,
            other.progress,
            other.load,
        )


@dataclass(frozen=True)
class AgentInfo:
    """One agent as the directory knows it. ``last_seen`` is the time (epoch seconds) of its last event."""

    card: AgentCard
    status: str
    current_task: str | None
    progress: float | None
    cpu: float
    memory: int
    connections: int
    last_seen: float
    alive: bool
    load: int = 0
    instance_id: str = ""
    registered_at: float = 0.0

    @property
    def agent_id(self) -> str:
        return self.card.agent_id


@dataclass
class _Entry:
    card: AgentCard
    state: AgentState
    instance: str
    last_seen: float
    registered_at: float
    successor: str | None = None
    """The SHA-256 (hex) of the secret by which the holder's next incarnation takes the id over at once."""

    def alive_at(self, moment: float, timeout: float) -> bool:
        return moment - self.last_seen <= timeout


class AgentDirectory:
    """The directory built from the agents topic; see the module docstring for the rules it applies.

    ``await start()`` returns once everything already on the topic has been read. ``on_change``
    listeners are called on the loop after each batch of events and whenever an agent's liveness flips.

    ``as_of`` (epoch seconds) shows the directory as it stood then: records stamped later are ignored and
    liveness is judged at that time. The topic is compacted, so what it still holds of the past is only
    each agent's newest record before compaction ran.
    """

    def __init__(
        self,
        kafka: str | Transport,
        topic: str = AGENTS,
        config: ProtocolConfig | None = None,
        *,
        metrics: Metrics | None = None,
        sweep_interval: float = 0.2,
        as_of: float | None = None,
    ) -> None:
        self.transport = as_transport(kafka)
        self.kafka = self.transport.bootstrap
        self.as_of = as_of
        self.topic = topic
        self.config = config or ProtocolConfig()
        self.metrics = metrics
        self.sweep_interval = sweep_interval
        self.on_change: list[Callable[[], None]] = []
        self._agents: dict[str, _Entry] = {}
        self._refused: dict[tuple[str, str], RegistrationError] = {}
        self._position = 0
        self.skipped = 0
        """Records of the topic that are not directory events (malformed, or another kind): skipped, not
        dead-lettered, since every process reads the whole topic and each would write its own copy."""
        self._alive: frozenset[str] = frozenset()
        self._expiry = math.inf
        """When the first agent alive at the last sweep falls silent for longer than the timeout."""
        self._sweeping = False
        self._changed = asyncio.Event()
        self._consumer: ConsumerClient | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def timeout(self) -> float:
        """Seconds of silence after which an agent counts as dead."""
        return self.config.heartbeat.timeout_seconds

    # --- lifecycle ----------------------------------------------------------------------------------

    async def start(self, patience: float = 30.0) -> None:
        """Creates the topic if missing, reads it to its current end, then follows it."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="a2a-directory")
        self._consumer = consumer = await loop.run_in_executor(self._thread, self._open, patience)
        deadline = time.monotonic() + patience
        end = await loop.run_in_executor(self._thread, self._high_watermark, patience)
        while self._position < end:
            if time.monotonic() > deadline:
                raise RegistrationError(f"agent directory: reading {self.topic} took more than {patience}s")
            self._apply_batch(await loop.run_in_executor(self._thread, consumer.consume, 500, 0.2))
        self._sweep()
        self._task = loop.create_task(self._follow(), name=f"directory-{self.topic}")

    async def stop(self) -> None:
        """Stops following the topic."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._consumer is not None and self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._consumer.close)
            self._consumer = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None

    async def __aenter__(self) -> AgentDirectory:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _open(self, patience: float) -> ConsumerClient:
        ensure_topics(
            self.transport,
            [self.topic],
            partitions=1,
            config=DIRECTORY_TOPIC_CONFIG,
            timeout=patience,
            replication_factor=self.config.topics.replication_factor,
        )
        consumer = self.transport.consumer(
            {
                "group.id": f"a2a-directory-{uuid.uuid4().hex}",  # never joins or commits: offsets are assigned
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            }
        )
        deadline = time.monotonic() + patience
        while True:  # a topic just created may not be in the broker's metadata yet
            metadata = consumer.list_topics(self.topic, timeout=patience).topics[self.topic]
            if metadata.error is None and metadata.partitions:
                break
            if time.monotonic() > deadline:
                consumer.close()
                raise RegistrationError(f"agent directory: topic {self.topic} has no partitions: {metadata.error}")
            time.sleep(0.1)
        consumer.assign([TopicPartition(self.topic, number, OFFSET_BEGINNING) for number in metadata.partitions])
        return consumer

    def _high_watermark(self, patience: float) -> int:
        assert self._consumer is not None
        return watermark_offsets(self._consumer, self.topic, 0, patience)[1]

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        consumer = self._consumer
        assert consumer is not None
        while True:
            batch = await loop.run_in_executor(self._thread, consumer.consume, 500, self.sweep_interval)
            self._apply_batch(batch)
            self._sweep()

    # --- reading the log ----------------------------------------------------------------------------

    def _apply_batch(self, batch: list[Any]) -> None:
        if not batch:
            return
        started = time.perf_counter()
        for message in batch:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("agent directory: consume error on %s: %s", self.topic, error)
                continue
            self._position = max(self._position, (message.offset() or 0) + 1)
            if self.as_of is not None and message.timestamp()[1] > self.as_of * 1000:
                continue
            try:
                self._apply(message.key(), message.headers(), message.value())
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                self.skipped += 1
                log.warning("agent directory: skipped a malformed record at offset %s: %s", message.offset(), error)
        if self.metrics is not None:
            self.metrics.record(PROTOCOL, "directory_apply", time.perf_counter() - started)
        self._notify()

    def _apply(self, key: bytes | None, headers: Any, value: bytes | None) -> None:
        if value is None:  # tombstone: compaction forgets the agent
            if key is not None:
                self._agents.pop(key.decode(errors="replace"), None)
            return
        event = from_kafka(headers or [], value, key)
        kind = event.get("type")
        if kind not in EVENT_TYPES:
            raise ValueError(f"ce_type {kind!r} is not a directory event")
        data = event["data"]
        if isinstance(data, bytes | str):
            data = json.loads(data)
        card = AgentCard.from_json(data["card"])
        state = AgentState.from_json(data.get("state") or {})
        instance = str(event.get("instanceid") or "")
        moment = _epoch(str(event["time"]))
        agent_id = card.agent_id
        incarnation = data.get("incarnation") or {}
        successor = incarnation.get("successor")
        entry = self._agents.get(agent_id)
        if entry is not None and entry.instance == instance:
            if kind == DEREGISTER:
                del self._agents[agent_id]
            else:
                entry.card, entry.state = card, state
                entry.last_seen = max(entry.last_seen, moment)
                entry.successor = successor or entry.successor
            return
        if kind == DEREGISTER:
            return  # not the holder's: ignored
        if entry is not None and kind == REGISTER and _proves(incarnation.get("takeover"), entry.successor):
            # The holder's own next incarnation: the holder is dead (its lock on the incarnation file is gone).
            self._agents[agent_id] = _Entry(card, state, instance, moment, moment, successor)
            return
        if entry is not None and entry.alive_at(moment, self.timeout):
            self._refused[(agent_id, instance)] = AgentIdInUseError(
                f"agent id {agent_id!r} is in use by a live instance (last seen "
                f"{moment - entry.last_seen:.1f}s before this claim); a restart is accepted once that instance "
                f"deregisters or has sent nothing for heartbeat.timeout_seconds={self.timeout:g}s"
            )
            return
        limit = self.config.mesh.max_agents
        # Counting the live agents costs a pass over all of them; fewer entries than the limit cannot reach it.
        live = 0 if entry is not None or len(self._agents) < limit else self._live_at(moment)
        if live >= limit:
            self._refused[(agent_id, instance)] = MaxAgentsError(
                f"agent {agent_id!r} refused: the mesh already has {live} live agents (mesh.max_agents={limit})"
            )
            return
        self._agents[agent_id] = _Entry(card, state, instance, moment, moment, successor)

    def successor(self, agent_id: str) -> str | None:
        """The hash by which the holder of ``agent_id`` said its next incarnation may take the id over."""
        entry = self._agents.get(agent_id)
        return None if entry is None else entry.successor

    def _live_at(self, moment: float) -> int:
        return sum(1 for other in self._agents.values() if other.alive_at(moment, self.timeout))

    def _now(self) -> float:
        return time.time() if self.as_of is None else self.as_of

    def _sweep(self) -> None:
        now = self._now()
        alive = frozenset(agent_id for agent_id, entry in self._agents.items() if entry.alive_at(now, self.timeout))
        self._expiry = min((self._agents[agent_id].last_seen for agent_id in alive), default=math.inf) + self.timeout
        if alive != self._alive:
            self._alive = alive
            self._sweeping = True
            try:
                self._notify()
            finally:
                self._sweeping = False

    def expire(self) -> None:
        """Brings liveness up to now: once an agent's silence has passed the timeout since the last sweep, sweeps at
        once (``on_change`` fires), so the queries and the router that follows them agree on who is alive at any
        moment, not only after the next periodic sweep."""
        if not self._sweeping and self._now() > self._expiry:
            self._sweep()

    def _notify(self) -> None:
        self._changed.set()
        for listener in self.on_change:
            try:
                listener()
            except Exception:
                log.exception("agent directory: on_change listener failed")

    # --- queries ------------------------------------------------------------------------------------

    def _info(self, entry: _Entry, now: float) -> AgentInfo:
        state = entry.state
        return AgentInfo(
            card=entry.card,
            status=state.status,
            current_task=state.current_task,
            progress=state.progress,
            cpu=state.cpu,
            memory=state.memory,
            connections=state.connections,
            last_seen=entry.last_seen,
            alive=entry.alive_at(now, self.timeout),
            load=state.load,
            instance_id=entry.instance,
            registered_at=entry.registered_at,
        )

    def get_all_agents(self) -> list[AgentInfo]:
        """Every registered agent that has not deregistered, alive or not, by id."""
        self.expire()
        now = self._now()
        return [self._info(self._agents[agent_id], now) for agent_id in sorted(self._agents)]

    def get_agent(self, agent_id: str) -> AgentInfo | None:
        """What the directory knows of ``agent_id`` (None when it never registered)."""
        self.expire()
        entry = self._agents.get(agent_id)
        return None if entry is None else self._info(entry, self._now())

    def card(self, agent_id: str) -> AgentCard | None:
        """The card ``agent_id`` registered with (None when it never registered), alive or not."""
        entry = self._agents.get(agent_id)
        return None if entry is None else entry.card

    def find_agents_by_capability(self, capability: str) -> list[AgentInfo]:
        """Live agents offering ``capability`` (compared case-insensitively), by id."""
        wanted = capability.strip().lower()
        return [
            info
            for info in self.get_all_agents()
            if info.alive and wanted in (c.strip().lower() for c in info.card.capabilities)
        ]

    def is_agent_alive(self, agent_id: str) -> bool:
        """Whether ``agent_id`` is registered and was heard from within the heartbeat timeout."""
        self.expire()
        entry = self._agents.get(agent_id)
        return entry is not None and entry.alive_at(self._now(), self.timeout)

    def refusal(self, agent_id: str, instance_id: str) -> RegistrationError | None:
        """Why the claim of ``agent_id`` by ``instance_id`` was refused, or None."""
        return self._refused.get((agent_id, instance_id))

    @property
    def position(self) -> int:
        """The offset after the last record read."""
        return self._position

    async def wait_for(self, predicate: Callable[[AgentDirectory], bool], timeout: float) -> None:  # noqa: ASYNC109
        """Returns once ``predicate(self)`` holds (checked after every change); TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    async def wait_position(self, offset: int, timeout: float) -> None:  # noqa: ASYNC109
        """Returns once the record at ``offset`` has been read."""
        await self.wait_for(lambda directory: directory.position > offset, timeout)


# --- publishing one agent's lifecycle ----------------------------------------------------------------


def process_usage(previous: tuple[float, float] | None) -> tuple[float, int, int, tuple[float, float]]:
    """``(cpu percent since previous, resident bytes, open sockets, sample)`` of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    sample = (time.monotonic(), usage.ru_utime + usage.ru_stime)
    cpu = 0.0
    if previous is not None and sample[0] > previous[0]:
        cpu = round(100.0 * (sample[1] - previous[1]) / (sample[0] - previous[0]), 2)
    try:
        with open("/proc/self/statm") as statm:
            memory = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        memory = usage.ru_maxrss * 1024  # Linux reports KiB; only a fallback
    try:
        fds = os.listdir("/proc/self/fd")
        sockets = 0
        for fd in fds:
            with contextlib.suppress(OSError):
                sockets += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    except OSError:
        sockets = 0
    return cpu, memory, sockets, sample


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _proves(secret: object, successor: str | None) -> bool:
    return isinstance(secret, str) and successor is not None and secrets.compare_digest(_digest(secret), successor)


class Incarnation:
    """This process's place in the line of processes that run one agent id from one state folder.

    :meth:`begin` locks ``path`` (``flock``, held until :meth:`end` or the process's death), reads the secrets
    its predecessors left there and writes a new one for this process. The new secret's hash goes in every
    directory record of this process (``successor``); a predecessor's secret, once the lock proves that
    predecessor dead, is what takes its claim over (``takeover``). The file keeps the last two secrets: one
    written by a process that died before its REGISTER was read still leaves the one before it usable.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.secret = secrets.token_hex(32)
        self.previous: list[str] = []
        self._file: IO[str] | None = None

    @classmethod
    def for_agent(cls, state_dir: Path, bootstrap: str, topic: str, agent_id: str) -> Incarnation:
        """The incarnation file of ``agent_id`` in the mesh whose directory is ``topic`` at ``bootstrap``."""
        name = hashlib.sha256(f"{bootstrap}\n{topic}\n{agent_id}".encode()).hexdigest()[:32]
        return cls(state_dir / "incarnations" / f"{name}.json")

    @property
    def successor(self) -> str:
        return _digest(self.secret)

    def begin(self) -> bool:
        """Locks the file and records this process's secret; False when a live process holds the lock (or the
        folder cannot be written), and then this process has no predecessor to take over from."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the lock
        except OSError as error:
            log.warning("incarnation file %s: %s; a restart will wait out the old claim", self.path, error)
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        try:
            found = json.loads(handle.read() or "[]")
        except ValueError:
            found = []
        self.previous = [str(item) for item in found if isinstance(item, str)][-2:]
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps([*self.previous[-1:], self.secret]))
        handle.flush()
        os.fsync(handle.fileno())
        os.chmod(self.path, 0o600)
        self._file = handle
        return True

    def takeover(self, successor: str | None) -> str | None:
        """The predecessor's secret that proves ``successor`` (the holder's), if this process has it."""
        if self._file is None:
            return None
        return next((secret for secret in reversed(self.previous) if _proves(secret, successor)), None)

    def end(self) -> None:
        """Releases the lock (a clean stop; a crash releases it too)."""
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()


class Presence:
    """Publishes one agent's REGISTER, HEARTBEATs, STATE_SYNCs and DEREGISTER on the directory's topic.

    ``state`` is sampled every ``sync_interval`` seconds (default: a fifth of the heartbeat interval);
    a STATE_SYNC goes out when the activity (status, task, progress, load) changed. :meth:`start` raises
    :class:`AgentIdInUseError` or :class:`MaxAgentsError` when the directory refuses the agent. With an
    ``incarnation`` a claim left by this agent's previous process on this host is taken over at once.

    Each presence has a producer client of its own unless ``producer`` (a started
    :class:`~a2a_fast.transport.producer.Producer`) is given: a process hosting many agents shares one, which
    the caller closes after stopping them.
    """

    def __init__(
        self,
        directory: AgentDirectory,
        card: AgentCard,
        state: Callable[[], AgentState] | None = None,
        *,
        metrics: Metrics | None = None,
        sync_interval: float | None = None,
        patience: float = 30.0,
        producer: Producer | None = None,
        incarnation: Incarnation | None = None,
    ) -> None:
        self.directory = directory
        self.incarnation = incarnation
        self._takeover: str | None = None
        self.card = card
        self.instance_id = uuid.uuid4().hex
        self.metrics = metrics
        self.interval = directory.config.heartbeat.interval_seconds
        self.sync_interval = sync_interval or max(0.05, self.interval / 5)
        self.patience = patience
        self._sample_state = state or AgentState
        self._last_state = AgentState()
        self._usage: tuple[float, float] | None = None
        self._producer: ProducerClient | None = None
        self._shared = producer
        self._sending = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.registered = False

    @property
    def agent_id(self) -> str:
        return self.card.agent_id

    async def start(self) -> None:
        """Registers, waits to read the REGISTER back, then starts heartbeats and state syncs.

        If another instance holds the id, this first waits for its next sign of life: a live holder sends
        one within a heartbeat interval (this start is then refused), a crashed one never does and its claim
        lapses at the heartbeat timeout (this instance then takes the id), so a crashed agent restarted at
        once comes back by itself. A holder that was this agent's previous incarnation on this host is taken
        over at once.
        """
        if self.incarnation is not None and self.incarnation.begin():
            self._takeover = self.incarnation.takeover(self.directory.successor(self.agent_id))
        try:
            await self._register()
        except BaseException:
            if self.incarnation is not None:
                self.incarnation.end()
            raise

    async def _register(self) -> None:
        if self._takeover is not None:
            held = self.directory.get_agent(self.agent_id)
            log.info(
                "%s: taking over the claim of instance %s, this agent's previous process on this host (it has"
                " died)",
                self.agent_id, held.instance_id if held else "-",
            )  # fmt: skip
        else:
            await self._outwait_a_silent_holder()
        existing = self.directory.get_agent(self.agent_id)
        if (
            self._takeover is None
            and existing is not None
            and existing.alive
            and existing.instance_id != self.instance_id
        ):
            self._count("register", ok=False)
            raise AgentIdInUseError(
                f"agent id {self.agent_id!r} is in use by a live instance (last seen "
                f"{time.time() - existing.last_seen:.1f}s ago); a restart is accepted once it deregisters or "
                f"has sent nothing for heartbeat.timeout_seconds={self.directory.timeout:g}s"
            )
        if self._shared is None:
            self._producer = self.directory.transport.producer({"acks": "all", "linger.ms": 0})
        started = time.perf_counter()
        try:
            offset = await self._publish(REGISTER, self._state())
            await self.directory.wait_position(offset, self.patience)
            refusal = self.directory.refusal(self.agent_id, self.instance_id)
            if refusal is not None:
                raise refusal
        except (Exception, asyncio.CancelledError):  # a coroutine closed unfinished cannot await its clean-up
            self._count("register", ok=False, started=started)
            await self._close_producer()
            raise
        self._count("register", started=started)
        self.registered = True
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._heartbeats(), name=f"{self.agent_id}-heartbeat"),
            loop.create_task(self._syncs(), name=f"{self.agent_id}-state-sync"),
        ]

    async def _outwait_a_silent_holder(self) -> None:
        held = self.directory.get_agent(self.agent_id)
        if held is None or not held.alive or held.instance_id == self.instance_id:
            return
        began = time.time()
        log.info(
            "%s: instance %s holds the id (silent for %.1fs); waiting for a sign of life from it or for its"
            " claim to lapse",
            self.agent_id, held.instance_id, began - held.last_seen,
        )  # fmt: skip
        # Records the holder sent before this wait may still arrive; only one stamped after it began is
        # a sign of life. The bound keeps a holder whose clock runs behind from holding this start forever.
        deadline = began + self.directory.timeout + self.interval
        while time.time() < deadline:
            now = self.directory.get_agent(self.agent_id)
            if now is None or not now.alive or now.instance_id != held.instance_id or now.last_seen >= began:
                return
            await asyncio.sleep(self.interval / 4)

    async def stop(self, deregister: bool = True) -> None:
        """Stops heartbeats; publishes DEREGISTER and a tombstone unless ``deregister`` is False (as in a
        crash: the directory then reports the agent dead after the heartbeat timeout)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.registered and deregister:
            started = time.perf_counter()
            try:
                await self._publish(DEREGISTER, self._state())
                await self._publish(None, None)
                self._count("deregister", started=started)
            except KafkaException as error:
                self._count("deregister", ok=False, started=started)
                log.warning("%s: deregistering failed: %s", self.agent_id, error)
        self.registered = False
        await self._close_producer()
        if self.incarnation is not None:
            self.incarnation.end()

    async def heartbeat(self) -> None:
        started = time.perf_counter()
        try:
            await self._publish(HEARTBEAT, self._state())
        except KafkaException:
            self._count("heartbeat", ok=False, started=started)
            raise
        self._count("heartbeat", started=started)

    async def sync(self, state: AgentState | None = None) -> None:
        """Publishes a STATE_SYNC with ``state`` (default: a fresh sample)."""
        started = time.perf_counter()
        current = state or self._state()
        try:
            await self._publish(STATE_SYNC, current)
        except KafkaException:
            self._count("state_sync", ok=False, started=started)
            raise
        self._last_state = current
        self._count("state_sync", started=started)

    def _state(self) -> AgentState:
        cpu, memory, sockets, self._usage = process_usage(self._usage)
        return replace(self._sample_state(), cpu=cpu, memory=memory, connections=sockets)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.heartbeat()
            except KafkaException as error:
                log.warning("%s: heartbeat failed: %s", self.agent_id, error)

    async def _syncs(self) -> None:
        while True:
            await asyncio.sleep(self.sync_interval)
            sampled = self._sample_state()
            if not sampled.same_activity(self._last_state):
                try:
                    await self.sync()
                except KafkaException as error:
                    log.warning("%s: state sync failed: %s", self.agent_id, error)

    async def _publish(self, kind: str | None, state: AgentState | None) -> int:
        """Produces one event (a tombstone when ``kind`` is None); the offset once acknowledged."""
        headers: list[tuple[str, bytes]] = []
        key, value = self.agent_id.encode(), None
        if kind is not None:
            assert state is not None
            data: dict[str, Any] = {"card": self.card.to_json(), "state": state.to_json()}
            if self.incarnation is not None:
                claim = {"successor": self.incarnation.successor}
                if kind == REGISTER and self._takeover is not None:
                    claim["takeover"] = self._takeover
                data["incarnation"] = claim
            event = {
                "specversion": "1.0",
                "id": uuid.uuid4().hex,
                "source": f"a2a://agents/{self.agent_id}",
                "type": kind,
                "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "datacontenttype": "application/json",
                "protocol": "A2A",
                "sourceagent": self.agent_id,
                "instanceid": self.instance_id,
                "partitionkey": self.agent_id,
                "data": data,
            }
            raw_key, headers, value = to_kafka(event)
            key = raw_key if isinstance(raw_key, bytes) else self.agent_id.encode()
        # One event at a time, in the order the states were sampled (waiters queue in order): the heartbeat and
        # state-sync tasks send from threads of their own, and an older state sent last by a busier thread would
        # stay the agent's state in every directory (an ERROR kept it out of routing) until its next change.
        async with self._sending:
            if self._shared is not None:
                try:
                    async with asyncio.timeout(self.patience):
                        return await self._shared.send_and_wait(self.directory.topic, key, headers, value)
                except TimeoutError:
                    raise KafkaException(
                        KafkaError(
                            KafkaError._TIMED_OUT, f"no acknowledgement from {self.directory.topic} in {self.patience}s"
                        )
                    ) from None
            producer = self._producer
            assert producer is not None, "presence not started"
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                None, partial(_produce_and_wait, producer, self.directory.topic, key, headers, value, self.patience)
            )

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await asyncio.get_running_loop().run_in_executor(None, producer.flush, 5.0)

    def _count(self, operation: str, ok: bool = True, started: float | None = None) -> None:
        if self.metrics is not None:
            elapsed = 0.0 if started is None else time.perf_counter() - started
            self.metrics.record(PROTOCOL, operation, elapsed, ok)


def _produce_and_wait(
    producer: ProducerClient, topic: str, key: bytes, headers: Any, value: bytes | None, patience: float
) -> int:
    outcome: list[Any] = []
    producer.produce(
        topic, value, key, headers=headers, on_delivery=lambda error, message: outcome.append((error, message))
    )
    producer.flush(patience)
    if not outcome:
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"no acknowledgement from {topic} in {patience}s"))
    error, message = outcome[0]
    if error is not None:
        raise KafkaException(error)
    return int(message.offset())


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()
