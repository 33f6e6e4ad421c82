"""The agent runtime: one :class:`Agent` = one Kafka consumer, one idempotent producer, one asyncio loop.

Subclasses (:mod:`~a2a_fast.agents.requester`, :mod:`~a2a_fast.agents.provider`, :mod:`~a2a_fast.agents.executor`) say
which topics they read, which consumer group they join and how they :meth:`Agent.handle` one decoded message;
the runtime does the rest:

* **Never blocking the loop.** The consumer is confined to one worker thread: ``consume``, ``commit``,
  ``pause`` and ``close`` run there, and so do the rebalance callbacks. The producer's ``produce`` never
  waits; the loop serves its delivery reports in batches, polling the client without waiting (``poll(0)``)
  every millisecond while records are out. Registry look-ups and admin calls run in the loop's default executor.
* **At-least-once with no second effect.** Records are consumed in batches (``consume(num_messages,
  timeout)``) and decoded a batch at a time (:meth:`Envelope.decode_many`); an offset is committed only
  once its record and every earlier one of the partition were handled (:class:`OffsetTracker`). A record
  counts as handled once its handler returned *and* the broker acknowledged (``acks=all``, idempotent
  producer) every record published while handling it: the handler itself does not wait for those
  acknowledgements (:meth:`Agent.publish`), the runtime counts them per record from the delivery reports.
  If one is not delivered, the record goes to the dead-letter topic (stage ``produce``) instead. A
  redelivered record whose ``ce_id`` was already handled is dropped by a bounded LRU (:class:`DedupeCache`).
* **Order per task.** Records with the same key (the task id) are handled one after the other; records
  of different tasks concurrently. A handler is first run directly on the loop; only if it suspends
  (awaits something not ready yet) does a Task finish it, and later records of its key queue behind it.
  A role may give some messages a lane of their own (:meth:`Agent.lane`): they are handled beside a handler of
  their key still running, which is how a cancel reaches the task it cancels.
  Each handler runs in its own copy of the context (:mod:`contextvars`).
* **Back-pressure.** At most ``max_in_flight`` records are being handled (from dispatch until handled as
  above); when that many are, the consumer pauses its partitions (it keeps serving the group) and resumes
  when work completes.
* **Dead letters.** A record that cannot be decoded or validated, whose handler raises, or one of whose
  outputs is not delivered goes to the dead-letter topic with its key, value and headers plus ``dlq.*``
  headers giving the reason, the error class, the stage, and the original topic, partition and offset.
  It counts as handled once the dead letter is acknowledged; if that fails it stays uncommitted and comes
  back after a restart. The agent carries on.
* **Signatures.** With a signing key (:attr:`AgentConfig.signing`, else the transport's) every record the agent
  produces is signed; with trusted keys every consumed batch is checked after decoding
  (:meth:`~a2a_fast.protocol.signing.RecordSigning.check`), and a record that proves nothing, or that its signer's
  role may not send, is dead-lettered (stage ``authorization``) instead of handled. The agent's own key must be
  trusted for its id and role, or it does not start.
* **Rebalances.** Before partitions are taken away the agent finishes what it is handling (outputs
  acknowledged) and commits, so another member never starts the same work while this one still runs it.
  Partitions *lost* rather than taken away (the agent's group session ran out, as it does for every member when
  the broker restarts: the group may already have given them to another member) are not drained: the handlers
  still running are cancelled and records waiting are dropped, uncommitted, for whoever has the partitions now;
  only outputs already produced are waited for (up to half ``drain_timeout``), so that they are in the log before
  the agent rejoins.
* **Transactions** (:attr:`AgentConfig.transactional`, ``--transactional``, or ``transactions.enabled`` in the
  config file). The producer writes in Kafka transactions (``transactional.id`` ``<group>.<agent id>``: a
  restarted agent's producer takes the id over, which fences the dead incarnation and aborts its open
  transaction at once) and the consumer reads ``read_committed``. Instead of committing offsets itself, the
  agent commits a transaction every ``commit_interval``, holding the outputs produced since the last one and
  the offsets that became committable, so readers see a handled record's outputs together with its offset, or
  neither: a crash between deciding and producing, or between producing and committing, can neither lose nor
  double an output (the provider's award). While a transaction commits, records produced wait for the next
  one. Roles whose handlers are short (:attr:`Agent.transactions_wait_for_handlers`: providers, requesters)
  have each commit wait, up to ``transactions.wait_seconds``, until every record with outputs in the
  transaction is handled and its offset goes with them; roles that run long handlers (executors) commit on
  time, so a task's progress shows while it runs, and its outcome goes with its offset unless an earlier
  task of the partition still runs (the executor then tells a finished task from the log, read committed, when
  the ACCEPTED comes again). A transaction that cannot be committed (aborted, the producer fenced, the commit
  timed out) does not stop the agent: it starts over from its last commit, as a restarted process would (the work
  in flight given up, a new producer for its ``transactional.id``, its partitions read again from their committed
  offsets). A role may write a record outside its transactions, acknowledged before it acts
  (:meth:`Agent.publish_marker`: an executor's "started" record), so that no abort takes it back.
* **Mesh.** The protocol limits (:class:`~a2a_fast.config.ProtocolConfig`, from ``AgentConfig.protocol``
  or ``$A2A_FAST_CONFIG``) are loaded at start: a message too large or older than its ttl is dead-lettered
  (stage ``limits``). The agent registers in the mesh's directory before it joins its consumer group (a
  refused duplicate never takes partitions), heartbeats and syncs its state while it runs, and deregisters
  first thing on stop (:mod:`a2a_fast.mesh.member`). A process restarted on the same host takes its dead
  predecessor's claim over at once (:class:`~a2a_fast.mesh.directory.Incarnation`, in ``AgentConfig.state_dir``).
* **Shutdown** (:meth:`Agent.stop`, also on SIGTERM/SIGINT through :func:`serve`), in this order:
  leave the mesh → stop intake → drain in-flight work → flush the producer → commit offsets → close the consumer,
  producer, registry client and HTTP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import gc
import hashlib
import logging
import os
import signal
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar, cast

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from a2a_fast._native import __version__
from a2a_fast.config import ProtocolConfig, load_config
from a2a_fast.errors import (
    AuthorizationError,
    ConfigError,
    DecodeError,
    LimitError,
    MessageExpiredError,
    SchemaError,
    ServiceUnavailableError,
    ValidationError,
)
from a2a_fast.mesh.directory import AgentCard, AgentState
from a2a_fast.mesh.member import MeshMember
from a2a_fast.observability.http import MonitoringServer, http_token, json_response
from a2a_fast.observability.logs import bind_ids, log_context
from a2a_fast.observability.metrics import MetricsRegistry, Series
from a2a_fast.observability.protocol_metrics import NAMESPACE as PROTOCOL_NAMESPACE
from a2a_fast.observability.protocol_metrics import ProtocolMetrics
from a2a_fast.observability.tracing import adopt_child, recording, span
from a2a_fast.protocol.envelope import TARGET_GROUP_HEADER, Envelope, Inbound, KafkaRecord, header_text
from a2a_fast.protocol.limits import MessageLimits
from a2a_fast.protocol.signing import RecordSigning
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.redaction import redact
from a2a_fast.transport.admin import ensure_topics
from a2a_fast.transport.base import Transport
from a2a_fast.transport.consumer import GroupConsumer
from a2a_fast.transport.kafka import KafkaTransport
from a2a_fast.transport.offsets import DedupeCache, OffsetTracker
from a2a_fast.transport.producer import DeliveryBatch, Producer
from a2a_fast.transport.registry import SchemaCatalog

__all__ = [
    "STATE_DIR_ENV",
    "Agent",
    "AgentConfig",
    "default_state_dir",
    "finish_eagerly_started",
    "pool_group",
    "run_eagerly",
    "serve",
    "start_eagerly",
]

log = logging.getLogger("a2a_fast.agent")

_SLOW_COMMIT_SECONDS = 5.0
"""A transaction's commit taking longer than this is logged (with how long it waited for handlers)."""
_RETRY_FIRST_SECONDS = 1.0
_RETRY_MAX_SECONDS = 10.0
"""Back-off of an agent waiting for its broker and registry (``wait_for_services``): doubling up to this."""


T = TypeVar("T")

STATE_DIR_ENV: Final = "A2A_FAST_STATE_DIR"


def default_state_dir() -> Path:
    """Where an agent keeps what outlives its process (its incarnation files): ``$A2A_FAST_STATE_DIR``, else
    ``$XDG_STATE_HOME/a2a-fast``, else ``~/.local/state/a2a-fast``."""
    given = os.environ.get(STATE_DIR_ENV)
    if given:
        return Path(given)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "a2a-fast"


