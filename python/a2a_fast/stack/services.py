"""The two processes of the local stack: a KRaft Kafka broker and an Apicurio schema registry.

Each service owns a folder in the state directory (data, pid file, log). ``start`` refuses a port that
something else holds, waits until the service really answers, and reports a failed start in one line
that names the log. ``stop`` only stops a process whose pid file this module wrote.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from a2a_fast.errors import StackError
from a2a_fast.stack import artifacts
from a2a_fast.stack.java import find_java

HOST = "127.0.0.1"

# Children started by this process, kept so they are reaped (not left as zombies) when stopped here.
_children: dict[int, subprocess.Popen[bytes]] = {}


def port_open(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_ports(count: int = 1, host: str = HOST) -> int:
    """The first of ``count`` consecutive loopback ports free now (another process may take one before use)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind((host, 0))
            base = int(sock.getsockname()[1])
        if base + count > 65536:
            continue
        try:
            for port in range(base + 1, base + count):
                with socket.socket() as sock:
                    sock.bind((host, port))
        except OSError:
            continue
        return base
    raise StackError(f"no {count} consecutive free ports on {host}")


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64, never starting with "-".

    Kafka's own generator re-rolls ids with a leading "-" so command-line parsers
    never mistake one for an option; so does this.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _write_owner_only(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` readable by its owner only (it may hold credentials)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)


def _log_tail(log: Path, lines: int = 5) -> str:
    try:
        tail = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return " | ".join(line.strip() for line in tail if line.strip())


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    state: str  # "running" (started here), "external", "stopped", "foreign" (port held by another process)
    pid: int | None = None
    log: Path | None = None

    def line(self) -> str:
        extra = f" pid {self.pid}" if self.pid else ""
        log = f" log {self.log}" if self.log and self.state == "running" else ""
        return f"{self.name:<16} {self.state:<8} {self.address}{extra}{log}"


class Service(ABC):
    name: str
    start_timeout = 120.0

    def __init__(self, state_dir: Path, port: int) -> None:
        self.port = port
        self.home = state_dir / self.name
        self.pid_file = self.home / "pid"
        self.log = self.home / "service.log"

    @property
    @abstractmethod
    def address(self) -> str: ...

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs the service in the foreground."""

    @abstractmethod
    def ready(self) -> bool:
        """True once the service answers a real request."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """One-time set-up before the first start (formatting storage and the like)."""

    def pid(self) -> int | None:
        """Pid of the process this module started, if it is still alive."""
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        child = _children.get(pid)
        if child is not None:
            if child.poll() is None:
                # Started by this process: ours even before its exec shows our folder on its command line.
                return pid
            del _children[pid]  # ours and dead (killed by someone): reaped here
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        # A recycled pid belongs to someone else: ours always names our own folder.
        return pid if str(self.home).encode() in cmdline else None

    def status(self) -> ServiceStatus:
        pid = self.pid()
        if pid:
            return ServiceStatus(self.name, self.address, "running", pid, self.log)
        state = "foreign" if port_open(self.port) else "stopped"
        return ServiceStatus(self.name, self.address, state)

    def start(self) -> ServiceStatus:
        process = self.launch()
        if process is None:
            self.wait_ready()
            return self.status()
        try:
            self.wait_ready(process)
        except StackError:
            self.stop()
            raise
        return self.status()

    def launch(self) -> subprocess.Popen[bytes] | None:
        """Starts the process without waiting for it to be ready (None: it runs already); see :meth:`start`."""
        if self.pid():
            return None
        if port_open(self.port):
            raise StackError(
                f"{self.name}: port {HOST}:{self.port} is taken by a process a2a-fast did not start; free it "
                f"or point the environment at that service"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with self.log.open("ab") as out:
            process = subprocess.Popen(
                self.command(),
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _children[process.pid] = process
        self.pid_file.write_text(str(process.pid))
        return process

    def wait_ready(self, process: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise StackError(
                    f"{self.name} exited during start (code {process.returncode}); log {self.log}: "
                    f"{_log_tail(self.log)}"
                )
            if self.ready():
                return
            time.sleep(0.5)
        raise StackError(f"{self.name} did not become ready within {self.start_timeout:.0f}s; log {self.log}")

    def stop(self, timeout: float = 45.0) -> bool:
        """Stops the process this module started; False when there was none."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.killpg(pid, signal.SIGTERM)
        child = _children.pop(pid, None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._alive(pid, child):
            time.sleep(0.2)
        if self._alive(pid, child):
            os.killpg(pid, signal.SIGKILL)
            while self._alive(pid, child):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _alive(self, pid: int, child: subprocess.Popen[bytes] | None) -> bool:
        if child is not None:
            return child.poll() is None
        return self.pid() == pid


class KafkaBroker(Service):
    """Apache Kafka, one node that is both broker and KRaft controller, data kept across restarts."""

    name = "kafka"
    heap = "512m"

    def __init__(self, state_dir: Path, port: int = 19092, controller_port: int = 19093) -> None:
        super().__init__(state_dir, port)
        self.controller_port = controller_port
        self.data = self.home / "data"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def _settings(self) -> dict[str, str]:
        """The broker's ``server.properties``."""
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data),
            "num.partitions": "3",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "5",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            "log.cleaner.threads": "1",
        }

    def _properties(self) -> str:
        return "".join(f"{key}={value}\n" for key, value in self._settings().items())

    def cluster_id(self) -> str:
        """The id its storage is formatted with, once."""
        return new_cluster_id()

    def _format_options(self) -> list[str]:
        """Extra options of the one-time storage format."""
        return []

    def _log4j(self) -> str:
        return (
            "status = warn\n"
            "appender.file.type = RollingFile\n"
            "appender.file.name = file\n"
            f"appender.file.fileName = {self.home / 'server.log'}\n"
            f"appender.file.filePattern = {self.home / 'server.log.%i'}\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
            "appender.file.policies.type = Policies\n"
            "appender.file.policies.size.type = SizeBasedTriggeringPolicy\n"
            "appender.file.policies.size.size = 20MB\n"
            "appender.file.strategy.type = DefaultRolloverStrategy\n"
            "appender.file.strategy.max = 2\n"
            "rootLogger.level = INFO\n"
            "rootLogger.appenderRef.file.ref = file\n"
        )

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        return [
            str(find_java().java),
            f"-Xmx{heap}",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.home}",
            "-cp",
            f"{artifacts.kafka_classpath()}/*",
            main,
            *args,
        ]

    def prepare(self) -> None:
        _write_owner_only(self.home / "server.properties", self._properties())
        (self.home / "log4j2.properties").write_text(self._log4j())
        if (self.data / "meta.properties").exists():
            return
        fmt = self._java(
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={self.cluster_id()}",
            "-c",
            str(self.home / "server.properties"),
            *self._format_options(),
        )
        done = subprocess.run(fmt, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            output = " | ".join((done.stdout + done.stderr).strip().splitlines()[-4:])
            raise StackError(f"formatting Kafka storage in {self.data} failed (exit {done.returncode}): {output}")

    def command(self) -> list[str]:
        java = self._java("kafka.Kafka", str(self.home / "server.properties"), heap=self.heap)
        return [java[0], f"-Xms{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", *java[1:]]

    def client_settings(self) -> dict[str, str]:
        """What a client needs besides the address to connect as the stack's administrator."""
        return {}

    def ready(self) -> bool:
        if not port_open(self.port):
            return False
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.address, "log_level": 0, **self.client_settings()})
        try:
            metadata = admin.list_topics(timeout=2)
        except Exception:
            return False
        return bool(metadata.brokers)


class ClusterBroker(KafkaBroker):
    """One node of a KRaft cluster on loopback, broker and controller: ``node`` (1, 2, 3...) of as many as
    ``ports`` has. Its topics are replicated to every node by default with ``min.insync.replicas`` of a majority,
    so an ``acks=all`` record is on two nodes of three before it is acknowledged and one node may die."""

    heap = "384m"

    def __init__(self, state_dir: Path, node: int, ports: list[int], controller_ports: list[int]) -> None:
        self.name = f"kafka-{node}"
        super().__init__(state_dir, ports[node - 1], controller_ports[node - 1])
        self.node = node
        self.nodes = len(ports)
        self.voters = ",".join(f"{n}@{HOST}:{port}" for n, port in enumerate(controller_ports, start=1))
        self.cluster_id_file = state_dir / "cluster-id"

    def _settings(self) -> dict[str, str]:
        replicas, majority = str(self.nodes), str(self.nodes // 2 + 1)
        return {
            **super()._settings(),
            "node.id": str(self.node),
            "controller.quorum.voters": self.voters,
            "default.replication.factor": replicas,
            "min.insync.replicas": majority,
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": majority,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": majority,
            "unclean.leader.election.enable": "false",
        }

    def cluster_id(self) -> str:
        # every node of one cluster is formatted with the same id
        if not self.cluster_id_file.exists():
            self.cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
            self.cluster_id_file.write_text(new_cluster_id())
        return self.cluster_id_file.read_text().strip()


class SchemaRegistry(Service):
    """Apicurio Registry with its Confluent-compatible API, stored in an H2 file so ids survive restarts."""

    name = "schema-registry"
    heap = "384m"
    api_path = "/apis/ccompat/v7"

    def __init__(self, state_dir: Path, port: int = 18081) -> None:
        super().__init__(state_dir, port)

    @property
    def address(self) -> str:
        return f"http://{HOST}:{self.port}{self.api_path}"

    def _settings(self) -> dict[str, str]:
        return {
            "quarkus.http.host": HOST,
            "quarkus.http.port": str(self.port),
            "apicurio.datasource.url": f"jdbc:h2:file:{self.home / 'db' / 'registry'}",
            "apicurio.datasource.jdbc.initial-size": "2",
            "apicurio.datasource.jdbc.min-size": "2",
            "apicurio.datasource.jdbc.max-size": "16",
            "apicurio.rest.deletion.artifact.enabled": "true",
            "apicurio.rest.deletion.artifact-version.enabled": "true",
            "quarkus.log.console.color": "false",
        }

    def command(self) -> list[str]:
        runner = artifacts.apicurio_runner()
        settings = self._settings()
        return [
            str(find_java().java),
            f"-Xmx{self.heap}",
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            *(f"-D{key}={value}" for key, value in settings.items()),
            "-jar",
            str(runner),
        ]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.address}/subjects", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False
