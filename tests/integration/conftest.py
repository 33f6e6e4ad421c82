import contextlib
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient

from a2a_fast.stack import Endpoints
from bench.chaos import PrivateStack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    """A broker and registry of this session's own (free ports, a temporary state folder), for tests that stop,
    restart or kill them; the shared stack is never touched."""
    stack = PrivateStack.start(tmp_path_factory.mktemp("private-stack"))
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def agents_topic(endpoints: Endpoints) -> Iterator[str]:
    """A fresh name for a directory's agents topic, deleted after the test."""
    name = f"t-{uuid.uuid4().hex[:10]}.a2a.agents"
    yield name
    admin = AdminClient({"bootstrap.servers": endpoints.kafka})
    for future in admin.delete_topics([name], operation_timeout=10).values():
        with contextlib.suppress(Exception):  # a topic the test never created
            future.result(15)