@dataclass
class AgentConfig:
    """How one agent connects and behaves. Only ``agent_id``, ``kafka`` and ``schema_registry`` are required.

    ``http_port`` None disables monitoring, 0 picks a free port. ``schemas`` overrides the Avro schema
    text per message kind (used to run an agent built against another schema version). ``protocol`` None
    loads the protocol config at start (:func:`a2a_fast.config.load_config`); ``join_mesh`` False keeps
    the agent out of the directory.
    ``gc_threshold`` is the garbage collector's first-generation threshold :meth:`Agent.start` raises
    the process's to (None leaves it): records make many short-lived objects and almost no cycles, so
    the default of 700 allocations would run the collector every few records.
    ``dedupe_size``: how many ids (``ce_id``) of handled records the agent remembers, to drop a record delivered
    again (:class:`~a2a_fast.transport.offsets.DedupeCache`); 0 remembers none, which turns the dedupe off.
    ``wait_for_services``: while the broker or the registry does not answer, :meth:`Agent.start` keeps trying
    with back-off, logging a warning per attempt that names the setting and the address (as ``a2a-fast
    agent`` does); False raises :class:`~a2a_fast.errors.ServiceUnavailableError` within seconds instead.
    """

    agent_id: str
    kafka: str
    schema_registry: str
    topics: TopicNames = field(default_factory=TopicNames)
    group_id: str | None = None
    http_port: int | None = None
    http_host: str = "127.0.0.1"
    max_in_flight: int | None = None
    batch_size: int = 500
    poll_timeout: float = 0.05
    commit_interval: float = 0.1
    dedupe_size: int = 100_000
    drain_timeout: float = 30.0
    session_timeout_ms: int = 6000
    linger_ms: int = 1
    partitions: int | None = None
    schemas: Mapping[str, str] | None = None
    compatibility: str = "BACKWARD"
    gc_threshold: int | None = 50_000
    consumer_config: Mapping[str, Any] = field(default_factory=dict)
    producer_config: Mapping[str, Any] = field(default_factory=dict)
    protocol: ProtocolConfig | None = None
    join_mesh: bool = True
    metadata_refresh_ms: int = 10_000
    transport: Transport | None = None
    wait_for_services: bool = False
    signing: RecordSigning | None = None
    """How this agent signs and checks records; None: the transport's (:attr:`Transport.signing`)."""
    transactional: bool | None = None
    """Write in Kafka transactions (the module docstring's **Transactions**); None: ``transactions.enabled``
    of the protocol config."""
    http_token: str | None = field(default_factory=http_token, repr=False)
    """The bearer token ``/status`` and ``/metrics`` require (``/health`` stays open); default
    ``$A2A_FAST_HTTP_TOKEN``, None: open."""
    http_port_fallback: bool = False
    """When ``http_port`` is taken, listen on any free port instead (and say so in the log): what ``a2a-fast agent``
    does with its role's default port, so a second replica on one host starts. False: the start fails with a
    :class:`~a2a_fast.errors.ConfigError` naming the address."""
    static_membership: bool = False
    """With ``join_mesh``, the agent id is the consumer's ``group.instance.id`` (Kafka static membership): a
    restarted process takes its dead predecessor's place in the group at once, with no rebalance, instead of
    waiting for that member's session to time out. A member that stops for good leaves its partitions to the
    others after ``session_timeout_ms`` (static members do not leave the group on close). Off by default:
    librdkafka treats a fenced static member as a fatal error, and after a broker restart a member can be fenced
    by its own rejoin, which stops the agent's consumer."""
    state_dir: Path | None = field(default_factory=default_state_dir)
    """Where the agent keeps its incarnation file (:class:`~a2a_fast.mesh.directory.Incarnation`), so that a
    restart on this host takes its dead predecessor's claim on the id over at once; None: a restart waits
    the old claim out (``heartbeat.timeout_seconds``)."""

    def connect(self) -> Transport:
        """The transport to the broker and registry: the one given, else Kafka at ``kafka``/``schema_registry``
        with this process's security settings (:meth:`KafkaTransport.from_env`)."""
        return self.transport or KafkaTransport.from_env(self.kafka, self.schema_registry)


def pool_group(prefix: str, role: str, capabilities: Iterable[str]) -> str:
    """The consumer group of a pool of agents of one ``role`` offering the same ``capabilities``, e.g.
    ``providers.summarize+translate``: agents with the same skills share the work addressed to the pool;
    agents with other skills are another pool, so nothing reaches an agent that cannot take it."""
    names = sorted({capability.strip().lower() for capability in capabilities})
    signature = "+".join(names) or "none"
    if len(signature) > 120:
        signature = f"{signature[:80]}~{hashlib.sha256(signature.encode()).hexdigest()[:16]}"
    return f"{prefix}{role}s.{signature}"


DEFAULT_MAX_IN_FLIGHT: Final = 256
ASIDE_PATIENCE: Final = 5.0
"""Seconds a stepping-aside agent lets work in flight finish before it cancels it (and gives it back)."""

_STAGES: tuple[tuple[type[BaseException], str], ...] = (
    (AuthorizationError, "authorization"),
    (DecodeError, "decode"),
    (ValidationError, "validation"),
    (SchemaError, "validation"),
    (LimitError, "limits"),
)


