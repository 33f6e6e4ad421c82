"""The ``a2a-fast`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from a2a_fast.errors import A2AError

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def _stack(args: argparse.Namespace) -> int:
    from a2a_fast.stack import LocalStack

    stack = LocalStack()
    if args.action == "up":
        started = time.monotonic()
        print("starting the local stack (first run fetches the jars with Maven)...", flush=True)
        if any(status.state == "stopped" for status in stack.status()):
            from a2a_fast.stack.java import find_java

            print(find_java().line(), flush=True)
        statuses = stack.up()
        for status in statuses:
            print(status.line())
        print(f"ready in {time.monotonic() - started:.1f}s")
    elif args.action == "down":
        stopped = stack.down()
        print("stopped: " + ", ".join(stopped) if stopped else "nothing to stop: no service started by a2a-fast")
    else:
        for status in stack.status():
            print(status.line())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from a2a_fast.cli.demo import run

    return run(args)


def _agent(args: argparse.Namespace) -> int:
    from a2a_fast.cli.agents import run_agent

    return run_agent(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="a2a-fast", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    stack = commands.add_parser("stack", help="run the local Kafka broker and schema registry")
    stack.add_argument("action", choices=["up", "down", "status"])
    stack.set_defaults(handler=_stack)

    demo = commands.add_parser("demo", help="run the agent scenario: 2 providers, 2 executors, a requester")
    demo.add_argument("--json", action="store_true", help="print the final summary as one JSON object")
    demo.add_argument("--tasks", type=int, default=12, help="how many tasks the requester asks for")
    demo.add_argument("--topic-prefix", default=None, help="topic namespace (default: a fresh one per run)")
    demo.add_argument("--keep-topics", action="store_true", help="do not delete the run's topics at the end")
    demo.add_argument(
        "--keep-stack", action="store_true", help="leave running a Kafka/registry the demo had to start itself"
    )
    demo.add_argument("--console", action="store_true", help="serve the web console of the run while it lasts")
    demo.add_argument("--console-port", type=int, default=8090, help="the console's port (default 8090, else any)")
    demo.add_argument(
        "--console-linger",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="with --console: keep the agents and the console up this long after the run, to look around",
    )
    demo.set_defaults(handler=_demo)

    from a2a_fast.cli.agents import add_agent_parser
    from a2a_fast.cli.console import add_console_parser
    from a2a_fast.cli.control import add_control_parsers

    add_agent_parser(commands).set_defaults(handler=_agent)
    add_control_parsers(commands)
    add_console_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except A2AError as error:
        print(f"a2a-fast: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
