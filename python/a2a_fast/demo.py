"""``a2a-fast demo``: the stack end to end — schemas registered, task requests through Kafka and back."""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path
from typing import Any

from a2a_fast.stack import ensure_up
from a2a_fast.topics import TASK_REQUESTS, ensure_topics

SCHEMAS = Path(__file__).resolve().parent / "schemas"


def run(args: argparse.Namespace) -> int:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    say = (lambda *_: None) if args.json else print
    started = time.monotonic()
    endpoints, launched = ensure_up()
    say(
        f"kafka {endpoints.kafka}  schema registry {endpoints.schema_registry}  (started now: {launched or 'none'})"
    )
    ensure_topics(endpoints.kafka, [TASK_REQUESTS])

    run_id = uuid.uuid4().hex[:8]
    tasks: list[dict[str, Any]] = [
        {
            "task_id": f"{run_id}-{n}",
            "requester_id": "demo-requester",
            "description": description,
            "capability": capability,
            "proposed_cost": cost,
            "priority": 1,
            "parameters": {},
            "timestamp": int(time.time() * 1000),
        }
        for n, (description, capability, cost) in enumerate(
            [
                ("Summarise the quarterly report", "summarize", 120.0),
                ("Translate the release notes to German", "translate", 80.0),
                ("Classify 500 support tickets", "classify", None),
            ]
        )
    ]
    context = SerializationContext(TASK_REQUESTS, MessageField.VALUE)
    with SchemaRegistryClient({"url": endpoints.schema_registry}) as registry:
        serializer = AvroSerializer(registry, (SCHEMAS / "TaskRequest.avsc").read_text(), conf={})
        deserializer = AvroDeserializer(registry)
        producer = Producer({"bootstrap.servers": endpoints.kafka, "enable.idempotence": True, "acks": "all"})
        for task in tasks:
            producer.produce(TASK_REQUESTS, key=task["task_id"].encode(), value=serializer(task, context))
        producer.flush(30)
        say(f"produced {len(tasks)} TaskRequest records to {TASK_REQUESTS}")

        consumer = Consumer(
            {
                "bootstrap.servers": endpoints.kafka,
                "group.id": f"demo-{run_id}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([TASK_REQUESTS])
        seen: list[str] = []
        deadline = time.monotonic() + 30
        try:
            while len(seen) < len(tasks) and time.monotonic() < deadline:
                message = consumer.poll(1.0)
                if message is None or message.error():
                    continue
                value = message.value() or b""
                record = deserializer(value, context)
                if record["task_id"].startswith(run_id):
                    schema_id = int.from_bytes(value[1:5], "big")
                    seen.append(record["task_id"])
                    say(
                        f"  consumed {record['task_id']} (schema id {schema_id}, partition {message.partition()}) "
                        f"{record['capability']}: {record['description']!r} cost {record['proposed_cost']}"
                    )
        finally:
            consumer.close()
    summary = {"produced": len(tasks), "consumed": len(seen), "seconds": round(time.monotonic() - started, 2)}
    print(json.dumps(summary) if args.json else f"round trip complete: {summary}")
    return 0 if len(seen) == len(tasks) else 1
