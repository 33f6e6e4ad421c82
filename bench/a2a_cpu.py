"""CPU per A2A call over Kafka, client and agent, for comparing two versions of the code on a loaded machine.

``python -m bench.a2a_cpu [--calls N] [--concurrency C] [--linger MS] [--profile DIR]`` starts the echo agent of
``bench/test_a2a.py`` in a process of its own (``bench.a2a_servers kafka``), warms up, then runs ``N`` SDK
``SendMessage`` calls from ``C`` concurrent callers and prints, per call: the CPU time of each process (all
threads, from ``/proc``) and of its main thread (the event loop), the local broker's CPU time per call
(``broker_us``: all its work meanwhile, other clients' included) and how busy the machine's cores were
(``machine_busy``, 1.0 for all of them all the time), the context switches per call of each process's threads
(``*_switches``: hand-offs between threads), and with ``--profile`` the number of Python
function calls each main thread made (cProfile, started and stopped around the measured calls; the agent's by
``SIGUSR1``/``SIGUSR2``), the profiles written to ``DIR``. CPU time per call moves much less with the machine's
load than throughput does, so runs of two versions taken in turn compare fairly where ``make bench`` cannot.

``python -m bench.a2a_cpu handle [N]`` times the agent's own part alone, with no Kafka: ``A2AAgent.handle`` of
``N`` echo ``SendMessage`` requests one after the other in this process (decode, checks, the SDK executor, the
turn, the answer record built; ``publish`` stubbed), in CPU time and Python calls per call.
"""

from __future__ import annotations

import os

os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

import argparse
import asyncio
import contextlib
import cProfile
import json
import pstats
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.a2a_servers import calls
from bench.processes import stop

REPO = Path(__file__).resolve().parent.parent


def _ticks(path: str) -> float:
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int) -> tuple[float, float]:
    return _ticks(f"/proc/{pid}/stat"), _ticks(f"/proc/{pid}/task/{pid}/stat")


def _switches(pid: int) -> int:
    """Context switches so far of every thread of ``pid`` (each a thread woken or put to sleep)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for line in (task / "status").read_text().splitlines():
                if "ctxt_switches:" in line:
                    total += int(line.split()[1])
    return total


def _broker_pid() -> int | None:
    """The local broker's process (the stack's ``kafka.Kafka``), None when it is not found here."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"kafka.Kafka" in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
    return None


