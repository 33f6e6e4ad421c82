"""The monitoring server: GET on known paths only."""

from __future__ import annotations

import asyncio
import json

import pytest
import uvloop

from a2a_fast.agents.base import AgentConfig
from a2a_fast.observability.http import MonitoringServer, json_response


def test_monitoring_server_answers_get_only_on_known_paths() -> None:
    async def status() -> tuple[int, str, str]:
        return json_response({"role": "test"})

    async def fetch(port: int, request: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        reply = await reader.read()
        writer.close()
        await writer.wait_closed()
        return reply

    async def scenario() -> list[bytes]:
        server = MonitoringServer({"/status": status})
        port = await server.start()
        try:
            return [
                await fetch(port, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n"),
                await fetch(port, b"GET /nope HTTP/1.1\r\n\r\n"),
                await fetch(port, b"POST /status HTTP/1.1\r\n\r\n"),
            ]
        finally:
            await server.close()

    ok, missing, post = uvloop.run(scenario())
    assert ok.startswith(b"HTTP/1.1 200 OK") and json.loads(ok.split(b"\r\n\r\n", 1)[1]) == {"role": "test"}
    assert missing.startswith(b"HTTP/1.1 404") and post.startswith(b"HTTP/1.1 405")


async def ask(port: int, path: str, authorization: str | None = None) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = f"Authorization: {authorization}\r\n" if authorization else ""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    await writer.drain()
    response = (await reader.read()).decode()
    writer.close()
    status = int(response.split(" ", 2)[1])
    return status, response


def test_status_and_metrics_need_the_token_and_health_does_not() -> None:
    async def route() -> tuple[int, str, str]:
        return json_response({"ok": True})

    async def scenario() -> None:
        server = MonitoringServer(
            {"/health": route, "/status": route, "/metrics": route}, token="s3cret-token", open_paths=("/health",)
        )
        port = await server.start()
        try:
            assert (await ask(port, "/health"))[0] == 200
            status, response = await ask(port, "/status")
            assert status == 401 and 'WWW-Authenticate: Bearer realm="a2a-fast"' in response
            assert "s3cret-token" not in response
            assert (await ask(port, "/metrics", "Bearer wrong"))[0] == 401
            assert (await ask(port, "/metrics", "Basic s3cret-token"))[0] == 401
            assert (await ask(port, "/metrics", "Bearer s3cret-token"))[0] == 200
            assert (await ask(port, "/status", "Bearer s3cret-token"))[0] == 200
        finally:
            await server.close()

    asyncio.run(scenario())


def test_the_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A2A_FAST_HTTP_TOKEN", "from-the-env-123")
    assert AgentConfig("a", "k", "r").http_token == "from-the-env-123"
    monkeypatch.delenv("A2A_FAST_HTTP_TOKEN")
    assert AgentConfig("a", "k", "r").http_token is None
    assert "from-the-env-123" not in repr(AgentConfig("a", "k", "r", http_token="from-the-env-123"))
