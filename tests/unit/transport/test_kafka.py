"""A broker or registry that does not answer: one typed error naming the setting and the address (never a
password), within seconds; librdkafka's own reconnect lines kept to one a minute."""

from __future__ import annotations

import contextlib
import http.server
import logging
import pickle
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from a2a_fast.errors import A2AError, ConfigError, ServiceUnavailableError, StackError
from a2a_fast.stack.services import free_ports
from a2a_fast.transport.kafka import KAFKA_LOG, KafkaTransport, _ClientLog

log = logging.getLogger(__name__)


def test_the_error_names_service_address_and_setting_and_masks_the_password() -> None:
    error = ServiceUnavailableError(
        "the schema registry", "http://me:hunter2@reg:8081", "SCHEMA_REGISTRY_URL", "refused\n by http://me:hunter2@reg"
    )
    assert str(error) == (
        "cannot reach the schema registry at http://me:***@reg:8081 (SCHEMA_REGISTRY_URL): refused by http://me:***@reg"
    )
    assert isinstance(error, StackError) and isinstance(error, A2AError)
    assert (error.service, error.setting, error.address) == (
        "the schema registry",
        "SCHEMA_REGISTRY_URL",
        error.address,
    )
    copied = pickle.loads(pickle.dumps(error))
    assert str(copied) == str(error) and "hunter2" not in repr(copied.args)


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def test_a_broker_refusing_connections_fails_at_once_naming_the_setting() -> None:
    port = free_ports()
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError) as caught:
        KafkaTransport(f"127.0.0.1:{port}", "http://127.0.0.1:1").check_reachable()
    elapsed = time.monotonic() - started
    log.info("refused broker reported after %.2fs", elapsed)
    assert str(caught.value) == (
        f"cannot reach Kafka at 127.0.0.1:{port} (KAFKA_BROKER): Connect to ipv4#127.0.0.1:{port} failed:"
        " Connection refused"
    )
    assert elapsed < 10  # generous: it takes a fraction of a second


def test_a_broker_that_never_answers_fails_after_the_timeout() -> None:
    with silent_server() as port, pytest.raises(ServiceUnavailableError) as caught:
        KafkaTransport(f"127.0.0.1:{port}").check_reachable(timeout=1.0)
    assert str(caught.value).startswith(f"cannot reach Kafka at 127.0.0.1:{port} (KAFKA_BROKER): ")


def test_a_host_that_does_not_resolve_is_said_so() -> None:
    with pytest.raises(ServiceUnavailableError, match=r"\(KAFKA_BROKER\): Failed to resolve 'nowhere\.invalid:9092'"):
        KafkaTransport("nowhere.invalid:9092").check_reachable()


@contextlib.contextmanager
def registry_answering(status: int, body: bytes = b'{"compatibilityLevel": "BACKWARD"}') -> Iterator[str]:
    """An HTTP server on loopback answering every GET with ``status``; yields its URL."""

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://user:hunter2@127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def check_registry(url: str, timeout: float = 2.0) -> None:
    # The registry half of check_reachable, without a broker to answer first.
    KafkaTransport("", url)._check_registry(timeout)


def test_a_registry_that_answers_is_reachable() -> None:
    with registry_answering(200) as url:
        check_registry(url)


def test_a_registry_refusing_connections_is_one_line_without_the_password() -> None:
    port = free_ports()
    with pytest.raises(ServiceUnavailableError) as caught:
        check_registry(f"http://user:hunter2@127.0.0.1:{port}/apis/ccompat/v7")
    assert str(caught.value) == (
        # the credentials in the URL became the client's basic auth, so the address shown has none
        f"cannot reach the schema registry at http://127.0.0.1:{port}/apis/ccompat/v7"
        " (SCHEMA_REGISTRY_URL): Connection refused"
    )


def test_a_registry_that_never_answers_fails_after_the_timeout() -> None:
    with silent_server() as port, pytest.raises(ServiceUnavailableError, match="timed out"):
        check_registry(f"http://127.0.0.1:{port}", timeout=0.5)


@pytest.mark.parametrize(
    ("status", "said"),
    [(500, "HTTP 500"), (503, "HTTP 503"), (401, "refused the credentials.*HTTP 401"), (404, "root")],
)
def test_a_registry_that_fails_or_refuses_us_is_unavailable(status: int, said: str) -> None:
    with (
        registry_answering(status, b'{"error_code": 1, "message": "no"}') as url,
        pytest.raises(StackError, match=said) as caught,
    ):
        check_registry(url)
    assert "hunter2" not in str(caught.value)


def test_a_registry_url_that_is_no_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^SCHEMA_REGISTRY_URL '127\.0\.0\.1:8081': Invalid url"):
        KafkaTransport("127.0.0.1:9092", "127.0.0.1:8081").registry()


def test_connection_failures_warn_and_their_repeats_are_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=KAFKA_LOG.name)
    client = _ClientLog()
    line = "%s [%s] %s"
    client.log(logging.ERROR, line, "FAIL", "rdkafka#producer-1", "b:1/bootstrap: Connect failed (after 0ms)")
    client.log(logging.ERROR, line, "FAIL", "rdkafka#producer-1", "b:1/bootstrap: Connect failed (after 12ms)")
    client.log(logging.ERROR, line, "SASL", "rdkafka#producer-1", "http://u:pw@x: authentication failed")
    client.log(logging.WARNING, line, "CONFWARN", "rdkafka#producer-1", "property ignored")
    levels = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert levels == [
        (logging.WARNING, "FAIL [rdkafka#producer-1] b:1/bootstrap: Connect failed (after 0ms)"),
        (logging.DEBUG, "FAIL [rdkafka#producer-1] b:1/bootstrap: Connect failed (after 12ms)"),
        (logging.ERROR, "SASL [rdkafka#producer-1] http://u:***@x: authentication failed"),
        (logging.WARNING, "CONFWARN [rdkafka#producer-1] property ignored"),
    ]


def test_a_repeat_that_counts_the_repeats_librdkafka_suppressed_is_a_repeat(caplog: pytest.LogCaptureFixture) -> None:
    # librdkafka appends the count to a failure of the same broker handle; under load a bootstrap handle can fail
    # twice before it is replaced, and that second line once made the test below see two lines.
    caplog.set_level(logging.DEBUG, logger=KAFKA_LOG.name)
    client = _ClientLog()
    refused = "b:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT"
    for suffix in ("", ", 1 identical error(s) suppressed", ", 40 identical error(s) suppressed"):
        client.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", f"{refused}{suffix})")
    assert [record.levelno for record in caplog.records] == [logging.WARNING, logging.DEBUG, logging.DEBUG]


def test_a_client_of_a_broker_that_is_down_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    """librdkafka logs each reconnect: a consumer of a broker that is down, about ten lines a second."""
    caplog.set_level(logging.DEBUG, logger=KAFKA_LOG.name)
    consumer = KafkaTransport(f"127.0.0.1:{free_ports()}").consumer({"group.id": "nobody"})
    try:
        consumer.subscribe(["nothing"])
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            consumer.consume(1, 0.1)
    finally:
        consumer.close()
    shown = [record for record in caplog.records if record.levelno >= logging.INFO]
    repeated = [record for record in caplog.records if record.levelno == logging.DEBUG]
    log.info("librdkafka lines in 2s: %d shown, %d at debug", len(shown), len(repeated))
    assert len(shown) == 1 and "Connection refused" in shown[0].getMessage()
    assert repeated
