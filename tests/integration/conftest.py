from collections.abc import Iterator

import pytest

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