def _machine_busy() -> tuple[float, float]:
    """CPU seconds busy and in all, of every core, since boot (``/proc/stat``)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / os.sysconf("SC_CLK_TCK"), total / os.sysconf("SC_CLK_TCK")


def _calls_of(profile: pstats.Stats) -> int:
    return sum(row[1] for row in profile.stats.values())  # type: ignore[attr-defined]


def serve(argv: list[str]) -> int:
    """The agent process: ``bench.a2a_servers kafka`` with a profiler the parent turns on and off by signal."""
    from bench.a2a_servers import serve_kafka

    out = argv[0]
    profiler = cProfile.Profile(time.thread_time)
    signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())

    def stop(*_: Any) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR2, stop)
    return serve_kafka(argv[1], argv[2], argv[3], float(argv[4]))


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from a2a.client import ClientConfig, ClientFactory
    from confluent_kafka.admin import AdminClient

    from a2a_fast.a2a import KAFKA_BINDING, KafkaCaller, find_card, register
    from a2a_fast.protocol.topics import TopicNames
    from a2a_fast.stack import ensure_up

    endpoints, _ = ensure_up()
    topics = TopicNames(f"{args.prefix}{uuid.uuid4().hex[:8]}.")
    profile_dir = Path(args.profile) if args.profile else None
    agent_profile = str((profile_dir or Path("/tmp")) / f"agent-{os.getpid()}.prof")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "python"), str(REPO)])}
    command = [sys.executable, "-m", "bench.a2a_cpu", "serve", agent_profile, endpoints.kafka]
    command += [endpoints.schema_registry, topics.prefix, str(args.linger)]
    process = _spawn(command, env)
    try:
        assert process.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, process.stdout.readline)
        assert line.strip() == "ready", line
        card = await find_card("echo", endpoints.kafka, topics.prefix)
        caller = KafkaCaller.connect(
            endpoints.kafka, endpoints.schema_registry, topics.prefix, max_in_flight=1024, linger_ms=args.linger
        )
        factory = ClientFactory(ClientConfig(streaming=False, supported_protocol_bindings=[KAFKA_BINDING]))
        register(factory, caller)
        client = factory.create(card)

        async def run(count: int, concurrency: int) -> list[float]:
            return (await calls(client, count, concurrency))[1]

        try:
            await run(args.warm_up, args.concurrency)
            profiler = cProfile.Profile(time.thread_time) if profile_dir else None
            if profiler is not None:
                process.send_signal(signal.SIGUSR1)
                await asyncio.sleep(0.2)
                profiler.enable()
            broker = _broker_pid()
            broker_before = _ticks(f"/proc/{broker}/stat") if broker else 0.0
            machine_before = _machine_busy()
            agent_before = _process_cpu(process.pid)
            switches_before = _switches(os.getpid()), _switches(process.pid)
            client_before = time.process_time(), time.thread_time()
            started = time.perf_counter()
            latencies = await run(args.calls, args.concurrency)
            seconds = time.perf_counter() - started
            client_after = time.process_time(), time.thread_time()
            agent_after = _process_cpu(process.pid)
            switches_after = _switches(os.getpid()), _switches(process.pid)
            machine_after = _machine_busy()
            broker_after = _ticks(f"/proc/{broker}/stat") if broker else 0.0
            result: dict[str, Any] = {}
            if profiler is not None and profile_dir is not None:
                profiler.disable()
                profiler.dump_stats(profile_dir / "client.prof")
                process.send_signal(signal.SIGUSR2)
                await asyncio.sleep(1.0)
                result["client_calls_per_call"] = round(_calls_of(pstats.Stats(profiler)) / args.calls)
                result["agent_calls_per_call"] = round(_calls_of(pstats.Stats(agent_profile)) / args.calls)
            ordered = sorted(latencies)
            per_call = 1e6 / args.calls
            result.update(
                calls=args.calls,
                concurrency=args.concurrency,
                linger_ms=args.linger,
                msgs_per_s=round(args.calls / seconds),
                p50_ms=round(1000 * ordered[len(ordered) // 2], 2),
                client_us=round((client_after[0] - client_before[0]) * per_call),
                client_main_us=round((client_after[1] - client_before[1]) * per_call),
                agent_us=round((agent_after[0] - agent_before[0]) * per_call),
                agent_main_us=round((agent_after[1] - agent_before[1]) * per_call),
                client_switches=round((switches_after[0] - switches_before[0]) / args.calls, 2),
                agent_switches=round((switches_after[1] - switches_before[1]) / args.calls, 2),
                broker_us=round((broker_after - broker_before) * per_call) if broker else None,
                machine_busy=round((machine_after[0] - machine_before[0]) / (machine_after[1] - machine_before[1]), 2),
                load=round(os.getloadavg()[0], 1),
            )
            return result
        finally:
            await client.close()
            await caller.stop()
    finally:
        stop([process])
        # waited for: an admin client dropped at once may never send the request, leaving the topics behind
        deleting = AdminClient({"bootstrap.servers": endpoints.kafka}).delete_topics([*topics.all(), topics.agents])
        for future in deleting.values():
            with contextlib.suppress(Exception):
                future.result(15)


async def handle_only(count: int) -> tuple[float, float]:
    """CPU seconds and Python calls per call of ``A2AAgent.handle`` for ``count`` echo requests, Kafka left out."""
    from a2a.helpers import new_text_message
    from a2a.types import Role, SendMessageRequest

    from a2a_fast.a2a import A2AAgent
    from a2a_fast.a2a.binding import new_id
    from a2a_fast.a2a.builtin import EchoExecutor, echo_card
    from a2a_fast.agents.base import AgentConfig
    from a2a_fast.protocol.envelope import Inbound
    from a2a_fast.protocol.kinds import KIND_A2A_REQUEST
    from a2a_fast.protocol.topics import TopicNames

    config = AgentConfig("echo-handle", "127.0.0.1:1", "http://127.0.0.1:1", topics=TopicNames("handle."))
    agent = A2AAgent(config, EchoExecutor(), echo_card(), max_tasks=256)
    names = ("id", "source", "type", "specversion", "time", "sourceagent", "messagetype", "partitionkey")
    headers = [(f"ce_{name}", b"x" * 20) for name in names] + [("A2A-Version", b"1.0")]

    class Consumed:
        def headers(self) -> list[tuple[str, bytes]]:
            return headers

    answers: list[dict[str, Any]] = []

    async def publish(kind: str, record: dict[str, Any], **_: Any) -> None:
        answers.append(record)

    agent.handling = Consumed  # type: ignore[assignment,method-assign]
    agent.publish = publish  # type: ignore[method-assign]

    def request(number: int) -> Inbound:
        params = SendMessageRequest(message=new_text_message(f"echo {number}", role=Role.ROLE_USER))
        task_id, request_id = new_id(), new_id()
        record = {"task_id": task_id, "request_id": request_id, "requester_id": "client", "method": "SendMessage",
                  "agent": "Echo", "context_id": None, "continues": False, "text": f"echo {number}",
                  "params": params.SerializeToString(), "timestamp": 0}  # fmt: skip
        trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        return Inbound(KIND_A2A_REQUEST, record, new_id(), task_id, "client", None, None, trace, 1, "r", 0, number)

    for warm in [request(number) for number in range(500)]:
        await agent.handle(warm)
    requests = [request(number) for number in range(count)]
    started = time.thread_time()
    for one in requests:
        await agent.handle(one)
    seconds = time.thread_time() - started
    profiler = cProfile.Profile(time.thread_time)
    profiled = [request(number) for number in range(count, count + max(1, count // 4))]
    profiler.enable()
    for one in profiled:
        await agent.handle(one)
    profiler.disable()
    assert len(answers) == 500 + count + len(profiled), len(answers)
    assert all(answer["status"] == "COMPLETED" for answer in answers), answers[-1]
    return seconds / count, _calls_of(pstats.Stats(profiler)) / len(profiled)


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    if argv[:1] == ["handle"]:
        count = int(argv[1]) if len(argv) > 1 else 20000
        seconds, calls = asyncio.run(handle_only(count))
        print(json.dumps({"calls": count, "handle_us": round(seconds * 1e6, 1), "handle_calls_per_call": round(calls)}))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warm-up", type=int, default=500)
    parser.add_argument("--linger", type=float, default=1)
    parser.add_argument("--profile", help="a folder for the client's and the agent's profiles")
    parser.add_argument("--prefix", default="bench-a2a-cpu-")
    args = parser.parse_args(argv)
    import uvloop

    print(json.dumps(uvloop.run(measure(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