class Agent:
    """Base class of every agent role; see the module docstring for what the runtime guarantees.

    Subclasses set ``role`` and ``default_group`` and implement :meth:`subscriptions` and :meth:`handle`;
    they may override :meth:`on_start` (rebuild state before consuming), :meth:`on_partitions_assigned`
    (runs in the consumer thread), :meth:`task_counts` and :meth:`extra_status`.

    Use it as ``async with agent: ...`` or :meth:`start` / :meth:`stop`.
    """

    role: ClassVar[str] = "agent"
    transactions_wait_for_handlers: ClassVar[bool] = True
    """In transactions, whether a commit waits for the records whose outputs it holds to be handled, so each
    record's outputs and offset commit together (short handlers); False commits on time (long handlers)."""
    marks_outside_transactions: ClassVar[bool] = False
    """In transactions, whether the agent has a second, non-transactional producer for the records that must be in the
    log before it acts, whatever becomes of its open transaction (:meth:`publish_marker`)."""
    reads_directory: ClassVar[bool] = False
    """Whether the agent needs the mesh's directory and router even when it is not listed in it
    (``join_mesh`` False): the roles that choose where their messages go."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.agent_id = config.agent_id
        self.topics = config.topics
        self.group_id = config.group_id or self.default_group()
        self.metrics = MetricsRegistry()
        self.metrics.describe("messages_consumed_total", "Records consumed, by topic and CloudEvent type.")
        self.metrics.describe("messages_produced_total", "Records produced and acknowledged, by topic and type.")
        self.metrics.describe("errors_total", "Records that failed, by stage and error class.")
        self.metrics.describe("dead_letters_total", "Records sent to the dead-letter topic, by original topic.")
        self.metrics.describe("duplicates_total", "Redelivered records dropped by message-id dedupe.")
        self.metrics.describe("handling_seconds", "Time from dispatch to handled, by CloudEvent type.")
        self.metrics.describe("negotiation_rounds", "Negotiation rounds of finished negotiations.")
        self.latency = self.metrics.summaries("a2a_handling")
        """Native lock-free handling-latency histograms per ("a2a", CloudEvent type): p50/p99 in /metrics."""
        self.protocol = config.protocol or ProtocolConfig()
        self.protocol_metrics = ProtocolMetrics(self.metrics.summaries(PROTOCOL_NAMESPACE))
        """Protocol operations (mesh: register, heartbeat, route...; a2a: negotiate, execute...) for /metrics."""
        self.mesh: MeshMember | None = None
        self.catalog: SchemaCatalog | None = None
        self._owns_catalog = True
        self.envelope: Envelope | None = None
        self.dedupe = DedupeCache(config.dedupe_size)
        self.http_port: int | None = None
        self.transport = config.connect()
        self.signing = config.signing or self.transport.signing
        """Signs what this agent produces and checks what it reads (:mod:`a2a_fast.protocol.signing`)."""
        self._signer = self.signing.signer if self.signing is not None else None
        self.consumer: GroupConsumer | None = None
        self.producer: Producer | None = None
        self.transactional = False
        """Whether this agent writes in transactions (decided at :meth:`start`)."""
        self.transactions = 0
        """Transactions committed."""
        self._in_transaction: set[_Work] = set()
        self._transaction_dirty = False
        self._transaction_lock = asyncio.Lock()
        self._transaction_task: asyncio.Task[None] | None = None
        self._broken: KafkaException | None = None
        """Why the open transaction could not be committed, until the agent has started over (:meth:`_start_over`)."""
        self._broken_works: set[_Work] = set()
        self.starts_over = 0
        """Times the agent started over from its last commit after a transaction was aborted."""
        self._marks: Producer | None = None
        self._producer_settings: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lanes: dict[bytes | None, deque[_Work]] = {}
        self._handling: set[asyncio.Future[None]] = set()
        self._in_flight = 0
        self._capacity = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._cancelling = False
        self._timings: dict[tuple[str, bool], list[float]] = {}
        """Handling times not yet recorded, by (CloudEvent type, handled): recorded once per batch."""
        self._series: dict[str, Series] = {}
        self._stop_intake = False
        self._intake_task: asyncio.Task[None] | None = None
        self._aside_task: asyncio.Task[None] | None = None
        self.aside: tuple[str, float] | None = None
        """While the agent steps out of its group (:meth:`step_aside`): why, and until when (epoch seconds)."""
        self._server: MonitoringServer | None = None
        self._broker_error: str | None = None
        self._registry_down_since: float | None = None
        self._schema_retries = 0
        self._parked: list[Message] = []
        """Records waiting for their writer schemas while the registry does not answer, in the order read."""
        self._parked_keys: set[bytes | None] = set()
        self._started_at = 0.0
        self._running = False
        self.failure: BaseException | None = None
        self.failed = asyncio.Event()
        self._own_lanes = type(self).lane is not Agent.lane
        self._own_admits = type(self).admits is not Agent.admits
        self.observers: list[Callable[[str, Inbound | None], None]] = []
        """Called on the loop once a record counts as handled (its offset may be committed), with
        ``("handled" | "duplicate" | "dead_letter", message)`` (message None when it could not be decoded):
        a hook for tests and instrumentation."""

    # --- what subclasses provide ------------------------------------------------------------------

    def default_group(self) -> str:
        """The consumer group when ``config.group_id`` names none."""
        # The topic prefix namespaces the group too: meshes sharing a broker must not rebalance each other.
        return f"{self.topics.prefix}{self.role}s"

    def subscriptions(self) -> list[str]:
        """The topics this agent reads."""
        raise NotImplementedError

    async def handle(self, message: Inbound) -> None:
        """Handles one decoded message; raising sends the record to the dead-letter topic."""
        raise NotImplementedError

    async def on_start(self) -> None:
        """Runs after the schemas are registered and before the first record is consumed."""

    def on_partitions_assigned(self, partitions: list[TopicPartition]) -> None:
        """Runs in the consumer thread when partitions are assigned, before their records are handled."""

    def on_rewind(self) -> None:
        """Runs in the consumer thread when the agent starts over from its last commit (a transaction of its was
        aborted), before :meth:`on_partitions_assigned` runs again for its partitions and their records are read
        again from their committed offsets: forget what was learned from records handled since."""

    def addressed(self, headers: Any) -> str | bool:
        """Whether a consumed record (by its headers, before decoding) is for this agent: False skips it
        unread; True or the record's target group (``ce_targetgroup``) hands it on. By default a record
        addressed to another consumer group is skipped and every other record is read."""
        group = header_text(headers, TARGET_GROUP_HEADER)
        if group is None:
            return True
        return group if group == self.group_id else False

    def lane(self, message: Inbound, key: bytes | None) -> bytes | None:
        """The lane a decoded record is handled in: the records of one lane are handled one after the other,
        in order. By default its key (the task id), so the messages of one task never overtake each other; a
        role that must act on a task while an earlier record of it is still being handled (a cancel while
        the task runs) gives those records a lane of their own."""
        return key

    def handling(self) -> Message | None:
        """The consumed record whose handler is running (for its headers), None outside a handler."""
        work = _HANDLING.get()
        return work.message if work is not None and work.agent is self else None

    def admits(self, message: Inbound) -> bool:
        """Whether the agent takes ``message`` now (True by default). False holds its partition back at it:
        neither it nor the records after it in that partition are handled, and they are read again once the
        agent calls :meth:`admit_more`. Records of other partitions flow on."""
        return True

    def admit_more(self) -> None:
        """Partitions held back by :meth:`admits` are read again (from the record that was not taken)."""
        if self.consumer is not None:
            self.consumer.let_go()

    def expires(self, message: Inbound) -> bool:
        """Whether the ttl applies to ``message`` for this agent: True when it would act on it (by default,
        on everything it reads). An expired message the agent would act on goes to the dead letters."""
        return True

    def consume_from(self) -> float | None:
        """Where a partition with no committed offset of this agent's group starts: None for the start of
        the log, or a time (epoch seconds) to start at the first record at or after it."""
        return None

    def task_counts(self) -> dict[str, int]:
        """Tasks known to this agent, by state, for ``/status`` and ``/metrics``."""
        return {}

    def extra_status(self) -> dict[str, Any]:
        """Role-specific fields added to ``/status``."""
        return {}

    def capabilities(self) -> list[str]:
        """What this agent offers, for its card in the mesh's directory."""
        return []

    def mesh_state(self) -> AgentState:
        """This agent's activity for STATE_SYNC (sampled a few times per heartbeat interval): ERROR while it
        failed or steps aside (routers then leave it out), else BUSY or IDLE."""
        trouble = self.failure is not None or self.aside is not None
        status = "ERROR" if trouble else "BUSY" if self._in_flight else "IDLE"
        return AgentState(status=status, load=self._in_flight)

    def card(self) -> AgentCard:
        """How this agent describes itself in the mesh's directory."""
        endpoints = {} if self.http_port is None else {"http": f"http://{self.config.http_host}:{self.http_port}"}
        resources: dict[str, Any] = {"max_in_flight": self.max_in_flight, "group": self.group_id}
        if self.signing is not None and self.signing.signer is not None:
            resources["signing_key"] = self.signing.signer.key_id
        return AgentCard(self.agent_id, self.role, __version__, tuple(self.capabilities()), endpoints, resources)

    # --- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, catalog: SchemaCatalog | None = None) -> None:
        """Creates missing topics, registers the schemas, connects, rebuilds state and starts consuming.

        ``catalog``: one another agent of this process already prepared with the same config (topics created,
        schemas registered), to skip doing that again; closing it stays with whoever prepared it."""
        if self._running:
            return
        self._loop = loop = asyncio.get_running_loop()
        self._started_at = time.time()
        self.protocol = self.config.protocol or load_config()
        if self.signing is not None:
            self.signing.check_identity(self.agent_id, self.role)
        self._owns_catalog = catalog is None
        if catalog is None:
            catalog = await self._prepare_when_reachable()
        self.catalog = catalog
        self.envelope = Envelope(catalog, self.topics, self.agent_id, MessageLimits(self.protocol.messages))
        transactional = self.config.transactional
        self.transactional = self.protocol.transactions.enabled if transactional is None else transactional
        settings: dict[str, Any] = {"error_cb": self._on_broker_error}
        if self.transactional:
            settings["transactional.id"] = self.transactional_id()
            settings["transaction.timeout.ms"] = self.protocol.transactions.timeout_ms
        self._producer_settings = {**settings, **self.produce_settings(), **self.config.producer_config}
        self.producer = Producer(
            self.transport, self.agent_id, self._resolve_deliveries, self._producer_settings, self.config.linger_ms
        )
        self.producer.start()
        self._running = True
        try:
            if self.transactional:
                await self.producer.begin_transactions(self.protocol.transactions.timeout_ms / 1000)
                if self.marks_outside_transactions:
                    self._marks = Producer(
                        self.transport,
                        f"{self.agent_id}-marks",
                        lambda _batch: None,  # only send_and_wait: its reports resolve their own futures
                        {"error_cb": self._on_broker_error, **self.produce_settings(), **_outside(self.config)},
                        linger_ms=0,
                    )
                    self._marks.start()
            await self.on_start()
            if self.config.http_port is not None:
                self._server = MonitoringServer(
                    {"/health": self._health, "/status": self._status, "/metrics": self._metrics},
                    self.config.http_host,
                    self.config.http_port,
                    token=self.config.http_token,
                    open_paths=("/health",),
                )
                self.http_port = await self._start_monitoring(self._server)
            if self.config.join_mesh or self.reads_directory:
                mesh = MeshMember(
                    self.transport,
                    self.topics,
                    self.card(),
                    self.mesh_state,
                    self.protocol,
                    self.protocol_metrics,
                    announce=self.config.join_mesh,
                    state_dir=self.config.state_dir,
                )
                await mesh.start()
                self.mesh = mesh
            # The group is joined once the id is this agent's: a refused second process never takes partitions
            # from the group, and one still waiting for its claim holds none back from live members.
            self.consumer = self._group_member()
            await self.consumer.start()
        except (Exception, asyncio.CancelledError):  # a coroutine closed unfinished cannot await its clean-up
            await self.stop()
            raise
        if self.config.gc_threshold is not None:
            first, second, third = gc.get_threshold()
            gc.set_threshold(max(first, self.config.gc_threshold), second, third)
        self._capacity.set()
        self._intake_task = loop.create_task(self._intake(), name=f"{self.agent_id}-intake")
        self._intake_task.add_done_callback(self._background_done)
        if self.transactional:
            self._transaction_task = loop.create_task(self._transactions(), name=f"{self.agent_id}-transactions")
            self._transaction_task.add_done_callback(self._background_done)

    def transactional_id(self) -> str:
        """The producer's ``transactional.id``: the agent's own, in its group, so that a restarted process of the
        agent fences the one before it."""
        return f"{self.group_id}.{self.agent_id}"

    @property
    def is_running(self) -> bool:
        """Between :meth:`start` and :meth:`stop`."""
        return self._running

    def _group_member(self) -> GroupConsumer:
        return GroupConsumer(
            self.transport,
            self.agent_id,
            self.group_id,
            self.subscriptions(),
            assigned=self.on_partitions_assigned,
            release=self._release,
            lose=self._give_up,
            start_at=self.consume_from(),
            session_timeout_ms=self.config.session_timeout_ms,
            metadata_refresh_ms=self.config.metadata_refresh_ms,
            commit_interval=self.config.commit_interval,
            release_timeout=self.config.drain_timeout + 5,
            config={
                "error_cb": self._on_broker_error,
                **({"isolation.level": "read_committed"} if self.transactional else {}),
                **self._membership(),
                **self.fetch_settings(),
                **self.config.consumer_config,
            },
            commits=not self.transactional,
        )

    def _membership(self) -> dict[str, Any]:
        # Only an agent whose id the directory vouches for is a static member: two live processes with one
        # group.instance.id would fence each other.
        if self.config.static_membership and self.config.join_mesh:
            return {"group.instance.id": self.agent_id}
        return {}

    def fetch_settings(self) -> dict[str, Any]:
        """librdkafka properties of this role's fetching (how much it reads ahead), before ``consumer_config``."""
        return {}

    def produce_settings(self) -> dict[str, Any]:
        """librdkafka properties of this role's producing (how it batches), before ``producer_config``."""
        return {}

    @property
    def max_in_flight(self) -> int:
        """How many records may be in handling at once before the consumer pauses its partitions."""
        return self.config.max_in_flight or DEFAULT_MAX_IN_FLIGHT

    async def step_aside(self, seconds: float, reason: str) -> None:
        """Leaves the consumer group for ``seconds`` so the other members take this agent's partitions, then
        joins again. Intake stops; what is in flight is finished, or after a short patience cancelled (its
        records stay uncommitted and go to the partitions' next owner); the agent stays in the mesh meanwhile
        (its :meth:`mesh_state` says why it reads nothing)."""
        if self.consumer is None or self.aside is not None or not self._running:
            return
        self.aside = (reason, time.time() + seconds)
        log.warning("%s: stepping aside for %gs: %s", self.agent_id, seconds, reason)
        try:
            self._stop_intake = True
            if self._intake_task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._intake_task
            await self._drain(ASIDE_PATIENCE)
            if self.transactional:
                await self._commit_transaction()
            consumer, self.consumer = self.consumer, None
            await consumer.close()
            await asyncio.sleep(seconds)
            if not self.is_running:
                return
            self.consumer = self._group_member()
            await self.consumer.start()
            self._stop_intake = False
            self._intake_task = asyncio.get_running_loop().create_task(self._intake(), name=f"{self.agent_id}-intake")
            self._intake_task.add_done_callback(self._background_done)
            log.info("%s: back in group %s after stepping aside", self.agent_id, self.group_id)
        finally:
            self.aside = None

    async def wait_assigned(self) -> None:
        """Returns once the consumer group has given this agent its first assignment."""
        assert self.consumer is not None, "agent not started"
        await self.consumer.assigned_once.wait()

    async def _start_monitoring(self, server: MonitoringServer) -> int:
        try:
            return await server.start()
        except OSError as error:
            address = f"{self.config.http_host}:{self.config.http_port}"
            why = os.strerror(error.errno) if error.errno else str(error)
            if not self.config.http_port_fallback or self.config.http_port == 0:
                raise ConfigError(
                    f"http_port: cannot listen on {address} ({why}); give another port (--http-port N, 0 for any "
                    f"free one, -1 for none)"
                ) from None
            server.port = 0
            port = await server.start()
            log.warning(
                "%s: monitoring port %s is taken; listening on %s:%s instead",
                self.agent_id,
                address,
                self.config.http_host,
                port,
            )
            return port

    async def stop(self) -> None:
        """Stops in the documented order: intake, drain, flush, commit, close. Safe to call twice."""
        if not self._running:
            return
        self._running = False
        if self._aside_task is not None:
            self._aside_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._aside_task
        if self.mesh is not None:
            await self.mesh.stop()
            self.mesh = None
        self._stop_intake = True
        if self._intake_task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._intake_task
        await self._drain(self.config.drain_timeout)
        if self._transaction_task is not None:
            self._transaction_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._transaction_task
            self._transaction_task = None
        if self.transactional and self.failure is None and self._broken is None:
            try:
                await self._commit_transaction()
            except KafkaException as error:
                log.error("%s: the last transaction was not committed: %s", self.agent_id, error)
        if self.producer is not None:
            # the last reports are applied before the commit, so their records count as handled
            await self.producer.close(self.config.drain_timeout)
            self.producer = None
        if self._marks is not None:
            await self._marks.close(self.config.drain_timeout)
            self._marks = None
        if self.consumer is not None:
            await self.consumer.close()
            self.consumer = None
        if self._server is not None:
            await self._server.close()
        if self.catalog is not None and self._owns_catalog:
            self.catalog.close()

    def _background_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("%s: background task %s failed: %r", self.agent_id, task.get_name(), error)
            self.failure = error
            self._stop_intake = True
            self.failed.set()

    # --- setup ------------------------------------------------------------------------------------

    def _prepare(self) -> SchemaCatalog:
        self.transport.check_reachable()  # a service that is down fails here in seconds, saying which
        ensure_topics(
            self.transport,
            self.topics.all(),
            partitions=self.config.partitions or self.protocol.topics.partitions,
            replication_factor=self.protocol.topics.replication_factor,
        )
        catalog = SchemaCatalog(self.transport, self.topics, self.config.schemas, self.config.compatibility)
        try:
            catalog.register()
        except BaseException:
            catalog.close()
            raise
        return catalog

    async def _prepare_when_reachable(self) -> SchemaCatalog:
        """:meth:`_prepare` off the loop; with ``wait_for_services``, tried again while a service is down."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                catalog = await loop.run_in_executor(None, self._prepare)
            except ServiceUnavailableError as error:
                if not self.config.wait_for_services:
                    raise
                attempt += 1
                delay = min(_RETRY_MAX_SECONDS, _RETRY_FIRST_SECONDS * 2 ** min(attempt - 1, 10))
                log.warning("%s: %s; trying again in %gs (attempt %d)", self.agent_id, error, delay, attempt)
                await asyncio.sleep(delay)
                continue
            if attempt:
                log.warning("%s: the broker and the registry answer, after %d failed attempts", self.agent_id, attempt)
            return catalog

    # --- consuming --------------------------------------------------------------------------------

    async def _intake(self) -> None:
        consumer = self.consumer
        assert consumer is not None and self.catalog is not None
        loop = asyncio.get_running_loop()
        batch_size, timeout = self.config.batch_size, self.config.poll_timeout
        while not self._stop_intake:
            free = self.max_in_flight - self._in_flight
            if free <= 0:
                await consumer.pause()
                self._capacity.clear()
                # a paused member fetches nothing but keeps its membership alive
                messages = await consumer.fetch(1, 0)
                if not messages:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._capacity.wait(), 0.5)
                    continue
            else:
                if consumer.paused:
                    await consumer.resume()
                messages = await consumer.fetch(min(free, batch_size), timeout)
                if not messages:
                    continue
            assert self.envelope is not None
            if self._parked:
                messages = self._park(messages, self.envelope.unknown_schema_ids(messages))
            unknown = self.envelope.unknown_schema_ids(messages)
            if unknown:
                try:
                    await loop.run_in_executor(None, self.catalog.fetch, unknown)
                except ServiceUnavailableError as error:
                    messages = self._wait_for_schemas(messages, unknown, error)
            self._dispatch(messages)

    def _wait_for_schemas(
        self, messages: Sequence[Message], unknown: set[int], error: ServiceUnavailableError
    ) -> list[Message]:
        """The registry does not answer: records whose writer schemas are not cached here are parked (tracked, so
        no offset is committed past them, and never dead-lettered) and so are later records of their keys; the
        rest of the batch goes on with the cached schemas. The parked ones are tried again with back-off."""
        assert self.consumer is not None
        kept = self._park(messages, unknown)
        if self._registry_down_since is None:
            self._registry_down_since = time.monotonic()
            log.warning(
                "%s: %s; records written with schemas not cached here (ids %s) wait, tried again with back-off"
                " (1s doubling to %gs); records with cached schemas go on",
                self.agent_id, error, ", ".join(map(str, sorted(unknown))), _RETRY_MAX_SECONDS,
            )  # fmt: skip
            self._schedule_schema_retry()
        return kept

    def _park(self, messages: Sequence[Message], unknown: set[int]) -> list[Message]:
        assert self.consumer is not None
        kept = []
        for message in messages:
            waits = message.error() is None and (
                message.key() in self._parked_keys or bool(Envelope.schema_ids([message.value()]) & unknown)
            )
            if not waits:
                kept.append(message)
                continue
            where = (message.topic() or "", message.partition() or 0)
            if len(self._parked) >= self.max_in_flight:
                # Enough waiting in memory: this partition waits on the broker from here on.
                if where not in self.consumer.held:
                    self.consumer.hold_back(*where, message.offset() or 0)
                continue
            if where in self.consumer.held:
                continue
            self.consumer.track(*where).add(message.offset() or 0)
            self._parked.append(message)
            self._parked_keys.add(message.key())
        return kept

    def _schedule_schema_retry(self) -> None:
        self._schema_retries += 1
        delay = min(_RETRY_MAX_SECONDS, _RETRY_FIRST_SECONDS * 2 ** min(self._schema_retries - 1, 10))
        assert self._loop is not None
        self._loop.call_later(delay, self._retry_parked)

    def _retry_parked(self) -> None:
        if not self._running or self._loop is None:
            return
        task = self._loop.create_task(self._unpark(), name=f"{self.agent_id}-schemas")
        task.add_done_callback(self._background_done)

    async def _unpark(self) -> None:
        parked = self._parked
        catalog, envelope = self.catalog, self.envelope
        if catalog is None or envelope is None or self.consumer is None:
            return
        unknown = envelope.unknown_schema_ids(parked)
        if unknown:
            try:
                await asyncio.get_running_loop().run_in_executor(None, catalog.fetch, unknown)
            except ServiceUnavailableError:
                self._schedule_schema_retry()
                return
        self._parked, self._parked_keys = [], set()
        self._registry_back()
        for message in parked:  # the placeholders go; dispatching tracks them again, in the same step
            self.consumer.track(message.topic() or "", message.partition() or 0).done(message.offset() or 0)
        self._dispatch(parked)
        self.admit_more()

    def _registry_back(self) -> None:
        if self._registry_down_since is not None:
            log.warning(
                "%s: the schema registry answers again after %.1fs; the records that waited are handled now",
                self.agent_id, time.monotonic() - self._registry_down_since,
            )  # fmt: skip
        self._registry_down_since = None
        self._schema_retries = 0

    def _dispatch(self, messages: Sequence[Message]) -> None:
        """Decodes a consumed batch and hands each record to its handler, in order per key.

        Records addressed to another agent or group are skipped before they are decoded: they are not this
        agent's to handle, check or dead-letter (:meth:`addressed`)."""
        assert self.envelope is not None and self.consumer is not None
        track = self.consumer.track
        records = []
        groups: list[str | None] = []
        skipped: list[Message] = []
        for message in messages:
            error = message.error()
            if error is None:
                target = self.addressed(message.headers())
                if target is not False:
                    records.append(message)
                    groups.append(target if isinstance(target, str) else None)
                    continue
                skipped.append(message)
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("%s: consume error: %s", self.agent_id, error)
                self.metrics.inc("errors_total", stage="consume", error=error.name())
                if error.fatal():
                    raise KafkaException(error)
        if not records:
            self._skip(skipped)
            return
        self._idle.clear()
        self._in_flight += len(records)
        started = time.perf_counter()
        consumed: dict[tuple[str, str], int] = {}
        where: tuple[str, int] | None = None
        tracker = OffsetTracker()
        held_back: set[tuple[str, int]] = set()
        decoded = self.envelope.decode_many(records)
        if self.signing is not None:
            decoded = self.signing.check(records, decoded)
        lanes, own_lanes, admits = self._lanes, self._own_lanes, self._own_admits
        traced = recording()
        for message, inbound, group in zip(records, decoded, groups, strict=True):
            if isinstance(inbound, MessageExpiredError):
                inbound = self._expired(message, inbound)
            if isinstance(inbound, Inbound):
                topic, partition, offset = inbound.topic, inbound.partition, inbound.offset
                inbound.target_group = group
            else:
                topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset() or 0
            if (held_back and (topic, partition) in held_back) or (
                admits and isinstance(inbound, Inbound) and not self.admits(inbound)
            ):
                # Not taken now: the partition is read again from here once the agent admits more.
                if (topic, partition) not in held_back:
                    held_back.add((topic, partition))
                    self.consumer.hold_back(topic, partition, offset)
                self._in_flight -= 1
                continue
            if (topic, partition) != where:
                where = (topic, partition)
                tracker = track(topic, partition)
            tracker.add(offset)
            work = _Work(self, message, tracker, offset, started)
            if isinstance(inbound, ValueError):
                stage = next((name for cls, name in _STAGES if isinstance(inbound, cls)), "decode")
                self._dead_letter(work, inbound, stage)
                work.returned = True
                self._settle_work(work)
                continue
            work.inbound = inbound
            kind = work.kind = inbound.kind
            if own_lanes:
                work.key = self.lane(inbound, work.key)
            labels = (topic, kind)
            consumed[labels] = consumed.get(labels, 0) + 1
            lane = lanes.get(work.key)
            if lane is not None:
                lane.append(work)
            elif self._handle_eagerly(work, traced):
                lanes[work.key] = deque()
        for (topic, kind), count in consumed.items():
            self.metrics.inc("messages_consumed_total", count, topic=topic, type=kind)
        self._skip(skipped)
        self._free_capacity()
        self._flush_timings()

    def _skip(self, skipped: list[Message]) -> None:
        """Skipped records count as handled, but for those at or past a record held back (:meth:`admits`) in their
        partition: they are read again from there, and an offset committed past the held-back record would lose it
        to the partition's next owner."""
        if not skipped:
            return
        assert self.consumer is not None
        held, track = self.consumer.held, self.consumer.track
        where: tuple[str, int] | None = None
        tracker = start = None
        for message in skipped:
            place = (message.topic() or "", message.partition() or 0)
            if place != where:
                where, tracker, start = place, None, held.get(place)
            offset = message.offset() or 0
            if start is not None and offset >= start:
                continue
            if tracker is None:
                tracker = track(*place)
            tracker.skip(offset)
        self.metrics.inc("messages_skipped_total", len(skipped))

    def _expired(self, message: Message, error: MessageExpiredError) -> Inbound | ValueError:
        """An expired record is a dead letter only when this agent would act on it: the ttl bounds delivery,
        and a record that is merely history to this agent (another task's progress, say) is read as such."""
        assert self.envelope is not None
        found = self.envelope.decode_record(message, check_age=False)
        if isinstance(found, Inbound) and self.signing is not None:
            found = self.signing.check_one(message, found) or found
        if isinstance(found, Inbound) and self.expires(found):
            return error
        return found

    def _handle_eagerly(self, work: _Work, traced: bool | None = None) -> bool:
        """Runs the handler of one record until it first suspends; True when it did (a Task finishes it, then
        runs the next record of its lane). ``traced``: :func:`recording`, when the caller asked it already."""
        inbound = work.inbound
        assert inbound is not None and self._loop is not None
        event_id = inbound.event_id
        dedupe = self.dedupe
        if dedupe.holds(event_id) and event_id in dedupe:
            self.metrics.inc("duplicates_total", type=inbound.kind)
            work.outcome = "duplicate"
            work.returned = True
            self._settle_work(work)
            return False
        context = contextvars.copy_context()
        # Without a span to record, the record's own context takes its ids directly (_first_step); the
        # wrapper with its enter and exit is only worth it when OpenTelemetry is recording.
        if traced is None:
            traced = recording()
        handler = self._handle_in_context(inbound) if traced else self.handle(inbound)
        try:
            waiting = context.run(_first_step, work, inbound, handler, not traced)
        except StopIteration:
            dedupe.add(event_id)  # _handler_returned, inline: most handlers return without suspending
            work.outcome = "handled"
            work.returned = True
            if not work.unacked:
                # _complete of a record simply handled, inline; the caller frees capacity once for its batch
                work.open = False
                work.tracker.done(work.offset)
                if self.observers:
                    self._notify("handled", inbound)
                group = self._timings.get((work.kind, True))  # _time, inline
                if group is None:
                    self._timings[(work.kind, True)] = [time.perf_counter() - work.started]
                else:
                    group.append(time.perf_counter() - work.started)
                self._in_flight -= 1
            return False
        except asyncio.CancelledError:
            work.abandoned = work.returned = True
            self._settle_work(work)
            return False
        except Exception as error:
            self._handler_failed(work, error)
            return False
        task = self._loop.create_task(self._handle_rest(work, handler, waiting), context=context)
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)
        return True

    async def _handle_in_context(self, message: Inbound) -> None:
        """:meth:`handle` with the message's ids on every log line and a span continuing its trace, so whatever
        the handler publishes carries a child ``traceparent`` (:func:`~a2a_fast.observability.tracing.continue_trace`).
        """
        attributes = {
            "a2a.agent_id": self.agent_id,
            "a2a.task_id": message.task_id,
            "cloudevents.event_type": message.kind,
            "cloudevents.event_id": message.event_id,
            "messaging.destination.name": message.topic,
        }
        with (
            log_context(agent_id=self.agent_id, task_id=message.task_id, correlation_id=message.collaboration_id),
            span(f"{self.role} {message.kind}", message.traceparent, attributes),
        ):
            await self.handle(message)

    async def _handle_rest(self, work: _Work, handler: Coroutine[Any, Any, None], waiting: Any) -> None:
        """Finishes a handler that suspended, then runs the records queued behind it with the same key."""
        try:
            await _Continue(handler, waiting)
        except asyncio.CancelledError:
            work.abandoned = work.returned = True
            self._settle_work(work)
            raise
        except Exception as error:
            self._handler_failed(work, error)
        else:
            self._handler_returned(work)
        finally:
            self._next_in_lane(work.key)
            self._flush_timings()

    def _next_in_lane(self, key: bytes | None) -> None:
        lane = self._lanes.get(key)
        if lane is None:
            return
        try:
            while lane:
                work = lane.popleft()
                if self._cancelling:
                    work.abandoned = work.returned = True
                    self._settle_work(work)
                elif self._handle_eagerly(work):
                    return
            del self._lanes[key]
        finally:
            self._free_capacity()

    def _handler_returned(self, work: _Work) -> None:
        assert work.inbound is not None
        self.dedupe.add(work.inbound.event_id)
        work.outcome = "handled"
        work.returned = True
        self._settle_work(work)

    def _handler_failed(self, work: _Work, error: Exception) -> None:
        self._dead_letter(work, error, "handle")
        work.returned = True
        self._settle_work(work)

    def _settle_work(self, work: _Work) -> None:
        if work.returned and not work.unacked:
            self._complete(work)

    def _complete(self, work: _Work) -> None:
        """The record's handler returned and each of its outputs was acknowledged or failed."""
        if work.failure is not None and not work.dead_lettered and not work.abandoned:
            # an output was lost: the record goes to the dead letters, as if its handler had raised (a record given
            # up is not: it stays uncommitted and is handled again, its outputs with it)
            error, work.failure = work.failure, None
            if work.inbound is not None:
                self.dedupe.discard(work.inbound.event_id)
            self._dead_letter(work, error, "produce")
            if work.unacked:
                return
        work.open = False
        handled = not work.abandoned and work.dead_letter_error is None
        if work.dead_lettered:
            topic = work.message.topic() or ""
            if work.dead_letter_error is None:
                self.metrics.inc("dead_letters_total", topic=topic)
            else:
                # Left uncommitted: the record comes back after a restart rather than being lost.
                log.error(
                    "%s: dead-lettering %s@%s failed: %s",
                    self.agent_id,
                    topic,
                    work.offset,
                    work.dead_letter_error,
                )
        if handled:
            work.tracker.done(work.offset)
            if self.observers:
                self._notify(work.outcome, work.inbound)
        self._time(work.kind, handled, time.perf_counter() - work.started)
        self._in_flight -= 1
        self._free_capacity()

    def _free_capacity(self) -> None:
        if self._in_flight < self.max_in_flight:
            self._capacity.set()
            if not self._in_flight:
                self._idle.set()

    def _time(self, kind: str, handled: bool, elapsed: float) -> None:
        group = self._timings.get((kind, handled))
        if group is None:
            self._timings[(kind, handled)] = [elapsed]
        else:
            group.append(elapsed)

    def _flush_timings(self) -> None:
        if not self._timings:
            return
        groups, self._timings = self._timings, {}
        by_kind: dict[str, list[float]] = {}
        for (kind, handled), values in groups.items():
            series = self._series.get(kind)
            if series is None:
                series = self._series[kind] = self.latency.series("a2a", kind)
            series.record_many(values, handled)
            by_kind.setdefault(kind, []).extend(values)
        for kind, values in by_kind.items():
            self.metrics.observe_many("handling_seconds", values, type=kind)

    def _notify(self, event: str, message: Inbound | None) -> None:
        for observer in self.observers:
            try:
                observer(event, message)
            except Exception:
                log.exception("%s: observer failed", self.agent_id)

    def _dead_letter(self, work: _Work, error: BaseException, stage: str) -> None:
        """Sends a failed record to the dead-letter topic; it counts as handled once the broker acknowledges
        that (see :meth:`_complete`)."""
        message = work.message
        topic = message.topic() or ""
        reason = redact(str(error) or repr(error))
        log.warning(
            "%s: %s failed for %s[%s]@%s: %s",
            self.agent_id,
            stage,
            topic,
            message.partition(),
            message.offset(),
            reason,
        )
        error_class = f"{type(error).__module__}.{type(error).__qualname__}"
        self.metrics.inc("errors_total", stage=stage, error=type(error).__name__)
        headers = cast(list[tuple[str, bytes]], list(message.headers() or []))
        headers += [
            ("dlq.reason", reason.encode(errors="replace")[:4000]),
            ("dlq.error.class", error_class.encode()),
            ("dlq.stage", stage.encode()),
            ("dlq.original.topic", topic.encode()),
            ("dlq.original.partition", str(message.partition()).encode()),
            ("dlq.original.offset", str(message.offset()).encode()),
            ("dlq.agent", self.agent_id.encode()),
            ("dlq.time", dt.datetime.now(dt.UTC).isoformat().encode()),
        ]
        if stage == "handle":
            trace = "".join(traceback.format_exception(error)[-3:])
            headers.append(("dlq.traceback", trace.encode(errors="replace")[:4000]))
        work.dead_lettered = True
        work.outcome = "dead_letter"
        key, value = message.key(), message.value() or b""
        try:
            self._send_output(work, self.topics.dlq, key, headers, value, _DEAD_LETTER)
        except BufferError:
            work.unacked += 1
            retry = asyncio.ensure_future(self._send_dead_letter_later(work, self.topics.dlq, key, headers, value))
            self._handling.add(retry)
            retry.add_done_callback(self._handling.discard)
        except KafkaException as produce_error:
            work.dead_letter_error = produce_error

    async def _release(self) -> None:
        """Before partitions go to another member: finish what is in flight (outputs acknowledged), and in
        transactions commit them with their offsets. Records parked for their schemas are let go: uncommitted,
        they go to the partitions' next owner."""
        self._parked, self._parked_keys = [], set()
        await self._drain(self.config.drain_timeout)
        if self.transactional:
            await self._commit_transaction()

    async def _give_up(self) -> None:
        """The partitions were lost (see **Rebalances**): the handlers running are cancelled, not finished (an
        executor would otherwise start and finish tasks the partitions' next owner runs too), and what was already
        produced is waited for."""
        self._parked, self._parked_keys = [], set()
        if self.transactional and self._broken is None and (self._in_transaction or self._transaction_dirty):
            # Outputs of work on the lost partitions are in the open transaction: committed later, they would land
            # beside those of the member that has the partitions now (a task completed by both). It is aborted
            # instead: the agent starts over from its last commit.
            self._broken = KafkaException(KafkaError(KafkaError._STATE, "partitions lost during the transaction"))
        await self._cancel_handlers()
        if self._in_flight:
            # Half the drain timeout: the consumer gives this up after the whole of it (and five seconds more).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.config.drain_timeout / 2)

    # --- transactions -----------------------------------------------------------------------------

    async def _transactions(self) -> None:
        while True:
            await asyncio.sleep(self.config.commit_interval)
            if self._broken is None:
                try:
                    await self._commit_transaction()
                except KafkaException:
                    if self._broken is None:
                        raise
            if self._broken is not None:
                await self._start_over()

    async def _start_over(self) -> None:
        """The open transaction could not be committed (aborted, the producer fenced, the commit timed out): its
        outputs are not in the log, read committed, and its offsets were not committed. The agent carries on from
        its last commit, as a restarted process would: intake stops, the work in flight is given up (handlers
        cancelled, outputs not acknowledged yet purged), a new producer takes the ``transactional.id`` over (which
        ends the old transaction, aborted, or committed if its commit had reached the coordinator), and every
        assigned partition is read again from its committed offset, after :meth:`on_rewind` and the rebuild of
        :meth:`on_partitions_assigned`."""
        error = self._broken
        log.warning(
            "%s: a transaction was not committed (%s): starting over from the last commit, with a new producer",
            self.agent_id, error,
        )  # fmt: skip
        self._stop_intake = True
        if self._intake_task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._intake_task
        lost = self._broken_works | self._in_transaction
        self._broken_works, self._in_transaction = set(), set()
        self._transaction_dirty = False
        for work in lost:  # handled again after the rewind, so neither dead-lettered nor dropped as duplicates
            work.abandoned = True
            if work.inbound is not None:
                self.dedupe.discard(work.inbound.event_id)
        old = self.producer
        if old is not None:
            old.abandon("its transaction was aborted")
        await self._give_up()
        async with self._transaction_lock:
            if old is not None:
                old.abandon("its transaction was aborted")  # what was sent while the handlers ended
                await old.close(min(5.0, self.config.drain_timeout))
            self.producer = await self._renewed_producer()
        attempt = 0
        while self.consumer is not None and self._running:
            try:
                await self.consumer.rewind(self.on_rewind)
                break
            except (KafkaException, TimeoutError) as failure:  # the group coordinator moving, as the broker restarts
                attempt += 1
                delay = min(_RETRY_MAX_SECONDS, _RETRY_FIRST_SECONDS * 2 ** min(attempt - 1, 10))
                log.warning(
                    "%s: reading from the last commit failed (%s); trying again in %gs", self.agent_id, failure, delay
                )
                await asyncio.sleep(delay)
        self._broken = None
        self.starts_over += 1
        log.warning("%s: started over from the last commit", self.agent_id)
        if self._running and self.aside is None:
            self._stop_intake = False
            self._intake_task = asyncio.get_running_loop().create_task(self._intake(), name=f"{self.agent_id}-intake")
            self._intake_task.add_done_callback(self._background_done)

    async def _renewed_producer(self) -> Producer:
        """A new transactional producer of this agent's id, its first transaction open; tried again with back-off
        while the broker does not answer."""
        settings = self._producer_settings
        attempt = 0
        while True:
            producer = Producer(
                self.transport, self.agent_id, self._resolve_deliveries, settings, linger_ms=self.config.linger_ms
            )
            producer.start()
            try:
                await producer.begin_transactions(self.protocol.transactions.timeout_ms / 1000)
                return producer
            except KafkaException as error:
                await producer.close(1.0)
                attempt += 1
                delay = min(_RETRY_MAX_SECONDS, _RETRY_FIRST_SECONDS * 2 ** min(attempt - 1, 10))
                log.warning("%s: a new producer failed to start (%s); trying again in %gs", self.agent_id, error, delay)
                await asyncio.sleep(delay)

    def _settled(self, work: _Work) -> bool:
        """Whether a record with outputs in the open transaction lets it commit: handled with every output
        acknowledged and its offset committable (or its outputs span two transactions anyway)."""
        if work.spans:
            return True
        if not self.transactions_wait_for_handlers:
            return not work.returned or not work.unacked
        if work.open:
            return False
        handled = not work.abandoned and work.dead_letter_error is None
        return not handled or work.tracker.covers(work.offset)

    def _transaction_broken(self) -> bool:
        """Whether the open transaction can no longer be committed (read anew after an await)."""
        return self._broken is not None

    async def _commit_transaction(self) -> None:
        """Commits the open transaction with the offsets that became committable (see **Transactions**)."""
        async with self._transaction_lock:
            producer, consumer = self.producer, self.consumer
            if producer is None or consumer is None or not producer.transactional or self._broken is not None:
                return
            loop = asyncio.get_running_loop()
            producer.hold()
            began = loop.time()
            try:
                deadline = began + self.protocol.transactions.wait_seconds
                while not all(self._settled(work) for work in self._in_transaction):
                    if loop.time() > deadline:
                        log.warning(
                            "%s: committing a transaction before %d of its records were handled (after"
                            " transactions.wait_seconds=%g): their outputs may come again after a crash",
                            self.agent_id,
                            sum(1 for work in self._in_transaction if not self._settled(work)),
                            self.protocol.transactions.wait_seconds,
                        )
                        break
                    await asyncio.sleep(0.002)
                if self._transaction_broken():  # partitions were lost meanwhile: this transaction is aborted
                    producer.release()
                    return
                works, dirty = self._in_transaction, self._transaction_dirty
                self._in_transaction = {work for work in works if work.open}
                self._transaction_dirty = False
                offsets = consumer.committable()
            except BaseException:
                producer.release()
                raise
            if not offsets and not works and not dirty:
                producer.release()
                return
            waited = loop.time() - began
            try:
                await producer.commit_transaction(
                    offsets, consumer.group_metadata(), self.protocol.transactions.timeout_ms / 1000
                )
            except KafkaException as error:
                self._broken = error
                self._broken_works |= works
                raise
            finally:
                took = loop.time() - began
                if took > _SLOW_COMMIT_SECONDS:
                    log.warning(
                        "%s: a commit took %.1fs (%.1fs of it waiting for handlers)", self.agent_id, took, waited
                    )
            self.transactions += 1

    async def _drain(self, patience: float) -> None:
        """Waits until every dispatched record is handled and its outputs acknowledged; after ``patience``
        seconds cancels the handlers still running (their records stay uncommitted)."""
        if not self._in_flight:
            return
        try:
            await asyncio.wait_for(self._idle.wait(), patience)
        except TimeoutError:
            await self._cancel_handlers()

    async def _cancel_handlers(self) -> None:
        """Cancels the handlers still running and waits until they have ended (their records stay uncommitted)."""
        self._cancelling = True
        try:
            late = set(self._handling)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        finally:
            self._cancelling = False

    def _on_broker_error(self, error: KafkaError) -> None:
        self._broker_error = f"{error.name()}: {error.str()}"
        log.warning("%s: broker error %s", self.agent_id, self._broker_error)

    # --- producing --------------------------------------------------------------------------------

    async def publish(
        self,
        kind: str,
        record: Mapping[str, Any],
        *,
        target_agent: str | None = None,
        collaboration_id: str | None = None,
        traceparent: str | None = None,
        event_id: str | None = None,
        priority: str | None = None,
        target_group: str | None = None,
    ) -> None:
        """Encodes and produces one message (``acks=all``, idempotent producer).

        Called while :meth:`handle` runs, it returns as soon as the producer has the record: the message
        being handled counts as handled (its offset becomes committable) only once every record published
        while handling it was acknowledged, and if one is lost the handled message goes to the dead-letter
        topic instead. Called anywhere else, it returns once the broker acknowledged the record (in
        transactions, once the transaction holding it committed: a requester's request is then in the log for
        good) and raises :class:`~confluent_kafka.KafkaException` if it could not be delivered.

        ``event_id`` fixes the ``ce_id``: derive it from the message being handled so that handling a
        redelivered record again produces the same ids, which readers then drop as duplicates.
        ``target_group`` addresses it to one consumer group: a pool of agents, one of which acts on it.
        """
        assert self.envelope is not None, "agent not started"
        topic, key, headers, value = self.envelope.encode_parts(
            kind,
            record,
            target_agent=target_agent,
            collaboration_id=collaboration_id,
            traceparent=traceparent,
            event_id=event_id,
            priority=priority,
            target_group=target_group,
        )
        if self._signer is not None:
            self._signer.sign_into(key, headers, value)
        label = (topic, kind)
        work = _HANDLING.get()
        if work is None or not work.open or work.agent is not self:
            await self._produce(topic, key, headers, value, label, committed=True)  # _publish's first case
            return
        producer = self.producer
        try:  # the slow path below waits for room
            if producer is None or self.transactional:
                self._send_output(work, topic, key, headers, value, label)
            else:  # _send_output, inline
                producer.send(topic, key, headers, value, (work, label))
                work.unacked += 1
            return
        except BufferError:
            pass
        await self._publish(topic, key, headers, value, label)

    def publish_reported(
        self,
        kind: str,
        record: Mapping[str, Any],
        report: Callable[[KafkaException | None], None],
        **attributes: Any,
    ) -> bool:
        """:meth:`publish` outside a handler without waiting for the acknowledgement: ``report`` is called on the loop
        with None once the broker acknowledged the record, or with the KafkaException that it was not delivered (it
        must not raise). Returns False, having sent nothing, where :meth:`publish` must be awaited instead: inside a
        handler, in transactions (the record is in the log for good only once its transaction commits), or with the
        producer's queue full. ``attributes`` are :meth:`publish`'s keyword arguments."""
        producer = self.producer
        work = _HANDLING.get()
        if producer is None or self.transactional or (work is not None and work.open and work.agent is self):
            return False
        topic, key, headers, value = self._signed_parts(kind, record, attributes)
        try:
            producer.send_reported(topic, key, headers, value, partial(self._count_reported, (topic, kind), report))
        except BufferError:
            return False
        return True

    def _count_reported(
        self, label: tuple[str, str], report: Callable[[KafkaException | None], None], error: KafkaError | None
    ) -> None:
        if error is None:
            self.metrics.inc("messages_produced_total", 1, topic=label[0], type=label[1])
            report(None)
        else:
            report(KafkaException(error))

    def _signed_parts(
        self, kind: str, record: Mapping[str, Any], attributes: Mapping[str, Any]
    ) -> tuple[str, bytes | None, list[tuple[str, bytes]], bytes]:
        """A record encoded as :meth:`publish` encodes it (``attributes`` are its keyword arguments), and signed."""
        assert self.envelope is not None, "agent not started"
        topic, key, headers, value = self.envelope.encode_parts(kind, record, **attributes)
        if self._signer is not None:
            self._signer.sign_into(key, headers, value)
        return topic, key, headers, value

    async def publish_marker(self, kind: str, record: Mapping[str, Any], **attributes: Any) -> None:
        """Publishes a record that must be in the log before the agent acts on what it says, whatever becomes of
        the open transaction (an executor's "started" record, before its handler runs).

        In transactions (with :attr:`marks_outside_transactions`) it goes through a second producer, idempotent and
        ``acks=all`` but outside any transaction, and this returns once the broker acknowledged it (raising
        :class:`~confluent_kafka.KafkaException` if it could not be delivered): a commit under way or stalled never
        holds it, and an aborted transaction or a fenced producer never takes it back. ``read_committed`` readers
        see it as soon as no transaction still open precedes it in its partition. Otherwise as :meth:`publish`.
        ``attributes`` are :meth:`publish`'s keyword arguments."""
        marks = self._marks
        if marks is None:
            await self.publish(kind, record, **attributes)
            return
        topic, key, headers, value = self._signed_parts(kind, record, attributes)
        await marks.send_and_wait(topic, key, headers, value)
        self.metrics.inc("messages_produced_total", 1, topic=topic, type=kind)

    async def produce_record(self, record: KafkaRecord) -> None:
        """Produces an encoded record (signed, when this agent signs); acknowledged as :meth:`publish` describes."""
        headers = record.headers
        if self._signer is not None:
            headers = list(headers)
            self._signer.sign_into(record.key, headers, record.value)
        await self._publish(record.topic, record.key, headers, record.value, None)

    async def _publish(
        self, topic: str, key: bytes | None, headers: list[tuple[str, bytes]], value: bytes, label: _Label
    ) -> None:
        work = _HANDLING.get()
        if work is None or not work.open or work.agent is not self:
            await self._produce(topic, key, headers, value, label, committed=True)
            return
        while True:
            try:
                self._send_output(work, topic, key, headers, value, label)
                return
            except BufferError:
                await asyncio.sleep(0.005)  # local queue full: the loop's polls drain it meanwhile

    def _send_output(
        self, work: _Work, topic: str, key: bytes | None, headers: list[tuple[str, bytes]], value: bytes, label: _Label
    ) -> None:
        """Produces an output of ``work`` without waiting; its delivery report settles ``work``."""
        producer = self.producer
        if producer is None:
            raise KafkaException(KafkaError(KafkaError._STATE, "producer is closed"))
        if self.transactional:
            if producer.holding:
                work.spans = True  # its outputs go into two transactions: the earlier cannot wait for it
            self._in_transaction.add(work)
        producer.send(topic, key, headers, value, (work, label))
        work.unacked += 1

    async def _send_dead_letter_later(
        self, work: _Work, topic: str, key: bytes | None, headers: list[tuple[str, bytes]], value: bytes
    ) -> None:
        """Produces a dead letter once the local queue has room; ``work.unacked`` already counts it."""
        try:
            await self._produce(topic, key, headers, value, None)
        except BaseException as error:
            work.dead_letter_error = error
            if not isinstance(error, (KafkaException, asyncio.CancelledError)):
                raise
        finally:
            work.unacked -= 1
            self._settle_work(work)

    async def _produce(
        self,
        topic: str,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
        value: bytes,
        label: _Label = None,
        *,
        committed: bool = False,
    ) -> None:
        """Produces one record and returns once the broker acknowledged it; with ``committed``, in transactions,
        once the transaction holding it committed too (acknowledged alone, it is lost if this process dies first)."""
        producer = self.producer
        if producer is None:
            raise KafkaException(KafkaError(KafkaError._STATE, "producer is closed"))
        self._transaction_dirty = True
        into = producer.sending_into
        await producer.send_and_wait(topic, key, headers, value)
        if label is not None:
            self.metrics.inc("messages_produced_total", 1, topic=label[0], type=label[1])
        if committed and producer.transactional:
            while producer.committed < into:
                if self.failure is not None or self.producer is not producer:
                    raise KafkaException(KafkaError(KafkaError._STATE, "its transaction was not committed"))
                self._transaction_dirty = True  # a commit that found nothing to do leaves it for the next one
                await asyncio.sleep(self.config.commit_interval / 2)

    def _resolve_deliveries(self, batch: DeliveryBatch) -> None:
        """Applies a batch of delivery reports on the loop: settles the outputs of records being handled.

        A record whose last output is acknowledged here and that was simply handled completes inline (what
        :meth:`_complete` does for it), timed at the batch's arrival; any other goes through :meth:`_complete`."""
        produced: dict[tuple[str, str], int] = {}
        now = time.perf_counter()
        observers = self.observers
        timings = self._timings
        completed = 0
        for (work, label), error in batch:
            if error is None:
                if label is not None and label is not _DEAD_LETTER:
                    produced[label] = produced.get(label, 0) + 1
            elif label is _DEAD_LETTER:
                work.dead_letter_error = KafkaException(error)
            elif work.failure is None:
                work.failure = KafkaException(error)
            work.unacked -= 1
            if work.unacked or not work.returned:
                continue
            if work.failure is not None or work.dead_lettered or work.abandoned:
                self._complete(work)
                continue
            work.open = False
            work.tracker.done(work.offset)
            if observers:
                self._notify(work.outcome, work.inbound)
            group = timings.get((work.kind, True))
            if group is None:
                timings[(work.kind, True)] = [now - work.started]
            else:
                group.append(now - work.started)
            self._in_flight -= 1
            completed += 1
        if completed:
            self._free_capacity()
        for (topic, kind), count in produced.items():
            self.metrics.inc("messages_produced_total", count, topic=topic, type=kind)
        self._flush_timings()

    # --- monitoring -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What ``GET /status`` answers: role, group, assignment, lag, in-flight work, counts."""
        consumer = self.consumer
        lag = consumer.lag if consumer else {}
        return {
            "role": self.role,
            "id": self.agent_id,
            "group": self.group_id,
            "topics": self.subscriptions(),
            "tasks": self.task_counts(),
            "in_flight": self._in_flight,
            "paused": consumer.paused if consumer else False,
            "assignment": [f"{topic}/{partition}" for topic, partition in (consumer.assignment if consumer else [])],
            "idle_reason": consumer.idle_reason if consumer else None,
            "aside": None if self.aside is None else {"reason": self.aside[0], "until": self.aside[1]},
            "consumer_lag": dict(lag),
            "total_lag": sum(lag.values()),
            "consumed": int(self.metrics.counter_total("messages_consumed_total")),
            "produced": int(self.metrics.counter_total("messages_produced_total")),
            "dead_letters": int(self.metrics.counter_total("dead_letters_total")),
            "duplicates": int(self.metrics.counter_total("duplicates_total")),
            "transactions": self.transactions if self.transactional else None,
            "uptime_seconds": round(time.time() - self._started_at, 3),
            **self.extra_status(),
        }

    async def check_broker(self, patience: float = 2.0) -> str | None:
        """None when the broker answers a metadata request within ``patience`` seconds, else the problem."""
        producer = self.producer
        if producer is None:
            return "agent is not running"
        return await producer.check(self.topics.requests, patience)

    async def _health(self) -> tuple[int, str, str]:
        problem = await self.check_broker()
        body = {"status": "ok" if problem is None else "unavailable", "role": self.role, "id": self.agent_id}
        if problem is not None:
            body["broker"] = problem
        return json_response(body, 200 if problem is None else 503)

    async def _status(self) -> tuple[int, str, str]:
        return json_response(self.status())

    async def _metrics(self) -> tuple[int, str, str]:
        labels = (("role", self.role), ("agent", self.agent_id))
        lag = self.consumer.lag if self.consumer else {}
        gauges: dict[str, dict[tuple[tuple[str, str], ...], float]] = {
            "tasks": {(*labels, ("state", state)): float(count) for state, count in self.task_counts().items()},
            "in_flight": {labels: float(self._in_flight)},
            "consumer_lag": {(*labels, ("partition", name)): float(value) for name, value in sorted(lag.items())},
        }
        return 200, "text/plain; version=0.0.4", self.metrics.render(gauges)


