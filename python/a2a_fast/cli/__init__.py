"""The ``a2a-fast`` command line: :func:`build_parser` describes it, :func:`main` runs it."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence

from a2a_fast.errors import A2AError, ConfigError
from a2a_fast.redaction import redact

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def _stack(args: argparse.Namespace) -> int:
    from a2a_fast.stack import LocalStack, export_lines

    if (args.user != "admin" or args.mtls) and not args.secure:
        raise ConfigError("--user and --mtls are for the secured stack: add --secure")
    stack = LocalStack(secure=args.secure, brokers=args.brokers)
    if args.action == "env":
        for line in export_lines(stack.environment(args.user, args.mtls)):
            print(line)
        return 0
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
        if args.secure:
            print(f'\n# to use it as {args.user} (or: eval "$(a2a-fast stack env --secure [--user ROLE] [--mtls])"):')
            for line in export_lines(stack.environment(args.user, args.mtls)):
                print(line)
            print("# users: admin (the operator, a super user), requester, provider, executor, coordinator;")
            print("# apply the roles' ACLs with: a2a-fast acl apply")
        if args.brokers > 1:
            print(f'\n# to use it (or: eval "$(a2a-fast stack env --brokers {args.brokers})"):')
            for line in export_lines(stack.environment()):
                print(line)
            print("# agents: set topics.replication_factor: 3 in their config file (--config or A2A_FAST_CONFIG)")
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


DESCRIPTION = """\
a2a-fast runs and operates an agent mesh over Kafka: a local broker and schema registry, agents as
processes, and commands that request tasks and read the log.
"""
EPILOG = """\
Run 'a2a-fast COMMAND --help' for a command's options.
Shell completion: eval "$(a2a-fast completion bash)" (or zsh).
"""


def _completion(args: argparse.Namespace) -> int:
    from a2a_fast.cli.completion import script

    print(script(build_parser(), args.shell), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="a2a-fast", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = commands.add_parser(name, help=help_text, description=help_text)
        return made

    stack = command("stack", "run the local Kafka broker and schema registry")
    stack.add_argument(
        "action",
        choices=["up", "down", "status", "env"],
        help="up starts them, down stops what up started, status shows, env prints the shell's export lines",
    )
    stack.add_argument(
        "--secure",
        action="store_true",
        help="the secured stack: SASL_SSL (SCRAM) and mutual-TLS listeners with ACLs, the registry over HTTPS with"
        " a password; its own ports and state, beside the plain one",
    )
    stack.add_argument(
        "--brokers",
        type=int,
        choices=[1, 3],
        default=1,
        help="3: a replicated KRaft cluster on loopback (replication factor 3, min.insync.replicas=2) on its own"
        " ports (39092-39094, registry 38081) and state, beside the single broker",
    )
    stack.add_argument(
        "--user", default="admin", help="with --secure: whose credentials env and up print (default admin)"
    )
    stack.add_argument(
        "--mtls", action="store_true", help="with --secure: connect over mutual TLS with the user's certificate"
    )
    stack.set_defaults(handler=_stack)

    demo = command("demo", "run the agent scenario: 2 providers, 2 executors, a requester and a coordinator")
    demo.add_argument("--json", action="store_true", help="print the final summary as one JSON object")
    demo.add_argument("--tasks", type=int, default=12, help="how many tasks the requester asks for")
    demo.add_argument("--topic-prefix", default=None, help="topic namespace (default: a fresh one per run)")
    demo.add_argument("--keep-topics", action="store_true", help="do not delete the run's topics at the end")
    demo.add_argument(
        "--keep-stack", action="store_true", help="leave running a Kafka/registry the demo had to start itself"
    )
    demo.add_argument("--console", action="store_true", help="serve the web console of the run while it lasts")
    from a2a_fast.cli.control import add_kafka_config_option

    add_kafka_config_option(demo)
    demo.add_argument("--console-port", type=int, default=8090, help="the console's port (default 8090, else any)")
    demo.add_argument(
        "--console-linger",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="with --console: keep the agents and the console up this long after the run, to look around",
    )
    demo.set_defaults(handler=_demo)

    from a2a_fast.cli.acl import add_acl_parser
    from a2a_fast.cli.agents import add_agent_parser
    from a2a_fast.cli.completion import SHELLS
    from a2a_fast.cli.console import add_console_parser
    from a2a_fast.cli.control import add_control_parsers
    from a2a_fast.cli.keys import add_keys_parser

    add_agent_parser(commands).set_defaults(handler=_agent)
    add_control_parsers(commands)

    completion = command("completion", "print a shell completion script for bash or zsh")
    completion.add_argument("shell", choices=SHELLS, help="the shell the script is for")
    completion.epilog = 'Enable it in the shell\'s start-up file: eval "$(a2a-fast completion bash)"'
    completion.set_defaults(handler=_completion)
    add_console_parser(commands)
    add_acl_parser(commands)
    add_keys_parser(commands)
    return parser


STATUS_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), except for ``tail``, which Ctrl-C ends normally."""
STATUS_READER_GONE = 141
"""Exit status when stdout's reader went away (``a2a-fast tasks | head -1``): 128 + SIGPIPE, as other tools."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    kafka_config = getattr(args, "kafka_config", None)
    if kafka_config:
        from a2a_fast.transport.security import KAFKA_CONFIG_ENV

        # The option is the variable, for every client of this process and the agents it starts.
        os.environ[KAFKA_CONFIG_ENV] = kafka_config
    try:
        status = handler(args)
        sys.stdout.flush()  # a reader gone away shows here, not as a warning at exit
        return status
    except BrokenPipeError:
        # The reader of stdout has gone (`| head`): nothing more can be said there. Pointing stdout at
        # /dev/null lets the interpreter's last flush succeed instead of printing "Exception ignored".
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return STATUS_READER_GONE
    except A2AError as error:
        print(f"a2a-fast: {redact(str(error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return STATUS_INTERRUPTED
