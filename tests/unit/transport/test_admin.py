"""A partition's watermarks are asked again while its topic is still being created or its leader moves."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from a2a_fast.transport.admin import watermark_offsets


class Answers:
    """A consumer client whose watermark answers are given in advance, errors included."""

    def __init__(self, *answers: KafkaError | tuple[int, int]) -> None:
        self.answers = list(answers)
        self.asked = 0

    def get_watermark_offsets(self, partition: Any, timeout: float | None = None, cached: bool = False) -> Any:
        self.asked += 1
        answer = self.answers.pop(0)
        if isinstance(answer, KafkaError):
            raise KafkaException(answer)
        return answer


def test_a_partition_without_its_leader_yet_is_asked_again() -> None:
    client = Answers(
        KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION),
        KafkaError(KafkaError.LEADER_NOT_AVAILABLE),
        KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART),
        (0, 42),
    )
    assert watermark_offsets(client, "t", 0, timeout=10) == (0, 42)  # type: ignore[arg-type]
    assert client.asked == 4


def test_other_errors_are_raised_at_once() -> None:
    client = Answers(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED), (0, 1))
    with pytest.raises(KafkaException) as raised:
        watermark_offsets(client, "t", 0, timeout=10)  # type: ignore[arg-type]
    assert raised.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert client.asked == 1


def test_a_partition_that_stays_unready_fails_after_the_timeout() -> None:
    client = Answers(*[KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)] * 100)
    with pytest.raises(KafkaException):
        watermark_offsets(client, "t", 0, timeout=0.3)  # type: ignore[arg-type]
    assert 2 <= client.asked < 100
