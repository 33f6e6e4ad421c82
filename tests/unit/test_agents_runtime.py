"""Agent pieces that need no broker: policies, offsets, dedupe, the envelope, skills, monitoring."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
import uvloop
from confluent_kafka import Message
from hypothesis import given
from hypothesis import strategies as st

from a2a_fast.agents.policies import BudgetPolicy, PricingPolicy
from a2a_fast.cli import build_parser
from a2a_fast.cli.agents import build_agent, parse_skills
from a2a_fast.codecs.avro import Codec
from a2a_fast.codecs.avro import schema_id_of as read_schema_id
from a2a_fast.codecs.cloudevents import from_kafka, to_kafka
from a2a_fast.config import MessageConfig
from a2a_fast.errors import ConfigError, DecodeError, SchemaError, ValidationError
from a2a_fast.mesh.routing import RoutingTable
from a2a_fast.observability.http import MonitoringServer, json_response
from a2a_fast.observability.metrics import MetricsRegistry
from a2a_fast.protocol.envelope import Envelope
from a2a_fast.protocol.kinds import KIND_TASK_REQUEST
from a2a_fast.protocol.limits import MessageLimits
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.transport.offsets import DedupeCache, OffsetTracker
from a2a_fast.transport.registry import default_schemas, full_name


def test_provider_accepts_at_or_above_its_minimum() -> None:
    policy = PricingPolicy(markup=1.5, concession=0.5, max_rounds=3)
    assert policy.decide(100.0, 120.0, 1).action == "accept"
    assert policy.decide(100.0, 100.0, 1).price == 100.0


def test_provider_concedes_half_the_gap_each_round_then_rejects() -> None:
    policy = PricingPolicy(markup=1.5, concession=0.5, max_rounds=3)
    asks = [policy.decide(100.0, 10.0, n) for n in (1, 2, 3)]
    assert [(d.action, d.price) for d in asks] == [("counter", 150.0), ("counter", 125.0), ("counter", 112.5)]
    final = policy.decide(100.0, 10.0, 4)
    assert final.action == "reject" and final.reason == "no agreement after 3 rounds"
    assert policy.decide(100.0, None, 1).price == 150.0


def test_requester_accepts_within_budget_counters_at_midpoint_and_gives_up() -> None:
    policy = BudgetPolicy(max_rounds=3)
    assert policy.respond(20.0, 75.0, 1, budget=75.0).action == "accept"
    counter = policy.respond(20.0, 90.0, 1, budget=75.0)
    assert (counter.action, counter.price) == ("counter", 55.0)
    assert policy.respond(70.0, 200.0, 2, budget=75.0).price == 75.0  # midpoint capped at the budget
    assert policy.respond(20.0, 90.0, 3, budget=75.0).action == "reject"
    assert BudgetPolicy(budget=None).limit(42.0) == 42.0


@given(minimum=st.floats(1, 1e6), offer=st.floats(0, 1e6), budget=st.floats(0, 1e6), rounds=st.integers(1, 8))
def test_negotiation_always_ends_within_the_round_limits(
    minimum: float, offer: float, budget: float, rounds: int
) -> None:
    provider, requester = PricingPolicy(max_rounds=rounds), BudgetPolicy(max_rounds=rounds)
    round_number, last = 0, offer
    while True:
        answer = provider.decide(minimum, last, round_number + 1)
        if answer.action != "counter":
            break
        round_number += 1
        assert answer.price is not None and answer.price >= minimum
        turn = requester.respond(last, answer.price, round_number, budget)
        if turn.action == "accept":
            assert answer.price <= budget
            break
        if turn.action == "reject":
            break
        assert turn.price is not None and turn.price <= budget
        last = turn.price
    assert round_number <= rounds


def test_policies_refuse_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="markup"):
        PricingPolicy(markup=0.5)
    with pytest.raises(ValueError, match="max_rounds"):
        BudgetPolicy(max_rounds=0)


def test_offset_tracker_commits_only_past_contiguous_handled_records() -> None:
    tracker = OffsetTracker()
    assert tracker.committable() is None
    for offset in (5, 6, 7):
        tracker.add(offset)
    tracker.done(6)
    assert tracker.committable() == 5
    tracker.done(5)
    assert tracker.committable() == 7
    tracker.mark_committed(7)
    assert tracker.committable() is None
    tracker.done(7)
    assert tracker.committable() == 8 and tracker.outstanding() == 0


def test_dedupe_cache_is_bounded_and_forgets_the_oldest() -> None:
    cache = DedupeCache(2)
    for event_id in ("a", "b"):
        cache.add(event_id)
    assert "a" in cache  # touching "a" makes "b" the oldest
    cache.add("c")
    assert "b" not in cache and "a" in cache and "c" in cache and len(cache) == 2
    cache.discard("a")  # its outputs were lost: a redelivery must be handled again
    cache.discard("never added")
    assert "a" not in cache and len(cache) == 1


class FakeCatalog:
    """The registry side of the envelope, with fixed ids."""

    def __init__(self) -> None:
        self.schemas = default_schemas()
        self.ids = {kind: 100 + n for n, kind in enumerate(self.schemas)}

    def writer_codec(self, kind: str) -> Codec:
        return Codec(self.schemas[kind], self.ids[kind])

    reader_codec = writer_codec

    def schema_uri(self, kind: str) -> str:
        return f"http://registry.test/schemas/ids/{self.ids[kind]}?subject={kind}-value"

    def cached_schema(self, schema_id: int) -> tuple[str, Codec] | None:
        for kind, known in self.ids.items():
            if known == schema_id:
                return full_name(self.schemas[kind]), Codec(self.schemas[kind])
        return None


REQUEST = {
    "task_id": "t-1",
    "requester_id": "r",
    "description": "Summarise ✓",
    "capability": "summarize",
    "proposed_cost": 12.5,
    "priority": 1,
    "parameters": {"a": "b"},
    "timestamp": 1_700_000_000_000,
}


def test_envelope_round_trip_in_binary_content_mode() -> None:
    envelope = Envelope(FakeCatalog(), TopicNames("x."), "requester-1")
    out = envelope.encode(KIND_TASK_REQUEST, REQUEST, target_agent="p", traceparent="00-ab-cd-01", event_id="e1")
    headers = dict(out.headers)
    assert out.topic == "x.task-requests" and out.key == b"t-1"
    assert headers["ce_id"] == b"e1" and headers["content-type"] == b"application/avro"
    assert headers["ce_dataschema"] == b"http://registry.test/schemas/ids/100?subject=a2a.task.request-value"
    assert read_schema_id(out.value) == 100
    inbound = envelope.decode(out.key, out.headers, out.value, "x.task-requests", 2, 9)
    assert inbound.record == REQUEST
    assert (inbound.event_id, inbound.source_agent, inbound.target_agent) == ("e1", "requester-1", "p")
    assert (inbound.traceparent, inbound.partition, inbound.offset) == ("00-ab-cd-01", 2, 9)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda h, v, k: (h[:-1], v, k), ValidationError, "missing"),
        (lambda h, v, k: (h, b"\x01" + v[1:], k), DecodeError, "magic byte"),
        (lambda h, v, k: (h, v[:3], k), DecodeError, "shorter than the 5-byte wire header"),
        (lambda h, v, k: (h, v[:5] + b"\xff", k), DecodeError, "at byte 6"),
        (lambda h, v, k: (h, b"\x00\x00\x00\x00\x07" + v[5:], k), SchemaError, "unknown"),
        (lambda h, v, k: (h, v, b"other"), ValidationError, "differs"),
        (lambda h, v, k: ([(n, b"\xff" if n == "ce_type" else x) for n, x in h], v, k), ValidationError, "UTF-8"),
        (lambda h, v, k: ([(n, b"a2a.other" if n == "ce_type" else x) for n, x in h], v, k), ValidationError, "type"),
    ],
)
def test_envelope_rejects_bad_records_naming_the_problem(change: Any, error: type[Exception], message: str) -> None:
    envelope = Envelope(FakeCatalog(), TopicNames(), "requester-1")
    out = envelope.encode(KIND_TASK_REQUEST, REQUEST)
    headers = sorted(out.headers, key=lambda pair: pair[0] == "ce_specversion")  # specversion last
    bad_headers, bad_value, bad_key = change(headers, out.value, out.key)
    with pytest.raises(error, match=message):
        envelope.decode(bad_key, bad_headers, bad_value)


@given(st.binary(max_size=64), st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=8)), max_size=6))
def test_envelope_never_fails_other_than_with_a2a_errors(value: bytes, headers: list[tuple[str, bytes]]) -> None:
    envelope = Envelope(FakeCatalog(), TopicNames(), "r")
    with pytest.raises(ValueError):
        envelope.decode(b"k", [*headers, ("ce_specversion", b"1.0")], value)


BAD_RECORDS = [
    lambda h, v, k: (h[:-1], v, k),
    lambda h, v, k: (h, b"\x01" + v[1:], k),
    lambda h, v, k: (h, v[:5] + b"\xff", k),
    lambda h, v, k: (h, b"\x00\x00\x00\x00\x07" + v[5:], k),
    lambda h, v, k: (h, v, b"other"),
    lambda h, v, k: ([(n, b"a2a.other" if n == "ce_type" else x) for n, x in h], v, k),
    lambda h, v, k: ([], b"not json", k),
    lambda h, v, k: (h, v + bytes(400), k),  # over the limit below, when there is one
    lambda h, v, k: ([(n, b"2000-01-01T00:00:00.000Z" if n == "ce_time" else x) for n, x in h], v, k),
]


@pytest.mark.parametrize("limits", [None, MessageLimits(MessageConfig(max_message_bytes=300))])
@given(choices=st.lists(st.sampled_from([None, *range(len(BAD_RECORDS))]), min_size=1, max_size=12))
def test_decode_many_gives_each_record_what_decode_gives_it(
    limits: MessageLimits | None, choices: list[int | None]
) -> None:
    envelope = Envelope(FakeCatalog(), TopicNames(), "requester-1", limits)
    batch = []
    for offset, choice in enumerate(choices):
        out = envelope.encode(KIND_TASK_REQUEST, {**REQUEST, "task_id": f"t-{offset}"}, event_id=f"e{offset}")
        headers, value, key = (out.headers, out.value, out.key)
        if choice is not None:
            headers, value, key = BAD_RECORDS[choice](headers, value, key)
        batch.append(Message(topic="x", partition=1, offset=offset, key=key, value=value, headers=headers))
    for message, got in zip(batch, envelope.decode_many(batch), strict=True):
        try:
            expected: Any = envelope.decode(message.key(), message.headers(), message.value(), "x", 1, message.offset())
        except ValueError as error:
            expected = error
        if isinstance(expected, ValueError):
            assert type(got) is type(expected) and _same_moment(str(got)) == _same_moment(str(expected))
        else:
            assert got == expected


def _same_moment(reason: str) -> str:
    """An expiry reason with its age blanked: the two decodes read the clock a moment apart."""
    return re.sub(r"sent [0-9.]+s ago", "sent Ns ago", reason)


def test_cloudevent_binding_round_trip() -> None:
    event = {"specversion": "1.0", "id": "1", "source": "s", "type": "t", "datacontenttype": "a/b"}
    key, headers, value = to_kafka({**event, "partitionkey": "k", "data": b"xyz"})
    assert key == b"k" and value == b"xyz" and ("content-type", b"a/b") in headers
    assert from_kafka(headers, value, key) == {**event, "partitionkey": "k", "data": b"xyz"}


def test_skills_match_exact_capabilities_never_substrings() -> None:
    table = RoutingTable()
    table.upsert_agent("p1", ["summarize", "translate"])
    table.upsert_agent("p2", ["translate"])
    assert table.route("summarize") == "p1"
    assert table.route("summ") is None and table.route("summarize the report") is None
    assert {table.route("translate"), table.route("translate")} == {"p1", "p2"}


def test_parse_skills() -> None:
    assert parse_skills(["summarize=100", "Translate"]) == {"summarize": 100.0, "translate": 50.0}
    with pytest.raises(ConfigError, match="not a number"):
        parse_skills(["x=cheap"])


def test_partitions_flag_sets_the_partitions_of_the_topics_the_agent_creates() -> None:
    parser = build_parser()
    assert build_agent(parser.parse_args(["agent", "executor", "--partitions", "6"])).config.partitions == 6
    assert build_agent(parser.parse_args(["agent", "executor"])).config.partitions == 3
    with pytest.raises(ConfigError, match="--partitions: must be at least 1, got 0"):
        build_agent(parser.parse_args(["agent", "provider", "--partitions", "0"]))


def test_metrics_render_in_prometheus_text_format() -> None:
    metrics = MetricsRegistry()
    metrics.describe("messages_consumed_total", "Records consumed.")
    metrics.inc("messages_consumed_total", topic="t", type='a"b')
    metrics.observe("handling_seconds", 0.003, buckets=(0.001, 0.01), type="x")
    text = metrics.render({"in_flight": {(("agent", "a"),): 2.0}})
    assert "# HELP a2a_messages_consumed_total Records consumed." in text
    assert 'a2a_messages_consumed_total{topic="t",type="a\\"b"} 1' in text
    assert 'a2a_handling_seconds_bucket{type="x",le="0.001"} 0' in text
    assert 'a2a_handling_seconds_bucket{type="x",le="0.01"} 1' in text
    assert 'a2a_handling_seconds_bucket{type="x",le="+Inf"} 1' in text
    assert 'a2a_handling_seconds_count{type="x"} 1' in text and 'a2a_in_flight{agent="a"} 2' in text


def test_monitoring_server_answers_get_only_on_known_paths() -> None:
    async def status() -> tuple[int, str, str]:
        return json_response({"role": "test"})

    async def fetch(port: int, request: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        reply = await reader.read()
        writer.close()
        await writer.wait_closed()
        return reply

    async def scenario() -> list[bytes]:
        server = MonitoringServer({"/status": status})
        port = await server.start()
        try:
            return [
                await fetch(port, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n"),
                await fetch(port, b"GET /nope HTTP/1.1\r\n\r\n"),
                await fetch(port, b"POST /status HTTP/1.1\r\n\r\n"),
            ]
        finally:
            await server.close()

    ok, missing, post = uvloop.run(scenario())
    assert ok.startswith(b"HTTP/1.1 200 OK") and json.loads(ok.split(b"\r\n\r\n", 1)[1]) == {"role": "test"}
    assert missing.startswith(b"HTTP/1.1 404") and post.startswith(b"HTTP/1.1 405")
