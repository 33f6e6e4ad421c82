"""The operator's commands: ``request``, ``cancel``, ``tasks``, ``agents``, ``tail``, ``topics``, ``replay``, ``mcp``.

Each works on one topic namespace (``--topic-prefix``) of the broker and registry named by ``KAFKA_BROKER``
and ``SCHEMA_REGISTRY_URL`` (default: the local stack, never started here). Only ``request``, ``cancel`` and
``mcp`` write to Kafka; the others read the log without joining a consumer group.

``cancel`` acts as a one-off agent of its own (``cli-<random>``), not as the task's requester: it finds the
task in the log, writes the cancel addressed to that requester and to the executors holding the task
(:class:`~a2a_fast.agents.cancel.Canceller`), and follows the log to the task's end. Acting as the requester
would mean joining that requester's consumer group, taking its partitions from it while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from types import FrameType
from typing import Any, TextIO

from a2a_fast.cli.completion import suggest
from a2a_fast.errors import ConfigError
from a2a_fast.history.events import describe_message, message_event, subject_label
from a2a_fast.history.tasks import (
    A2A_KINDS,
    DEFAULT_RETAINED_TASKS,
    FINAL_STATES,
    STATES,
    TaskHistory,
    TaskLog,
    TimelineEntry,
    format_time,
    parse_time,
    read_log,
    timeline_entry,
)
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints
from a2a_fast.transport.kafka import KafkaTransport

__all__ = ["add_control_parsers", "agent_table", "table", "task_table"]

Handler = Callable[[argparse.Namespace], int]
LOG_JSON_ENV = "A2A_FAST_LOG_JSON"
SHORT_TOPIC_NAMES = ("task-requests", "task-responses", "negotiations", "collaborations", "a2a.dlq")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic-prefix", default="", help="namespace prepended to every topic name")
    add_kafka_config_option(parser)


def add_kafka_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kafka-config",
        default=None,
        metavar="FILE",
        help="librdkafka properties (name=value lines) every Kafka client gets, e.g. SASL/OAUTHBEARER or TLS"
        " settings; the same as A2A_FAST_KAFKA_CONFIG, which the agents this starts inherit",
    )


def add_logging_options(parser: argparse.ArgumentParser, level: str = "WARNING") -> None:
    parser.add_argument(
        "--log-json",
        action="store_true",
        default=os.environ.get(LOG_JSON_ENV, "").lower() in ("1", "true", "yes"),
        help=f"log JSON lines with agent, task and correlation ids (or set {LOG_JSON_ENV}=1)",
    )
    parser.add_argument("--log-level", default=level, help=f"DEBUG, INFO, WARNING... (default {level})")


def add_control_parsers(commands: Any) -> None:
    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text, description=help_text)
        add_common_options(parser)
        parser.set_defaults(handler=handler)
        return parser

    request = command("request", _request, "ask the mesh for a task, negotiate it, optionally wait for the outcome")
    request.add_argument("description", help="what to do, in words")
    request.add_argument("--capability", default="summarize", help="skill a provider must have (default summarize)")
    request.add_argument("--cost", type=_amount, default=None, help="price offered")
    request.add_argument(
        "--budget",
        type=_amount,
        default=None,
        help="most to pay (default: the cost; with no --cost either, the provider's price)",
    )
    request.add_argument("--priority", type=int, choices=[0, 1, 2], default=1, help="0 low, 1 normal, 2 high")
    request.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="executor input (repeat)")
    request.add_argument("--wait", action="store_true", help="print every state change and wait for the outcome")
    request.add_argument("--max-wait", type=float, default=120.0, help="seconds to wait at most (default 120)")
    request.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    request.add_argument("--id", dest="agent_id", default=None, help="requester id (default cli-<random>)")
    add_logging_options(request)

    cancel = command("cancel", _cancel, "cancel a task: one not started yet never starts, a running one is stopped")
    cancel.add_argument("task_id", metavar="TASK_ID", help="the task's id, or a prefix only it has (as tasks shows)")
    cancel.add_argument("--reason", default=None, help="why, in words: the log keeps it with the cancel")
    cancel.add_argument(
        "--max-wait", type=_seconds, default=60.0, help="seconds to wait for the task to end at most (default 60)"
    )
    cancel.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    add_logging_options(cancel)

    tasks = command("tasks", _tasks, "list the tasks in the log with their state")
    tasks.add_argument("--state", action="append", default=[], type=str.upper, choices=STATES, help="filter (repeat)")
    tasks.add_argument("--json", action="store_true", help="one JSON object per task")

    agents = command("agents", _agents, "list the agents: the mesh directory's, and those seen in the log")
    agents.add_argument("--json", action="store_true", help="one JSON object per agent")

    tail = command("tail", _tail, "print the events of a topic, decoded, one line each")
    suggest(
        tail.add_argument(
            "topic",
            help="task-requests, task-responses, negotiations, collaborations, a2a.dlq (prefixed), or any topic",
        ),
        SHORT_TOPIC_NAMES,
    )
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest record, not at the end")
    tail.add_argument("--type", action="append", default=[], help="only these CloudEvent types (e.g. a2a.negotiation)")
    tail.add_argument("--json", action="store_true", help="one JSON object per event")
    tail.add_argument("--max", type=int, default=None, metavar="N", help="stop after N events")
    tail.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="stop after this long")

    topics = command("topics", _topics, "list the topics with their partitions and end offsets")
    topics.add_argument("--json", action="store_true", help="one JSON object per topic")

    replay = command("replay", _replay, "rebuild task state from the log as of a time; print timelines and audit")
    replay.add_argument("--until", default=None, metavar="TIME", help="ISO 8601, epoch seconds, or an age: 10m, 2h")
    replay.add_argument("--task", default=None, metavar="ID", help="print this task's timeline (an id prefix will do)")
    replay.add_argument("--export", default=None, metavar="FILE", help="write the audit trail as JSON lines")
    replay.add_argument("--json", action="store_true", help="print JSON instead of text")

    mcp = command("mcp", _mcp, "serve the control plane over MCP on stdin/stdout")
    mcp.add_argument("--id", dest="agent_id", default=None, help="agent id of its requester (default mcp-<random>)")
    mcp.add_argument(
        "--workflows",
        default=None,
        metavar="FILE|MODULE:NAME",
        help="workflow definitions to offer: a YAML or JSON file, or a Python sequence of them (default: the demo's)",
    )
    mcp.add_argument(
        "--retained-tasks",
        type=_task_count,
        default=DEFAULT_RETAINED_TASKS,
        metavar="N",
        help=f"ended tasks whose history it keeps; older ones are forgotten (default {DEFAULT_RETAINED_TASKS})",
    )
    add_logging_options(mcp)


def _task_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count >= 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time > 0")
    return value


def _amount(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount >= 0")
    return value


def _transport(registry: bool = True) -> KafkaTransport:
    """The transport to the broker and registry the environment names (with its credentials), checked: a
    service that does not answer or refuses the credentials stops the command within seconds, in one line
    naming the setting and the address."""
    transport = Endpoints.from_env().transport()
    transport.check_reachable(registry=registry)
    return transport


def _configure_logging(args: argparse.Namespace) -> None:
    from a2a_fast.observability.logs import configure_logging

    configure_logging(json=args.log_json, level=args.log_level.upper())


def _read_log(args: argparse.Namespace, until: int | None = None, transport: KafkaTransport | None = None) -> TaskLog:
    from a2a_fast.transport.registry import SchemaCatalog

    transport = transport or _transport()
    topics = TopicNames(args.topic_prefix)
    _require_topics(transport, topics)
    with SchemaCatalog(transport, topics) as catalog:
        catalog.load_readers()
        reader = f"a2a-fast-cli-{uuid.uuid4().hex[:8]}"
        return read_log(transport, catalog, topics, until=until, reader=reader, a2a=True)


def _require_topics(transport: KafkaTransport, topics: TopicNames) -> None:
    from a2a_fast.transport.admin import describe_topics

    present = {info.name for info in describe_topics(transport, topics.prefix)}
    missing = [name for name in (topics.requests, topics.responses, topics.negotiations) if name not in present]
    if missing:
        raise ConfigError(f"no agent mesh on {topics.prefix or '(no prefix)'}: topic(s) {', '.join(missing)} missing")


# --- request -------------------------------------------------------------------------------------------------------


def _request(args: argparse.Namespace) -> int:
    import uvloop

    _configure_logging(args)
    parameters = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {item!r}: expected KEY=VALUE")
        parameters[key] = value
    return uvloop.run(_request_async(args, parameters, _transport()))


async def _request_async(args: argparse.Namespace, parameters: dict[str, str], transport: KafkaTransport) -> int:
    from a2a_fast.agents.base import AgentConfig
    from a2a_fast.agents.policies import BudgetPolicy
    from a2a_fast.agents.requester import PendingRequest, Requester

    identity = transport.signing.identity if transport.signing is not None else None
    # Signing as an agent means being that agent: its key names the id, unless --id says otherwise.
    agent_id = args.agent_id or (identity.agent if identity else f"cli-{uuid.uuid4().hex[:8]}")
    # A one-off requester of a person at a terminal is not a member of the mesh's directory.
    config = AgentConfig(agent_id, transport.kafka, transport.schema_registry_url, join_mesh=False, transport=transport)
    config.topics = TopicNames(args.topic_prefix)
    # a one-off requester has nothing to resume; one named with --id picks up its open requests
    requester = Requester(config, BudgetPolicy(), resume=args.agent_id is not None or identity is not None)
    started = time.monotonic()
    arrived: collections.deque[tuple[str, float, TimelineEntry]] = collections.deque()
    changed = asyncio.Event()

    def queue_update(pending: PendingRequest, message: Inbound) -> None:
        # Printed by this command's coroutine, not here: a stdout closed under it (`| head`) then ends the
        # command, instead of failing the requester's handling of the message.
        arrived.append((pending.task_id, time.monotonic() - started, timeline_entry(message)))
        changed.set()

    requester.on_update = queue_update
    async with requester:
        task_id = await requester.submit(
            args.description,
            args.cost,
            capability=args.capability,
            priority=args.priority,
            parameters=parameters,
            budget=args.budget,
        )
        _emit(
            args, f"task {task_id} requested by {config.agent_id}", {"task_id": task_id, "requester": config.agent_id}
        )
        outcome_waiter = asyncio.ensure_future(requester.outcome(task_id))
        deadline = time.monotonic() + args.max_wait
        settled: str | None = None  # the first state past negotiation: enough for a run without --wait
        try:
            while True:
                changed.clear()
                while arrived:
                    owner, elapsed, entry = arrived.popleft()
                    if owner != task_id:
                        continue  # another open request of a requester id used before (--id)
                    if args.wait:
                        line = f"[{elapsed:6.2f}s] {entry.describe()}"
                        _emit(args, line, {"elapsed_seconds": round(elapsed, 3), "event": asdict(entry)})
                    if entry.event != "NEGOTIATING":
                        settled = settled or entry.event
                if outcome_waiter.done():
                    outcome = outcome_waiter.result()
                    said = f": {outcome.error}" if outcome.error else f" {json.dumps(outcome.result, default=str)}"
                    _emit(args, f"task {task_id} {outcome.status}{said}", {"outcome": asdict(outcome)})
                    return 0 if outcome.status == "COMPLETED" or not args.wait else 1
                # A final state's outcome is on its way (the waiter completes a loop turn after the record came).
                if settled is not None and not args.wait and settled not in FINAL_STATES:
                    hint = f"task {task_id} {settled}; follow it with: a2a-fast tail task-responses"
                    _emit(args, hint, {"task_id": task_id, "state": settled})
                    return 0
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    _emit(args, f"no answer within {args.max_wait}s", {"task_id": task_id, "timed_out": True})
                    return 2
                change = asyncio.ensure_future(changed.wait())
                await asyncio.wait({outcome_waiter, change}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                change.cancel()
        finally:
            outcome_waiter.cancel()


# --- cancel --------------------------------------------------------------------------------------------------------


def _cancel(args: argparse.Namespace) -> int:
    import uvloop

    _configure_logging(args)
    transport = _transport()
    topics = TopicNames(args.topic_prefix)
    _require_topics(transport, topics)
    return uvloop.run(_cancel_async(args, transport, topics))


async def _cancel_async(args: argparse.Namespace, transport: KafkaTransport, topics: TopicNames) -> int:
    """Exit status 0 when the task ended CANCELED, 1 when it ended otherwise first, 2 when ``--max-wait`` passed."""
    from a2a_fast.agents.base import AgentConfig
    from a2a_fast.agents.cancel import Canceller, ensure_cancellable
    from a2a_fast.agents.requester import Requester
    from a2a_fast.history.view import MeshView

    view = MeshView(transport, transport.schema_registry_url, topics)
    await view.start()
    try:
        task = view.log.find(args.task_id)
        ensure_cancellable(task)  # before anything starts: a refusal is quick and writes nothing
        agent_id = f"cli-{uuid.uuid4().hex[:8]}"
        config = AgentConfig(
            agent_id,
            transport.kafka,
            transport.schema_registry_url,
            topics=topics,
            join_mesh=False,
            transport=transport,
        )
        started = time.monotonic()
        deadline = started + args.max_wait
        async with Requester(config, resume=False) as publisher:
            was = task.state
            try:
                task = await Canceller(publisher, view).cancel(task.task_id, args.reason, patience=args.max_wait)
            except TimeoutError:
                said = f"the cancel of task {task.task_id} was sent; the log did not show it within {args.max_wait:g}s"
                _emit(args, said, {"task_id": task.task_id, "canceller": agent_id, "timed_out": True})
                return 2
            said = f"task {task.task_id} cancel asked by {agent_id} (it was {was})"
            _emit(args, said, {"task_id": task.task_id, "canceller": agent_id, "was": was})
            printed: set[str] = set()

            def show(current: TaskHistory) -> None:
                entries = current.timeline
                first = next(n for n, e in enumerate(entries) if e.agent == agent_id and e.event == "CANCELING")
                for entry in entries[first:]:
                    if entry.event_id in printed:
                        continue
                    printed.add(entry.event_id)
                    elapsed = time.monotonic() - started
                    line = f"[{elapsed:6.2f}s] {entry.describe()}"
                    _emit(args, line, {"elapsed_seconds": round(elapsed, 3), "event": asdict(entry)})

            try:
                remaining = max(0.0, deadline - time.monotonic())
                ended = await asyncio.wait_for(view.wait_for(task.task_id, lambda t: t.final, show), remaining)
            except TimeoutError:
                current = view.log.get(task.task_id) or task
                said = f"no final state within {args.max_wait:g}s: task {task.task_id} is {current.state}"
                _emit(args, said, {"task_id": task.task_id, "state": current.state, "timed_out": True})
                return 2
        detail = ended.error or json.dumps(ended.result, default=str)
        late = "" if ended.state == "CANCELED" else " before the cancel took effect"
        _emit(args, f"task {ended.task_id} {ended.state}{late}: {detail}", {"outcome": ended.to_dict(timeline=False)})
        return 0 if ended.state == "CANCELED" else 1
    finally:
        await view.stop()


def _emit(args: argparse.Namespace, text: str, data: dict[str, Any], out: TextIO | None = None) -> None:
    print(json.dumps(data, default=str) if args.json else text, file=out or sys.stdout, flush=True)


# --- tasks, agents, topics -----------------------------------------------------------------------------------------


def _money(amount: float | None) -> str:
    return "-" if amount is None else f"{amount:.2f}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[int] = ()) -> list[str]:
    """Lines of aligned columns, each as wide as its widest cell (header included); columns whose index is
    in ``right`` are right-aligned (numbers). Trailing spaces are left out."""
    cells = [list(header), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    flush_right = set(right)
    return [
        " ".join(
            cell.rjust(width) if column in flush_right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]


TASK_COLUMNS = ("TASK", "STATE", "CAPABILITY", "OFFERED", "AGREED", "ROUNDS", "PROVIDER", "EXECUTOR", "UPDATED")


def task_table(tasks: Iterable[TaskHistory]) -> list[str]:
    """The task list as aligned lines (ids shortened to 12 characters, as ``replay --task`` accepts)."""
    rows = [
        (
            task.task_id[:12],
            task.state,
            task.capability or "-",
            _money(task.proposed_cost),
            _money(task.agreed_cost),
            str(task.rounds),
            task.provider or "-",
            task.executor or "-",
            format_time(task.updated_at) or "-",
        )
        for task in tasks
    ]
    return table(TASK_COLUMNS, rows, right=(3, 4, 5))


def _tasks(args: argparse.Namespace) -> int:
    log = _read_log(args)
    selected = log.select(args.state)
    if args.json:
        for task in selected:
            print(json.dumps(task.to_dict(timeline=False), default=str))
        return 0
    for line in task_table(selected):
        print(line)
    counts = ", ".join(f"{state} {count}" for state, count in sorted(log.counts().items()))
    print(f"{len(selected)} of {len(log.tasks)} tasks shown ({counts or 'none in the log'})")
    return 0


AGENT_COLUMNS = ("AGENT", "STATE", "ROLES/TYPE", "CAPABILITIES", "MESSAGES", "OPEN", "LAST SEEN")


def agent_table(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The rows of :func:`a2a_fast.history.view.agent_rows` as aligned lines, however long ids and
    capability lists are."""
    cells = []
    for row in rows:
        seen = row["log"] or {}
        state = (row["status"] if row["alive"] else "GONE") if row["registered"] else "unregistered"
        cells.append(
            (
                row["agent_id"],
                state,
                row.get("type") or ",".join(seen.get("roles", [])) or "-",
                ",".join(row.get("capabilities", [])) or "-",
                str(seen.get("messages", 0)),
                str(len(seen.get("open_tasks", []))),
                row.get("last_seen") or seen.get("last_seen") or "-",
            )
        )
    return table(AGENT_COLUMNS, cells, right=(4, 5))


