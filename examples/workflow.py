"""A two-step workflow run by a coordinator over two executors.

The workflow ``headline`` first shortens a text to a headline (capability ``headline``), then checks that
headline's style (capability ``style``), the first step's output being the second step's input. Each executor
runs one of the steps: the coordinator finds a live agent for each step's capability in the mesh's directory,
sends it the step and follows the session on the log. Prints each step with the agent that ran it and its
output; exits 0 when the session is COMPLETED.

Broker, registry and ``--topic-prefix`` as in ``custom_handler.py``::

    python examples/workflow.py
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any

import uvloop

from a2a_fast import (
    A2AError,
    AgentConfig,
    Coordinator,
    Endpoints,
    Executor,
    TaskContext,
    TopicNames,
    WorkflowDefinition,
    WorkflowStep,
)

HEADLINE = WorkflowDefinition(
    "headline",
    "Headline",
    "Shorten a text (parameter 'text') to a headline, then check the headline's style",
    [
        WorkflowStep("shorten", "Cut the text to its first words", ["headline"], params={"words": "6"}, timeout=30),
        WorkflowStep("check", "Check the headline's style", ["style"], timeout=30, retries=1),
    ],
)


async def shorten(task: TaskContext) -> dict[str, Any]:
    """Step 1: the session's parameters and the step's own ``params`` arrive as ``task.parameters``."""
    words = task.parameters["text"].split()[: int(task.parameters["words"])]
    return {"headline": " ".join(words).rstrip(".,;:").title()}


async def check_style(task: TaskContext) -> dict[str, Any]:
    """Step 2: the previous step's output is ``task.previous_output``."""
    headline = task.previous_output["headline"]
    return {"headline": headline, "length": len(headline), "fits": len(headline) <= 60}


async def main(prefix: str) -> int:
    endpoints = Endpoints.from_env()
    topics = TopicNames(prefix)

    def config(agent_id: str) -> AgentConfig:
        return AgentConfig(agent_id, endpoints.kafka, endpoints.schema_registry, topics=topics)

    writer = Executor(config("executor-writer"), {"headline": shorten})
    editor = Executor(config("executor-editor"), {"style": check_style})
    coordinator = Coordinator(config("coordinator-1"), workflows=[HEADLINE])
    async with writer, editor, coordinator:
        text = "Quarterly revenue grew by twelve percent while costs stayed flat across all regions."
        session_id = await coordinator.start_collaboration("headline", params={"text": text})
        status = await coordinator.wait_for(session_id)
    print(f"session {session_id} of {status.workflow_id}: {status.state}")
    for step in status.steps:
        print(f"  {step.name:<8} {step.state:<10} on {step.agent}: {step.output if step.error is None else step.error}")
    print(f"output: {status.output}")
    return 0 if status.state == "COMPLETED" else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic-prefix", default=f"example-{uuid.uuid4().hex[:8]}.", help="topic namespace")
    try:
        sys.exit(uvloop.run(main(parser.parse_args().topic_prefix)))
    except A2AError as error:
        sys.exit(f"workflow: {error}")
