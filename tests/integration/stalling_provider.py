"""A provider process for the crash tests: ``python -m tests.integration.stalling_provider KAFKA REGISTRY PREFIX
[--transactional] [--stall]``. With ``--stall`` it answers the first request, flushes the answer to the broker,
prints ``AWARDED <task id>`` and never finishes handling that request, so that it can be killed between
producing an award and committing the request's offset. It prints ``READY`` once it consumes."""

from __future__ import annotations

import argparse
import asyncio
import sys

import uvloop

from a2a_fast.agents.base import AgentConfig, serve
from a2a_fast.agents.provider import Provider
from a2a_fast.protocol.envelope import Inbound
from a2a_fast.protocol.topics import TopicNames


class StallingProvider(Provider):
    stall = False

    async def handle(self, message: Inbound) -> None:
        await super().handle(message)
        if self.stall and self.producer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.producer.client.flush, 10)
            print(f"AWARDED {message.task_id}", flush=True)
            await asyncio.Event().wait()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kafka")
    parser.add_argument("registry")
    parser.add_argument("prefix")
    parser.add_argument("--transactional", action="store_true")
    parser.add_argument("--stall", action="store_true")
    args = parser.parse_args()
    config = AgentConfig(
        "provider-1",
        args.kafka,
        args.registry,
        topics=TopicNames(args.prefix),
        transactional=args.transactional,
        dedupe_size=0,
        join_mesh=False,
    )
    provider = StallingProvider(config, {"summarize": 10.0})
    provider.stall = args.stall
    return uvloop.run(serve(provider, lambda _agent: print("READY", flush=True)))


if __name__ == "__main__":
    sys.exit(main())
