"""Records that prove their sender: forged task messages change no task, whoever sends them.

A mesh whose agents sign what they send and require signatures; a forger writes, straight to the topics, what
ACLs alone cannot stop: a COMPLETED from a provider's key, an ACCEPTED from an executor's key, a counter-offer
from an executor's key, records with no signature, with a key nobody trusts, and in another agent's name.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

from a2a_fast._native import RecordSigner
from a2a_fast.agents.executor import Executor
from a2a_fast.agents.policies import BudgetPolicy, PricingPolicy
from a2a_fast.agents.provider import Provider
from a2a_fast.agents.requester import Requester
from a2a_fast.agents.tasks import TaskContext
from a2a_fast.history.tasks import read_log
from a2a_fast.protocol.envelope import Envelope, header_text
from a2a_fast.protocol.kinds import KIND_NEGOTIATION, KIND_TASK_RESPONSE
from a2a_fast.protocol.signing import RecordSigning, TrustedKey
from a2a_fast.transport.registry import SchemaCatalog
from tests.scenarios import Mesh, eventually
from tests.scenarios.routing import start_all, stop_all

__all__ = ["forged_records_change_no_task"]


def new_key() -> RecordSigner:
    return RecordSigner.from_seed(os.urandom(32))


def trust(entries: Sequence[tuple[RecordSigner, str, Sequence[str]]], required: bool = True) -> RecordSigning:
    keys = tuple(
        TrustedKey(key.key_id, agent, frozenset(roles), base64.b64encode(key.public_key).decode())
        for key, agent, roles in entries
    )
    return RecordSigning(None, keys, required)


class Forger:
    """Writes task messages straight to the topics, in any agent's name, signed with any key or none."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self.catalog = SchemaCatalog(mesh.transport, mesh.topics)
        self.catalog.register()
        self.producer = mesh.transport.producer({"client.id": "forger"})
        self.sent: dict[str, str] = {}
        """ce_id → what was forged."""

    def send(
        self,
        what: str,
        kind: str,
        record: dict[str, Any],
        *,
        posing_as: str,
        key: RecordSigner | None,
        target_agent: str | None = None,
        target_group: str | None = None,
    ) -> None:
        envelope = Envelope(self.catalog, self.mesh.topics, posing_as)
        topic, record_key, headers, value = envelope.encode_parts(
            kind, record, target_agent=target_agent, target_group=target_group
        )
        if key is not None:
            key.sign_into(record_key, headers, value)
        event_id = header_text(headers, "ce_id")
        assert event_id is not None
        self.sent[event_id] = what
        self.producer.produce(topic, value, record_key, headers=headers)
        self.producer.flush(10)

    def close(self) -> None:
        self.catalog.close()


def response(task_id: str, status: str, responder: str, **fields: Any) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "responder_id": responder,
        "status": status,
        "counter_offer": None,
        "agreed_cost": None,
        "message": None,
        "progress": None,
        "result": None,
        "capability": "summarize",
        "description": "forged",
        "parameters": {},
        "round": 0,
        "timestamp": int(time.time() * 1000),
        **fields,
    }


def authorization_refusals(mesh: Mesh) -> dict[str, str]:
    """ce_id → reason of every record dead-lettered for authorization."""
    found = {}
    for record in mesh.raw(mesh.topics.dlq):
        headers = record.headers()
        if header_text(headers, "dlq.stage") == "authorization":
            found[header_text(headers, "ce_id") or ""] = header_text(headers, "dlq.reason") or ""
    return found


