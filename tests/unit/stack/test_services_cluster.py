"""``LocalStack(brokers=3)``: three KRaft nodes on their own ports and state, replicated three times with a
majority in sync (started and killed for real in tests/integration/test_cluster.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from a2a_fast.errors import StackError
from a2a_fast.stack import LocalStack
from a2a_fast.stack.services import ClusterBroker


def test_the_cluster_is_three_nodes_of_one_quorum_replicating_everything(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, 40000, 40100, 40200, brokers=3)
    assert [broker.name for broker in stack.brokers] == ["kafka-1", "kafka-2", "kafka-3"]
    assert stack.endpoints().kafka == "127.0.0.1:40000,127.0.0.1:40001,127.0.0.1:40002"
    assert stack.environment()["KAFKA_BROKER"] == stack.endpoints().kafka
    for node, broker in enumerate(stack.brokers, start=1):
        assert isinstance(broker, ClusterBroker)
        settings = broker._settings()
        assert settings["node.id"] == str(node)
        assert settings["listeners"].startswith(f"PLAINTEXT://127.0.0.1:{40000 + node - 1},")
        assert settings["controller.quorum.voters"] == "1@127.0.0.1:40100,2@127.0.0.1:40101,3@127.0.0.1:40102"
        assert (settings["default.replication.factor"], settings["min.insync.replicas"]) == ("3", "2")
        assert settings["offsets.topic.replication.factor"] == "3"
        assert settings["transaction.state.log.min.isr"] == "2"
    assert len({broker.cluster_id() for broker in stack.brokers}) == 1
    assert [service.name for service, _ in stack._managed()] == ["kafka-1", "kafka-2", "kafka-3", "schema-registry"]


def test_the_stack_runs_one_or_three_brokers(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="1 or 3 brokers, not 2"):
        LocalStack(tmp_path, brokers=2)
    with pytest.raises(StackError, match="leave out --secure"):
        LocalStack(tmp_path, brokers=3, secure=True)
    assert LocalStack(tmp_path).brokers == []
