from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from a2a_fast.observability.logs import configure_logging, current_context, log_context


@pytest.fixture
def stream() -> io.StringIO:
    out = io.StringIO()
    configure_logging(json=True, stream=out)
    return out


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_ids_in_effect(stream: io.StringIO) -> None:
    log = logging.getLogger("a2a_fast.test")
    with log_context(agent_id="provider-1", correlation_id="corr-9"), log_context(task_id="task-7"):
        log.info("countered at %.2f", 95)
    log.info("outside")

    inside, outside = lines(stream)
    assert inside["message"] == "countered at 95.00"
    assert (inside["agent_id"], inside["task_id"], inside["correlation_id"]) == ("provider-1", "task-7", "corr-9")
    assert outside["agent_id"] is None and outside["task_id"] is None


def test_ids_follow_each_asyncio_task_separately(stream: io.StringIO) -> None:
    log = logging.getLogger("a2a_fast.test")

    async def handle(task_id: str) -> None:
        with log_context(task_id=task_id):
            await asyncio.sleep(0)
            log.info("handled")

    async def main() -> None:
        await asyncio.gather(handle("a"), handle("b"))

    asyncio.run(main())
    assert sorted(str(line["task_id"]) for line in lines(stream)) == ["a", "b"]
    assert current_context()["task_id"] is None


def test_text_format_shows_ids_as_pairs() -> None:
    out = io.StringIO()
    configure_logging(json=False, stream=out)
    with log_context(agent_id="executor-2"):
        logging.getLogger("a2a_fast.test").warning("slow handler")
    assert out.getvalue().rstrip().endswith("slow handler agent_id=executor-2")


def test_unknown_ids_are_refused() -> None:
    with pytest.raises(TypeError, match="unknown ids: user"), log_context(user="x"):
        pass
