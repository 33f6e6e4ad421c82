"""The monitoring HTTP server of one agent: a tiny server that exposes its health, status and metrics.

The HTTP server is for people and Prometheus only; agents never talk to each other over it.
Ports default to 8001 (requester), 8002 (provider) and 8003 (executor); it binds to 127.0.0.1.

* ``GET /health``  200 ``{"status": "ok", ...}`` when the process runs and the broker answers, else 503.
* ``GET /status``  the agent's role, id, counts of tasks by state, messages in flight and consumer lag.
* ``GET /metrics`` Prometheus text format: messages by topic and type, errors, dead-lettered records,
  handling-latency histograms per message type and negotiation rounds.

With ``A2A_FAST_HTTP_TOKEN`` set, ``/status`` and ``/metrics`` answer only requests that carry it
(``Authorization: Bearer <token>``; 401 otherwise), while ``/health`` stays open for probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

__all__ = ["DEFAULT_PORTS", "HTTP_TOKEN_ENV", "MonitoringServer", "Route", "http_token", "json_response"]

DEFAULT_PORTS = {"requester": 8001, "provider": 8002, "executor": 8003, "coordinator": 8004}
HTTP_TOKEN_ENV = "A2A_FAST_HTTP_TOKEN"


def http_token() -> str | None:
    """The bearer token the monitoring servers require, ``$A2A_FAST_HTTP_TOKEN``; None when unset."""
    from a2a_fast.redaction import remember

    token = os.environ.get(HTTP_TOKEN_ENV) or None
    remember(token)
    return token


Route = Callable[[], Awaitable[tuple[int, str, str]]]


class MonitoringServer:
    """A minimal HTTP/1.1 server on asyncio answering ``GET`` on a fixed set of paths.

    ``routes`` maps a path to a coroutine function returning ``(status, content type, body)``.
    One request per connection; anything but ``GET`` of a known path gets 405 or 404. With a ``token``, every
    path but ``open_paths`` needs ``Authorization: Bearer <token>`` (401 without it).
    """

    def __init__(
        self,
        routes: Mapping[str, Route],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        open_paths: Iterable[str] = (),
    ) -> None:
        self.routes = dict(routes)
        self.host = host
        self.port = port
        self._token = f"Bearer {token}".encode() if token else None
        self._open = frozenset(open_paths)
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Starts listening; returns the bound port (useful with ``port=0``)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, content_type, body = await self._respond(reader)
            payload = body.encode()
            reason = _REASONS.get(status, "Error")
            challenge = 'WWW-Authenticate: Bearer realm="a2a-fast"\r\n' if status == 401 else ""
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{challenge}"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, str, str]:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5.0)
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(request_line) < 2:
            return 400, "text/plain", "bad request\n"
        method, target = request_line[0], request_line[1].split("?", 1)[0]
        route = self.routes.get(target)
        if route is None:
            return 404, "text/plain", f"no such path: {target}\n"
        if method != "GET":
            return 405, "text/plain", "only GET is served\n"
        if self._token is not None and target not in self._open and not self._authorized(head):
            return 401, "text/plain", f"{target} needs the bearer token ({HTTP_TOKEN_ENV})\n"
        return await route()

    def _authorized(self, head: bytes) -> bool:
        assert self._token is not None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"authorization":
                return hmac.compare_digest(value.strip(), self._token)
        return False


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


def json_response(payload: Any, status: int = 200) -> tuple[int, str, str]:
    return status, "application/json", json.dumps(payload, sort_keys=True) + "\n"