_Label = tuple[str, str] | None
"""What a delivery report counts in ``messages_produced_total``: ``(topic, kind)``, or nothing."""


_DEAD_LETTER: Final[tuple[str, str]] = ("", "dead letter")
_HANDLING: contextvars.ContextVar[_Work | None] = contextvars.ContextVar("a2a_fast_handling", default=None)
"""The record whose handler is running, so that what it publishes is tied to it."""


class _Work:
    """One consumed record from dispatch until it counts as handled: its handler returned (or it was
    dead-lettered) and the broker acknowledged every record produced for it."""

    __slots__ = (
        "abandoned",
        "agent",
        "dead_letter_error",
        "dead_lettered",
        "failure",
        "inbound",
        "key",
        "kind",
        "message",
        "offset",
        "open",
        "outcome",
        "returned",
        "spans",
        "started",
        "tracker",
        "unacked",
    )

    def __init__(self, agent: Agent, message: Message, tracker: OffsetTracker, offset: int, started: float) -> None:
        self.agent = agent
        self.message = message
        self.key = message.key()
        self.tracker = tracker
        self.offset = offset
        self.started = started
        self.inbound: Inbound | None = None
        self.kind = "unknown"
        self.outcome = "handled"
        self.unacked = 0
        self.returned = False
        self.open = True
        self.abandoned = False
        self.dead_lettered = False
        self.spans = False
        self.failure: BaseException | None = None
        self.dead_letter_error: BaseException | None = None


