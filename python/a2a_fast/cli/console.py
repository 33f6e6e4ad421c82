"""``a2a-fast console``: the web console of one mesh, read-only, on 127.0.0.1:8090 by default."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from a2a_fast.errors import StackError

if TYPE_CHECKING:
    from a2a_fast.console.server import ConsoleServer

__all__ = ["add_console_parser", "check_services", "console_server"]


def add_console_parser(commands: Any) -> argparse.ArgumentParser:
    from a2a_fast.cli.control import add_common_options, add_logging_options
    from a2a_fast.console import DEFAULT_PORT
    from a2a_fast.console.model import DEFAULT_RETAINED_TASKS

    text = "serve a read-only web console of the mesh: agents, tasks, negotiations, workflows, dead letters, charts"
    parser: argparse.ArgumentParser = commands.add_parser("console", help=text, description=text)
    add_common_options(parser)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to serve on (default {DEFAULT_PORT})")
    parser.add_argument(
        "--host",
        default=os.environ.get("A2A_FAST_HTTP_HOST", "127.0.0.1"),
        help="address to bind (default 127.0.0.1, or A2A_FAST_HTTP_HOST)",
    )
    parser.add_argument(
        "--retained-tasks",
        type=int,
        default=DEFAULT_RETAINED_TASKS,
        metavar="N",
        help=f"ended tasks whose timelines it keeps; counts include older ones (default {DEFAULT_RETAINED_TASKS})",
    )
    add_logging_options(parser)
    parser.set_defaults(handler=run)
    return parser


def check_services(kafka: str, schema_registry: str, timeout: float = 5.0) -> None:
    """Raises StackError, naming the setting and the address, when the broker or the registry does not answer."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    # Quiet: a broker that is down is this one line, not the client's retries on stderr.
    admin = AdminClient({"bootstrap.servers": kafka, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as error:
        raise StackError(f"cannot reach Kafka at {kafka} (KAFKA_BROKER): {error.args[0].str()}") from None
    try:
        with urllib.request.urlopen(schema_registry.rstrip("/") + "/subjects", timeout=timeout):
            pass
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise StackError(
            f"cannot reach the schema registry at {schema_registry} (SCHEMA_REGISTRY_URL): {reason}"
        ) from None


def console_server() -> type[ConsoleServer]:
    """The console's server class; ConfigError saying what to install when Starlette or uvicorn is missing."""
    from a2a_fast.errors import ConfigError

    try:
        from a2a_fast.console.server import ConsoleServer
    except ImportError as error:
        raise ConfigError(
            f"the console needs Starlette and uvicorn (pip install 'a2a-fast[console]'): {error}"
        ) from None
    return ConsoleServer


def run(args: argparse.Namespace) -> int:
    import uvloop

    from a2a_fast.errors import ConfigError
    from a2a_fast.observability.logs import configure_logging
    from a2a_fast.protocol.topics import TopicNames
    from a2a_fast.stack import Endpoints

    if not 0 <= args.port < 65536:
        raise ConfigError(f"--port {args.port}: expected 0 to 65535")
    if args.retained_tasks < 1:
        raise ConfigError(f"--retained-tasks {args.retained_tasks}: expected a count >= 1")
    server_class = console_server()
    configure_logging(json=args.log_json, level=args.log_level.upper())
    endpoints = Endpoints.from_env()
    check_services(endpoints.kafka, endpoints.schema_registry)
    topics = TopicNames(args.topic_prefix)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, stopping.set)
        console = server_class(endpoints, topics, host=args.host, port=args.port, retained_tasks=args.retained_tasks)
        async with console:
            print(
                f"console {console.url} (mesh on {topics.prefix or 'no prefix'}, kafka {endpoints.kafka});"
                " Ctrl-C to stop",
                flush=True,
            )
            await stopping.wait()

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve())
    return 0