def _agents(args: argparse.Namespace) -> int:
    import uvloop

    from a2a_fast.history.view import agent_rows
    from a2a_fast.mesh.directory import AgentDirectory

    transport = _transport()

    async def registered() -> list[Any]:
        async with AgentDirectory(transport, TopicNames(args.topic_prefix).agents) as directory:
            return directory.get_all_agents()

    rows = agent_rows(uvloop.run(registered()), _read_log(args, transport=transport).activity())
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    for line in agent_table(rows):
        print(line)
    alive = sum(1 for row in rows if row.get("alive"))
    print(f"{len(rows)} agents: {alive} alive in the directory, the others seen only in the log")
    return 0


def _topics(args: argparse.Namespace) -> int:
    from a2a_fast.transport.admin import describe_topics

    found = describe_topics(_transport(registry=False), args.topic_prefix)
    if args.json:
        for info in found:
            print(json.dumps({**asdict(info), "records": info.records}))
        return 0
    width = max([len("TOPIC"), *(len(info.name) for info in found)])
    print(f"{'TOPIC':<{width}} {'PARTITIONS':>10} {'RECORDS':>8} END OFFSETS")
    for info in found:
        print(f"{info.name:<{width}} {info.partitions:>10} {info.records:>8} {' '.join(map(str, info.end_offsets))}")
    return 0