def _outside(config: AgentConfig) -> dict[str, Any]:
    """``config.producer_config`` without the transactions' settings: for a producer writing outside them."""
    return {name: value for name, value in config.producer_config.items() if not name.startswith("transaction")}


def _first_step(work: _Work, inbound: Inbound, handler: Coroutine[Any, Any, None], bind: bool) -> Any:
    _HANDLING.set(work)
    if bind:
        bind_ids(work.agent.agent_id, inbound.task_id, inbound.collaboration_id)
        adopt_child(inbound.traceparent)
    return handler.send(None)


class _Continue:
    """Awaits a coroutine that already ran up to its first suspension, on ``waiting``.

    Driving handlers directly saves a Task for every one that never suspends; the one that does is
    finished by a Task awaiting this, which passes what the coroutine waits on through to the loop.
    """

    __slots__ = ("_coroutine", "_waiting")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self._coroutine = coroutine
        self._waiting = waiting

    def __await__(self) -> Generator[Any, None, Any]:
        coroutine, waiting = self._coroutine, self._waiting
        while True:
            try:
                yield waiting
            except BaseException as error:
                try:
                    waiting = coroutine.throw(error)
                except StopIteration as finished:
                    return finished.value
            else:
                try:
                    waiting = coroutine.send(None)
                except StopIteration as finished:
                    return finished.value


