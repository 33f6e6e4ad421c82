"""The scripts of ``examples/`` as a user runs them, and handlers of one's own loaded by ``a2a-fast agent executor
--handlers`` from the current directory, on the real broker and registry."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from a2a_fast.stack import Endpoints
from tests.conftest import REPO

EXAMPLES = REPO / "examples"


@pytest.fixture
def prefix(endpoints: Endpoints) -> Iterator[str]:
    """A fresh topic namespace; its topics are deleted afterwards."""
    name = f"ex-{uuid.uuid4().hex[:10]}."
    yield name
    admin = AdminClient({"bootstrap.servers": endpoints.kafka})
    mine = [topic for topic in admin.list_topics(timeout=10).topics if topic.startswith(name)]
    if mine:
        for future in admin.delete_topics(mine, operation_timeout=10).values():
            with contextlib.suppress(Exception):
                future.result(15)


def environment(endpoints: Endpoints) -> dict[str, str]:
    return {**os.environ, "KAFKA_BROKER": endpoints.kafka, "SCHEMA_REGISTRY_URL": endpoints.schema_registry}


def run_example(name: str, endpoints: Endpoints, prefix: str, tmp_path: Path) -> list[str]:
    """Runs ``examples/<name>`` as ``python examples/<name> --topic-prefix P`` from a directory of its own."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--topic-prefix", prefix],
        env=environment(endpoints),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout.splitlines()


def test_custom_handler(endpoints: Endpoints, prefix: str, tmp_path: Path) -> None:
    said = run_example("custom_handler.py", endpoints, prefix, tmp_path)
    assert said[0].startswith("task ") and said[0].endswith(" COMPLETED at 8.0 (provider-1 -> executor-1)"), said
    assert json.loads(said[1]) == {"words": 19, "most_common": [["the", 4], ["fox", 2], ["dog", 2]]}


def test_pricing_policy(endpoints: Endpoints, prefix: str, tmp_path: Path) -> None:
    said = run_example("pricing_policy.py", endpoints, prefix, tmp_path)
    assert said == [
        "requesting a translation, offering 60.00 with a budget of 120.00",
        "  we offered 60.00; provider-1 asks 150.00",
        "  we offered 105.00; provider-1 asks 130.00",
        "  we offered 117.50; provider-1 accepts 117.50",
        "COMPLETED: negotiated price 117.5 after 2 counter-offers",
    ]


def test_workflow(endpoints: Endpoints, prefix: str, tmp_path: Path) -> None:
    said = run_example("workflow.py", endpoints, prefix, tmp_path)
    assert said[0].startswith("session ") and said[0].endswith(" of headline: COMPLETED"), said
    assert said[1].split() == [
        "shorten", "COMPLETED", "on", "executor-writer:", "{'headline':", "'Quarterly", "Revenue", "Grew", "By",
        "Twelve", "Percent'}",
    ]  # fmt: skip
    assert said[2].split()[:4] == ["check", "COMPLETED", "on", "executor-editor:"]
    assert said[3] == "output: {'headline': 'Quarterly Revenue Grew By Twelve Percent', 'length': 40, 'fits': True}"


HANDLERS_MODULE = """
from a2a_fast import TaskContext


async def shout(task: TaskContext) -> dict[str, str]:
    return {"shouted": task.description.upper(), "by": __name__}


HANDLERS = {"shout": shout}
"""


def test_handlers_of_a_module_in_the_current_directory(endpoints: Endpoints, prefix: str, tmp_path: Path) -> None:
    """``a2a-fast agent executor --handlers mymodule:HANDLERS``, run by the installed console script from the
    folder holding ``mymodule.py``: the script's own folder is first on its path, so the current one is added."""
    script = Path(sys.executable).parent / "a2a-fast"
    assert script.exists(), f"no console script beside {sys.executable}"
    (tmp_path / "mymodule.py").write_text(HANDLERS_MODULE)
    env = environment(endpoints)
    common = ["--topic-prefix", prefix, "--http-port", "-1"]
    agents = [
        subprocess.Popen(
            [str(script), "agent", *role, *common], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
        )
        for role in (
            ["executor", "--id", "executor-own", "--handlers", "mymodule:HANDLERS"],
            ["provider", "--id", "provider-own", "--skills", "shout=5"],
        )
    ]
    try:
        for agent in agents:
            assert agent.stdout is not None
            ready = agent.stdout.readline()
            assert ready.startswith("READY"), f"agent exited {agent.poll()} before READY"
        request = ["request", "hello there", "--capability", "shout", "--cost", "5", "--wait", "--json"]
        done = subprocess.run(
            [str(script), *request, "--topic-prefix", prefix],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        for agent in agents:
            agent.terminate()
            agent.wait(30)
            if agent.stdout is not None:
                agent.stdout.close()
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.splitlines()[-1])["outcome"]
    assert outcome["status"] == "COMPLETED"
    assert outcome["result"] == {"shouted": "HELLO THERE", "by": "mymodule"}
    assert (outcome["provider"], outcome["executor"]) == ("provider-own", "executor-own")


def test_the_readme_example(endpoints: Endpoints, prefix: str, tmp_path: Path) -> None:
    from tests.unit.test_public_api import readme_example

    code = readme_example()
    assert 'TopicNames("mine.")' in code
    done = subprocess.run(
        [sys.executable, "-c", code.replace('TopicNames("mine.")', f"TopicNames({prefix!r})")],
        env=environment(endpoints),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (0, "COMPLETED 12.0 {'text': 'HELLO'}\n"), done.stderr