# --- tail ----------------------------------------------------------------------------------------------------------


def _tail(args: argparse.Namespace) -> int:
    from a2a_fast.protocol.topics import resolve_topic
    from a2a_fast.transport.log import LogReader

    if args.max is not None and args.max <= 0:
        raise ConfigError(f"--max {args.max}: expected a count >= 1")
    transport = _transport()
    topics = TopicNames(args.topic_prefix)
    name = resolve_topic(args.topic, topics)
    shown = 0
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    with _stop_on_signals() as stop:
        reader = LogReader(transport, transport.schema_registry_url, topics, [name], args.from_beginning)
        try:
            reader.open()
            if sys.stderr.isatty():
                start = "the oldest record" if args.from_beginning else "the end"
                print(f"following {name} from {start}; Ctrl-C to stop", file=sys.stderr, flush=True)
            while not stop.is_set() and (args.max is None or shown < args.max):
                wait = TAIL_POLL_SECONDS if deadline is None else min(TAIL_POLL_SECONDS, deadline - time.monotonic())
                if wait <= 0:
                    break
                for observed in reader.read(wait, count=100):
                    if stop.is_set() or (args.max is not None and shown >= args.max):
                        break
                    if args.type and (observed.message is None or not _type_matches(observed.message.kind, args.type)):
                        continue
                    print(_tail_json(observed) if args.json else _tail_line(observed), flush=True)
                    shown += 1
        finally:
            reader.close()
    return 0


