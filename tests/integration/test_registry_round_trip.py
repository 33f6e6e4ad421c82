"""The stack end to end: a schema from schemas/ registered, a message in Confluent wire format through Kafka."""

from __future__ import annotations

import datetime as dt
import struct

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from a2a_fast.stack import Endpoints
from tests.conftest import SCHEMAS


def consume_one(endpoints: Endpoints, topic: str, timeout: float = 30.0) -> tuple[bytes | None, bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": endpoints.kafka,
            "group.id": f"{topic}-reader",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    try:
        message = consumer.poll(timeout)
        assert message is not None, f"nothing arrived on {topic} within {timeout}s"
        assert message.error() is None, message.error()
        value = message.value()
        assert value is not None
        return message.key(), value
    finally:
        consumer.close()


def test_task_request_round_trip_in_wire_format(endpoints: Endpoints, topic: str) -> None:
    with SchemaRegistryClient({"url": endpoints.schema_registry}) as registry:
        check_round_trip(endpoints, topic, registry)


def check_round_trip(endpoints: Endpoints, topic: str, registry: SchemaRegistryClient) -> None:
    schema_text = (SCHEMAS / "TaskRequest.avsc").read_text()
    serializer = AvroSerializer(registry, schema_text)
    deserializer = AvroDeserializer(registry)
    context = SerializationContext(topic, MessageField.VALUE)
    record = {
        "task_id": "task-1",
        "requester_id": "requester-1",
        "description": "summarise the quarterly report ✓",
        "capability": "summarize",
        "proposed_cost": 120.5,
        "priority": 2,
        "parameters": {"language": "en"},
        "timestamp": dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC),
    }

    producer = Producer({"bootstrap.servers": endpoints.kafka, "enable.idempotence": True})
    producer.produce(topic, key=b"task-1", value=serializer(record, context))
    assert producer.flush(30) == 0

    key, value = consume_one(endpoints, topic)
    magic, schema_id = struct.unpack(">bI", value[:5])
    registered = registry.get_latest_version(f"{topic}-value")

    assert key == b"task-1"
    assert magic == 0
    assert schema_id == registered.schema_id
    assert deserializer(value, context) == record