def start_eagerly(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Runs ``coroutine`` here until it first suspends: None when it finished without suspending (what it
    raised is raised), else the Task that finishes it (in a copy of the current context, as any Task).

    What the runtime does for handlers, for code that runs a coroutine it may have to cancel later."""
    try:
        waiting = coroutine.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(finish_eagerly_started(coroutine, waiting))


async def finish_eagerly_started(coroutine: Coroutine[Any, Any, T], waiting: Any) -> T:
    """Finishes a coroutine that was run up to its first suspension, where it waits on ``waiting`` (what its
    ``send(None)`` returned): the coroutine of a Task that :func:`start_eagerly` or :func:`run_eagerly` would make."""
    return cast(T, await _Continue(coroutine, waiting))


def run_eagerly(awaitable: Awaitable[T]) -> asyncio.Future[T]:
    """:func:`asyncio.ensure_future` of a coroutine that runs it here, in a copy of the current context, until it
    first suspends: a future already done (with its result, or what it raised) when it never did, else the Task
    that finishes it in that same context. Any other awaitable goes to :func:`asyncio.ensure_future`.

    For a coroutine awaited as a Task only so it can be cancelled or timed out, which most often returns at once.
    """
    if not asyncio.iscoroutine(awaitable):
        return asyncio.ensure_future(awaitable)
    coroutine = cast(Coroutine[Any, Any, T], awaitable)
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    try:
        waiting = context.run(coroutine.send, None)
    except StopIteration as finished:
        done: asyncio.Future[T] = loop.create_future()
        done.set_result(finished.value)
        return done
    except asyncio.CancelledError:
        done = loop.create_future()
        done.cancel()
        return done
    except Exception as error:
        done = loop.create_future()
        done.set_exception(error)
        return done
    return loop.create_task(finish_eagerly_started(coroutine, waiting), context=context)


async def serve(agent: Agent, ready: Callable[[Agent], None] | None = None) -> int:
    """Runs ``agent`` until SIGTERM or SIGINT, then stops it in order; the exit status (0 when clean).

    ``ready`` is called once the agent consumes (it has its first partition assignment).

    This is what ``a2a-fast agent ...`` runs under ``uvloop.run``.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        if not await _start_unless_stopped(agent, stop):
            return 0
        if ready is not None:
            await agent.wait_assigned()
            ready(agent)
        waiters = [loop.create_task(stop.wait()), loop.create_task(agent.failed.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await agent.stop()
    return 1 if agent.failure is not None else 0


async def _start_unless_stopped(agent: Agent, stop: asyncio.Event) -> bool:
    """Starts ``agent``; False when ``stop`` was set first (while it waited for its broker or registry, say)."""
    starting = asyncio.ensure_future(agent.start())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if starting.done():
        starting.result()
        return True
    starting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await starting
    return False
