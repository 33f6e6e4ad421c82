"""A restarted local broker keeps its data."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from a2a_fast.stack.services import KafkaBroker
from a2a_fast.transport.admin import ensure_topics
from tests.unit.test_stack import free_port


@pytest.mark.slow
def test_a_restarted_broker_keeps_its_messages(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path, port=free_port(), controller_port=free_port())
    broker.start()
    try:
        ensure_topics(broker.address, ["kept"], partitions=1)
        producer = Producer({"bootstrap.servers": broker.address, "acks": "all"})
        producer.produce("kept", key=b"k", value=b"survives a restart")
        assert producer.flush(30) == 0

        broker.stop()
        assert broker.status().state == "stopped"
        broker.start()

        consumer = Consumer(
            {"bootstrap.servers": broker.address, "group.id": "kept-reader", "auto.offset.reset": "earliest"}
        )
        consumer.subscribe(["kept"])
        try:
            message = consumer.poll(30)
        finally:
            consumer.close()
        assert message is not None and message.error() is None
        assert message.value() == b"survives a restart"
    finally:
        broker.stop()