async def forged_records_change_no_task(mesh: Mesh) -> None:
    """While a task runs, a forger claims it COMPLETED (with a provider's key, no key, an untrusted key, in the
    executor's name), counter-offers with an executor's key, and ACCEPTs new tasks with an executor's key or none.
    Every forgery is dead-lettered for authorization; the task ends COMPLETED by its executor with the real
    result after no negotiation, the forged tasks never run, and the history shows none of it."""
    requester_key, provider_key, executor_key = new_key(), new_key(), new_key()
    rogue_provider, rogue_executor, stranger = new_key(), new_key(), new_key()
    signing = trust(
        [
            (requester_key, "requester-1", ["requester"]),
            (provider_key, "provider-1", ["provider"]),
            (executor_key, "executor-1", ["executor"]),
            (rogue_provider, "provider-2", ["provider"]),
            (rogue_executor, "executor-2", ["executor"]),
        ]
    )
    signed = mesh.signed(signing)
    release = asyncio.Event()
    ran: list[str] = []

    async def slow_summary(task: TaskContext) -> dict[str, str]:
        ran.append(task.task_id)
        await release.wait()
        return {"summary": "the real one"}

    requester = Requester(
        signed.config("requester-1", signing=signing.with_signer(requester_key)), BudgetPolicy(max_rounds=4)
    )
    provider = Provider(
        signed.config("provider-1", signing=signing.with_signer(provider_key)), {"summarize": 10.0}, PricingPolicy()
    )
    executor = Executor(
        signed.config("executor-1", signing=signing.with_signer(executor_key)),
        {"summarize": slow_summary},
        serve_steps=False,
    )
    await start_all(executor, provider, requester)
    forger = Forger(signed)
    try:
        task_id = await requester.submit("Summarise", 20.0, capability="summarize", budget=50.0)
        await eventually(lambda: task_id in ran, 30, "the executor runs the task")
        target = {"target_agent": "requester-1"}
        forger.send(
            "COMPLETED by a provider's key",
            KIND_TASK_RESPONSE,
            response(task_id, "COMPLETED", "provider-2", result='{"summary": "forged"}'),
            posing_as="provider-2",
            key=rogue_provider,
            **target,
        )
        forger.send(
            "COMPLETED unsigned",
            KIND_TASK_RESPONSE,
            response(task_id, "COMPLETED", "executor-1", result='{"summary": "forged"}'),
            posing_as="executor-1",
            key=None,
            **target,
        )
        forger.send(
            "COMPLETED by an untrusted key",
            KIND_TASK_RESPONSE,
            response(task_id, "COMPLETED", "executor-1", result='{"summary": "forged"}'),
            posing_as="executor-1",
            key=stranger,
            **target,
        )
        forger.send(
            "COMPLETED in the executor's name with another executor's key",
            KIND_TASK_RESPONSE,
            response(task_id, "COMPLETED", "executor-1", result='{"summary": "forged"}'),
            posing_as="executor-1",
            key=rogue_executor,
            **target,
        )
        forger.send(
            "counter-offer by an executor's key",
            KIND_TASK_RESPONSE,
            response(task_id, "NEGOTIATING", "executor-2", counter_offer=45.0, round=3),
            posing_as="executor-2",
            key=rogue_executor,
            **target,
        )
        forger.send(
            "turn in the requester's name by a provider's key",
            KIND_NEGOTIATION,
            {
                "task_id": task_id,
                "round": 1,
                "from_agent": "requester-1",
                "to_agent": "provider-1",
                "action": "REJECT",
                "offer": None,
                "reason": "forged",
                "capability": "summarize",
                "description": "forged",
                "parameters": {},
                "timestamp": int(time.time() * 1000),
            },
            posing_as="requester-1",
            key=rogue_provider,
            target_agent="provider-1",
            target_group=provider.group_id,
        )
        forged_tasks = [uuid.uuid4().hex, uuid.uuid4().hex]
        forger.send(
            "ACCEPTED by an executor's key",
            KIND_TASK_RESPONSE,
            response(forged_tasks[0], "ACCEPTED", "executor-2", agreed_cost=1.0),
            posing_as="executor-2",
            key=rogue_executor,
            target_agent="requester-1",
            target_group=executor.group_id,
        )
        forger.send(
            "ACCEPTED unsigned in the provider's name",
            KIND_TASK_RESPONSE,
            response(forged_tasks[1], "ACCEPTED", "provider-1", agreed_cost=1.0),
            posing_as="provider-1",
            key=None,
            target_agent="requester-1",
            target_group=executor.group_id,
        )
        refused: dict[str, str] = {}

        async def all_refused() -> None:
            nonlocal refused
            while True:
                refused = await asyncio.get_running_loop().run_in_executor(None, authorization_refusals, signed)
                if set(forger.sent) <= set(refused):
                    return
                await asyncio.sleep(0.3)

        await asyncio.wait_for(all_refused(), 45)
        expected = {
            "COMPLETED by a provider's key": "may not emit a2a.task.response COMPLETED",
            "COMPLETED unsigned": "unsigned record",
            "COMPLETED by an untrusted key": "unknown key",
            "COMPLETED in the executor's name with another executor's key": "is not the signer",
            "counter-offer by an executor's key": "may not emit a2a.task.response NEGOTIATING",
            "turn in the requester's name by a provider's key": "is not the signer",
            "ACCEPTED by an executor's key": "may not emit a2a.task.response ACCEPTED",
            "ACCEPTED unsigned in the provider's name": "unsigned record",
        }
        for event_id, what in forger.sent.items():
            assert expected[what] in refused[event_id], (what, refused[event_id])

        pending = {request.task_id: request for request in requester.get_pending_requests()}
        assert pending[task_id].state == "RUNNING", pending[task_id]
        assert pending[task_id].rounds == 0

        release.set()
        outcome = await asyncio.wait_for(requester.outcome(task_id), 30)
        assert outcome.status == "COMPLETED"
        assert outcome.result == {"summary": "the real one"}
        assert (outcome.executor, outcome.provider, outcome.rounds) == ("executor-1", "provider-1", 0)
        assert ran == [task_id], "a forged ACCEPTED was run"

        catalog = SchemaCatalog(signed.transport, signed.topics)
        catalog.load_readers()
        try:
            history = await asyncio.get_running_loop().run_in_executor(
                None, lambda: read_log(signed.transport, catalog, signed.topics)
            )
        finally:
            catalog.close()
        assert set(history.tasks) == {task_id}
        task = history.tasks[task_id]
        assert (task.state, task.executor, task.rounds) == ("COMPLETED", "executor-1", 0)
        assert all(entry.agent in ("requester-1", "provider-1", "executor-1") for entry in task.timeline)
    finally:
        release.set()
        forger.close()
        await stop_all(executor, provider, requester)