TAIL_POLL_SECONDS = 0.25
"""How long one read waits at most: how soon ``tail`` notices Ctrl-C, its ``--timeout`` or the end of ``--max``."""


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """While inside, SIGINT (Ctrl-C) and SIGTERM only set the event returned; a second one raises
    KeyboardInterrupt. A follow loop that checks the event between records therefore never has an exception
    land inside a Kafka, registry or native call, or between a line and its newline."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _type_matches(kind: str, wanted: Iterable[str]) -> bool:
    return any(kind == name or kind.endswith("." + name) for name in wanted)


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def _tail_line(observed: Any) -> str:
    where = f"{observed.topic}[{observed.partition}]@{observed.offset}"
    stamp = format_time(observed.timestamp)
    headers = observed.headers
    dead = headers.get("dlq.reason")
    origin = f"{headers.get('dlq.original.topic')}[{headers.get('dlq.original.partition')}]"
    origin += f"@{headers.get('dlq.original.offset')}"
    suffix = f"  [dead letter from {origin}, {headers.get('dlq.stage')}: {dead}]" if dead else ""
    if observed.message is None:
        return _one_line(f"{stamp} {where} key={observed.key} undecodable: {observed.error}{suffix}")
    message = observed.message
    subject = f"{subject_label(message)}={message.task_id[:12]}"
    return _one_line(f"{stamp} {where} {message.kind} {subject} {describe_message(message)}{suffix}")


def _tail_json(observed: Any) -> str:
    message = observed.message
    data: dict[str, Any] = {
        "time": format_time(observed.timestamp),
        "topic": observed.topic,
        "partition": observed.partition,
        "offset": observed.offset,
        "key": observed.key,
    }
    if message is not None:
        data.update(
            type=message.kind,
            id=message.event_id,
            source=message.source_agent,
            target=message.target_agent,
            event=message_event(message),
            summary=describe_message(message),
        )
        data[f"{subject_label(message)}_id"] = message.task_id
        data.update(traceparent=message.traceparent, data=_record_view(message))
    else:
        data["error"] = observed.error
    dead = {name: value for name, value in observed.headers.items() if name.startswith("dlq.")}
    if dead:
        data["dead_letter"] = dead
    return json.dumps(data, default=str)


def _record_view(message: Inbound) -> dict[str, Any]:
    """The record as JSON; an A2A binding record with its protobuf payloads in ProtoJSON (the A2A SDK, the
    ``a2a`` extra, reads them; without it they are shown as hex)."""
    if message.kind not in A2A_KINDS:
        return message.record
    try:
        from a2a_fast.a2a.binding import json_view
    except ImportError:
        return {name: value.hex() if isinstance(value, bytes) else value for name, value in message.record.items()}
    return json_view(message.record)


# --- replay --------------------------------------------------------------------------------------------------------


def _replay(args: argparse.Namespace) -> int:
    until = parse_time(args.until) if args.until else None
    log = _read_log(args, until)
    chosen = [log.find(args.task)] if args.task else log.select()
    if args.export:
        written = _export(chosen, args.export)
        print(f"wrote {written} audit entries of {len(chosen)} tasks to {args.export}", file=sys.stderr)
    as_of = format_time(until) if until is not None else "now"
    if args.task:
        task = chosen[0]
        if args.json:
            print(json.dumps(task.to_dict(), default=str))
            return 0
        print(f"task {task.task_id} as of {as_of}: {task.state}")
        print(f"  requested by {task.requester or '?'}: {task.capability} - {task.description}")
        print(f"  offered {_money(task.proposed_cost)}, agreed {_money(task.agreed_cost)} after {task.rounds} rounds")
        print(f"  provider {task.provider or '-'}, executor {task.executor or '-'}")
        if task.final:
            print(f"  outcome: {task.state} {task.error or json.dumps(task.result, default=str)}")
        for entry in task.timeline:
            print(f"  {format_time(entry.time)}  {entry.describe()}")
        return 0
    if args.json:
        print(json.dumps({"as_of": as_of, "counts": log.counts(), "tasks": [t.to_dict(False) for t in chosen]}))
        return 0
    print(f"as of {as_of}: {len(log.tasks)} tasks from {log.folded} messages")
    for line in task_table(chosen):
        print(line)
    return 0


def _export(tasks: list[TaskHistory], path: str) -> int:
    """One JSON line per message about the tasks, in time order: the audit trail."""
    entries = sorted(
        ((entry, task) for task in tasks for entry in task.timeline), key=lambda pair: (pair[0].time, pair[0].offset)
    )
    with open(path, "w", encoding="utf-8") as out:
        for entry, task in entries:
            line = {"task_id": task.task_id, "at": format_time(entry.time), "role": entry.role, **asdict(entry)}
            out.write(json.dumps(line, default=str) + "\n")
    return len(entries)


# --- mcp -----------------------------------------------------------------------------------------------------------


def _mcp(args: argparse.Namespace) -> int:
    try:
        from a2a_fast.control.mcp_server import run
    except ImportError as error:
        raise ConfigError(f"the MCP server needs the mcp package (pip install 'a2a-fast[mcp]'): {error}") from None
    with contextlib.suppress(KeyboardInterrupt):
        return run(args)
    return 130
