"""The agent directory's claim rules."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from a2a_fast.codecs.cloudevents import to_kafka
from a2a_fast.config import HeartbeatConfig, MeshConfig, ProtocolConfig
from a2a_fast.errors import (
    AgentIdInUseError,
    MaxAgentsError,
)
from a2a_fast.history.tasks import format_time
from a2a_fast.mesh import AgentCard, AgentDirectory
from a2a_fast.mesh.directory import DEREGISTER, HEARTBEAT, REGISTER, Incarnation

NOW = 1_700_000_000.0


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


def record(
    kind: str, agent_id: str, instance: str, at: float, incarnation: dict[str, str] | None = None
) -> tuple[Any, Any, Any]:
    data: dict[str, Any] = {"card": AgentCard(agent_id, "worker").to_json(), "state": {"status": "IDLE"}}
    if incarnation is not None:
        data["incarnation"] = incarnation
    event = {
        "specversion": "1.0",
        "id": f"{agent_id}-{instance}-{at}",
        "source": f"a2a://agents/{agent_id}",
        "type": kind,
        "time": iso(at),
        "datacontenttype": "application/json",
        "instanceid": instance,
        "partitionkey": agent_id,
        "data": data,
    }
    return to_kafka(event)


def test_directory_claim_rules() -> None:
    config = ProtocolConfig(heartbeat=HeartbeatConfig(1.0, 10.0), mesh=MeshConfig(max_agents=2))
    directory = AgentDirectory("unused:9092", "agents", config)

    def apply(kind: str, agent_id: str, instance: str, at: float) -> None:
        key, headers, value = record(kind, agent_id, instance, at)
        directory._apply(key, headers, value)

    apply(REGISTER, "a", "i1", NOW)
    apply(REGISTER, "a", "i2", NOW + 5)  # i1 alive at that time
    assert isinstance(directory.refusal("a", "i2"), AgentIdInUseError)
    apply(DEREGISTER, "a", "i2", NOW + 6)  # not the holder's: ignored
    assert directory._agents["a"].instance == "i1"
    apply(REGISTER, "a", "i3", NOW + 20)  # i1 silent for longer than the timeout: a restart
    assert directory.refusal("a", "i3") is None and directory._agents["a"].instance == "i3"
    apply(HEARTBEAT, "b", "j1", NOW + 21)  # only a heartbeat left after compaction: still a member
    apply(REGISTER, "c", "k1", NOW + 22)
    assert isinstance(directory.refusal("c", "k1"), MaxAgentsError)
    apply(DEREGISTER, "a", "i3", NOW + 23)
    apply(REGISTER, "c", "k2", NOW + 24)
    assert sorted(directory._agents) == ["b", "c"]
    directory._apply(b"b", [], None)  # tombstone
    assert sorted(directory._agents) == ["c"]


class DirectoryRecord:
    """A record of the directory topic as the consumer gives it, stamped by the broker at ``at`` (epoch seconds)."""

    def __init__(self, offset: int, kind: str | None, agent_id: str, at: float) -> None:
        from a2a_fast.codecs.cloudevents import to_kafka

        self._offset, self._stamp = offset, round(at * 1000)
        if kind is None:  # a tombstone
            self._key, self._headers, self._value = agent_id.encode(), [], None
            return
        event = {
            "specversion": "1.0", "id": f"{agent_id}-{offset}", "source": f"a2a://agents/{agent_id}", "type": kind,
            "time": format_time(self._stamp), "datacontenttype": "application/json", "instanceid": "i1",
            "partitionkey": agent_id,
            "data": {"card": AgentCard(agent_id, "worker").to_json(), "state": {"status": "BUSY", "load": offset}},
        }  # fmt: skip
        self._key, self._headers, self._value = to_kafka(event)

    def error(self) -> None:
        return None

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, self._stamp)

    def key(self) -> Any:
        return self._key

    def headers(self) -> Any:
        return self._headers

    def value(self) -> Any:
        return self._value


def test_the_directory_as_of_a_time_ignores_later_records_and_judges_liveness_then() -> None:
    from a2a_fast.config import HeartbeatConfig, ProtocolConfig
    from a2a_fast.mesh.directory import DEREGISTER, HEARTBEAT, REGISTER, AgentDirectory

    start = 1_700_000_000.0  # long past, so that now every agent is silent
    config = ProtocolConfig(heartbeat=HeartbeatConfig(1.0, 10.0))
    records = [
        DirectoryRecord(0, REGISTER, "a", start),
        DirectoryRecord(1, REGISTER, "b", start + 1),
        DirectoryRecord(2, HEARTBEAT, "a", start + 5),
        DirectoryRecord(3, DEREGISTER, "b", start + 30),
        DirectoryRecord(4, None, "b", start + 30),
    ]

    def as_of(moment: float | None) -> dict[str, tuple[bool, int]]:
        directory = AgentDirectory("unused:9092", "agents", config, as_of=moment)
        directory._apply_batch(records)
        return {info.agent_id: (info.alive, info.load) for info in directory.get_all_agents()}

    assert as_of(start + 2) == {"a": (True, 0), "b": (True, 1)}
    assert as_of(start + 12) == {"a": (True, 2), "b": (False, 1)}  # b silent for 11 s by then
    assert as_of(start + 31) == {"a": (False, 2)}  # b deregistered
    assert as_of(None) == {"a": (False, 2)}  # judged now


def test_incarnation_file_hands_its_secret_to_the_next_process_only(tmp_path: Path) -> None:
    place = tmp_path / "incarnations" / "worker.json"
    first = Incarnation(place)
    assert first.begin() and first.previous == []
    twin = Incarnation(place)
    assert not twin.begin()  # locked by a live process: no secret for it
    assert twin.takeover(first.successor) is None
    first.end()  # what the process's death does to the lock
    second = Incarnation(place)
    assert second.begin()
    assert second.takeover(first.successor) == first.secret
    assert second.takeover(second.successor) is None  # its own secret stays in the file, for the next one
    assert second.takeover("0" * 64) is None
    second.end()


def test_directory_hands_a_live_claim_over_only_to_the_secret_of_its_successor() -> None:
    config = ProtocolConfig(heartbeat=HeartbeatConfig(1.0, 10.0))
    directory = AgentDirectory("unused:9092", "agents", config)
    secret = "s" * 64
    successor = hashlib.sha256(secret.encode()).hexdigest()

    def apply(kind: str, instance: str, at: float, incarnation: dict[str, str] | None = None) -> None:
        key, headers, value = record(kind, "a", instance, at, incarnation)
        directory._apply(key, headers, value)

    apply(REGISTER, "i1", NOW, {"successor": successor})
    apply(REGISTER, "i2", NOW + 1, {"successor": "x", "takeover": "wrong"})  # i1 alive, no proof
    assert isinstance(directory.refusal("a", "i2"), AgentIdInUseError)
    apply(HEARTBEAT, "i9", NOW + 2, {"successor": "x", "takeover": secret})  # only a REGISTER takes over
    assert directory._agents["a"].instance == "i1"
    apply(REGISTER, "i3", NOW + 3, {"successor": "y", "takeover": secret})
    assert directory.refusal("a", "i3") is None and directory._agents["a"].instance == "i3"
    assert directory.successor("a") == "y"
    apply(REGISTER, "i4", NOW + 4, {"successor": "z", "takeover": secret})  # a spent secret proves nothing now
    assert isinstance(directory.refusal("a", "i4"), AgentIdInUseError)
