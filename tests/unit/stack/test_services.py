"""The local stack's services: external services are left alone, ports are checked, a cluster id is safe."""

from __future__ import annotations

import base64
import os
import signal
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest

from a2a_fast.errors import StackError
from a2a_fast.stack import LocalStack, services
from a2a_fast.stack.services import KafkaBroker, Service, free_ports, new_cluster_id


def test_external_services_are_used_as_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BROKER", "redpanda:9092")
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "http://redpanda:8081")
    stack = LocalStack(tmp_path)

    statuses = stack.up()

    assert [(s.name, s.state, s.address) for s in statuses] == [
        ("kafka", "external", "redpanda:9092"),
        ("schema-registry", "external", "http://redpanda:8081"),
    ]
    assert stack.endpoints().kafka == "redpanda:9092"
    assert stack.down() == []
    assert not any(tmp_path.iterdir())


def test_a_taken_port_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        broker = KafkaBroker(tmp_path, port=port, controller_port=free_ports())

        with pytest.raises(StackError, match=rf"port 127\.0\.0\.1:{port} is taken") as caught:
            broker.start()

    assert "\n" not in str(caught.value)
    assert broker.status().state == "stopped"


def test_down_leaves_a_foreign_process_alone(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        broker = KafkaBroker(tmp_path, port=holder.getsockname()[1], controller_port=free_ports())

        assert broker.status().state == "foreign"
        assert broker.stop() is False


def test_a_cluster_id_never_looks_like_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xF8 encodes to a leading "-" in URL-safe base64; the storage tool would read it as a flag
    rolls = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" * 16)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(rolls))
    cluster_id = new_cluster_id()
    assert cluster_id == base64.urlsafe_b64encode(b"\x10" * 16).rstrip(b"=").decode()
    assert len(cluster_id) == 22


def test_ports_come_from_the_environment_and_keep_their_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("A2A_FAST_KAFKA_PORT", "A2A_FAST_CONTROLLER_PORT", "A2A_FAST_REGISTRY_PORT"):
        monkeypatch.delenv(name, raising=False)
    default = LocalStack(tmp_path)
    assert (default.kafka.port, default.kafka.controller_port, default.registry.port) == (19092, 19093, 18081)

    monkeypatch.setenv("A2A_FAST_KAFKA_PORT", "29092")
    monkeypatch.setenv("A2A_FAST_CONTROLLER_PORT", "29093")
    monkeypatch.setenv("A2A_FAST_REGISTRY_PORT", "28081")
    moved = LocalStack(tmp_path)
    assert moved.kafka.address == "127.0.0.1:29092"
    assert moved.kafka.controller_port == 29093
    assert moved.registry.address == "http://127.0.0.1:28081/apis/ccompat/v7"
    assert LocalStack(tmp_path, kafka_port=39092).kafka.port == 39092


@pytest.mark.parametrize("value", ["kafka", "0", "65536", "-1"])
def test_a_bad_port_setting_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("A2A_FAST_REGISTRY_PORT", value)
    with pytest.raises(StackError, match=rf"A2A_FAST_REGISTRY_PORT must be a port number .*{value!r}"):
        LocalStack(tmp_path)


class Sleeper(Service):
    """A service that only sleeps: enough to start, kill and ask about a process this module started."""

    name = "sleeper"

    @property
    def address(self) -> str:
        return "nowhere"

    def command(self) -> list[str]:
        # Its folder on the command line marks it as ours (a shell would exec `sleep` and lose it).
        return [sys.executable, "-c", "import time; time.sleep(60)", str(self.home)]

    def ready(self) -> bool:
        return True


def test_a_service_killed_behind_our_back_is_reaped_when_asked_about(tmp_path: Path) -> None:
    sleeper = Sleeper(tmp_path, port=free_ports())
    sleeper.start()
    try:
        pid = sleeper.pid()
        assert pid is not None and pid in services._children
        os.killpg(pid, signal.SIGKILL)  # as the cluster test kills a broker
        deadline = time.monotonic() + 10
        while sleeper.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sleeper.pid() is None and sleeper.status().state == "stopped"
        assert pid not in services._children  # no zombie left, nothing to warn about at exit
        assert sleeper.stop() is False
    finally:
        sleeper.stop()
