"""``a2a-fast acl apply``: the roles' ACLs of one mesh, printed and created on the broker's authorizer."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_acl_parser"]

DESCRIPTION = """\
Print the ACLs each role of the mesh needs, create the mesh's topics that are missing, and create the ACLs on the
broker's own authorizer (run it with credentials that may: an administrator, a super user).

Each role's principal may write only the topics it produces on and read only the topics and consumer groups it
consumes; by default the principal of role R is User:R (the secured local stack's users). Existing ACLs are left
as they are. Kafka cannot tell a provider's task response from an executor's on one topic: the agents' record
signatures do (see the README, "Running secured").
"""


def add_acl_parser(commands: Any) -> argparse.ArgumentParser:
    from a2a_fast.cli.control import add_common_options

    parser: argparse.ArgumentParser = commands.add_parser(
        "acl",
        help="print and apply the roles' ACLs on the broker",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["apply"], help="apply prints the ACLs and creates them")
    add_common_options(parser)
    parser.add_argument(
        "--principal",
        action="append",
        default=[],
        metavar="ROLE=PRINCIPAL",
        help="the principal of a role, e.g. provider=User:svc-provider (repeat; default User:<role>)",
    )
    parser.add_argument("--dry-run", action="store_true", help="only print them")
    parser.add_argument(
        "--partitions", type=int, default=None, help="partitions of the topics it creates (default: the config's, 3)"
    )
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from a2a_fast.config import load_config
    from a2a_fast.errors import ConfigError
    from a2a_fast.mesh.directory import DIRECTORY_TOPIC_CONFIG
    from a2a_fast.protocol.topics import TopicNames
    from a2a_fast.stack import Endpoints
    from a2a_fast.transport.acls import apply_grants, grants, parse_principals
    from a2a_fast.transport.admin import ensure_topics
    from a2a_fast.transport.kafka import KafkaTransport

    if args.partitions is not None and args.partitions < 1:
        raise ConfigError(f"--partitions: must be at least 1, got {args.partitions}")
    topics = TopicNames(args.topic_prefix)
    wanted = grants(topics, parse_principals(args.principal))
    for grant in wanted:
        print(grant.line())
    if args.dry_run:
        return 0
    endpoints = Endpoints.from_env()
    transport = KafkaTransport.from_env(endpoints.kafka, endpoints.schema_registry)
    transport.check_reachable()
    protocol = load_config()
    created = ensure_topics(
        transport,
        topics.all(),
        partitions=args.partitions or protocol.topics.partitions,
        replication_factor=protocol.topics.replication_factor,
    )
    created += ensure_topics(transport, [topics.agents], partitions=1, config=dict(DIRECTORY_TOPIC_CONFIG))
    apply_grants(transport, wanted)
    made = f"; created topics {', '.join(created)}" if created else ""
    print(f"applied {len(wanted)} ACLs on Kafka at {transport.bootstrap}{made}")
    return 0
