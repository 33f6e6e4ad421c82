"""The console server's start-up errors: a broker that does not answer, a port in use."""

from __future__ import annotations

import pytest

from a2a_fast.protocol.topics import TopicNames

TOPICS = TopicNames("p.")


def test_a_broker_that_does_not_answer_is_one_line_naming_the_setting() -> None:
    from a2a_fast.errors import ServiceUnavailableError
    from a2a_fast.stack import Endpoints

    with pytest.raises(ServiceUnavailableError, match=r"^cannot reach Kafka at 127\.0\.0\.1:1 \(KAFKA_BROKER\): "):
        Endpoints("127.0.0.1:1", "http://127.0.0.1:1").check_reachable()


def test_a_port_in_use_is_refused_naming_it() -> None:
    import socket

    from a2a_fast.console.server import ConsoleServer
    from a2a_fast.errors import ConfigError
    from a2a_fast.stack import Endpoints

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        console = ConsoleServer(Endpoints("127.0.0.1:1", "http://127.0.0.1:1"), TOPICS, port=port)
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is in use"):
            console._bind()
